// Test helpers: a writable copy of the shipped bundle that a test can break one file of.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
export const specsDir = path.resolve(repoRoot, '..', 'shared', 'specs')

export async function copyBundle(dir: string): Promise<void> {
  await cp(path.join(repoRoot, 'knative'), path.join(dir, 'knative'), { recursive: true })
  await cp(path.join(repoRoot, 'triggers'), path.join(dir, 'triggers'), { recursive: true })
  await cp(path.join(repoRoot, 'func.yaml'), path.join(dir, 'func.yaml'))
  for (const fn of ['classify', 'alert', 'auto-recover', 'persist']) {
    await mkdir(path.join(dir, 'functions', fn), { recursive: true })
    await cp(path.join(repoRoot, 'functions', fn, 'func.yaml'), path.join(dir, 'functions', fn, 'func.yaml'))
  }
}

/** Replaces `from` by `to` in one file of the copy (the text must be there), returns the new text. */
export async function edit(dir: string, file: string, from: string | RegExp, to: string): Promise<string> {
  const full = path.join(dir, file)
  const text = await readFile(full, 'utf8')
  const next = text.replace(from, to)
  if (next === text) throw new Error(`${file}: ${String(from)} not found`)
  await writeFile(full, next)
  return next
}

/** 1-based line of the first line containing `marker`. */
export function lineOf(text: string, marker: string): number {
  // A marker starting with '^' must start the line (indentation included), else it may appear anywhere.
  const index = text.split('\n').findIndex((l) => (marker.startsWith('^') ? l.startsWith(marker.slice(1)) : l.includes(marker)))
  if (index < 0) throw new Error(`marker ${marker} not found`)
  return index + 1
}
