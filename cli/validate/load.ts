// Finds the files `kube-reflex validate` checks and parses every document in them, keeping the
// YAML nodes so that problems can be reported as file:line.
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { LineCounter, parseAllDocuments } from 'yaml'
import { makeLocator } from './locate.js'
import type { DocumentRole, LoadedDocument, Problem } from './types.js'

/** The bundle's manifest locations, relative to the repository root. */
export const DEFAULT_LOCATIONS = ['knative', 'triggers', 'func.yaml', 'functions'] as const

// kustomize recognises these three names (konfig.RecognizedKustomizationFileNames).
export const KUSTOMIZATION_FILE_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const

function isManifestFile(name: string, underFunctions: boolean): boolean {
  if (underFunctions) return name === 'func.yaml'
  return /\.(ya?ml|json)$/.test(name) || name === 'Kustomization'
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory()
  } catch {
    return false
  }
}

async function walk(dir: string, underFunctions: boolean, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true })
  entries.sort((a, b) => a.name.localeCompare(b.name))
  for (const entry of entries) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) await walk(full, underFunctions, out)
    else if (entry.isFile() && isManifestFile(entry.name, underFunctions)) out.push(full)
  }
}

/**
 * Expands files and directories into the list of manifest files. Under a `functions/` directory only
 * `func.yaml` counts (the rest is source code and rules, owned by the functions).
 */
export async function discoverFiles(root: string, locations: readonly string[]): Promise<string[]> {
  const files: string[] = []
  for (const location of locations) {
    const full = path.resolve(root, location)
    let info
    try {
      info = await stat(full)
    } catch {
      continue
    }
    const underFunctions = path.relative(root, full).split(path.sep)[0] === 'functions'
    if (info.isDirectory()) await walk(full, underFunctions, files)
    else files.push(full)
  }
  return [...new Set(files)]
}

export function displayPath(root: string, file: string): string {
  const rel = path.relative(root, file)
  return (rel.startsWith('..') ? file : rel).split(path.sep).join('/')
}

function initialRole(file: string, value: unknown): DocumentRole {
  const base = path.basename(file)
  if (base === 'func.yaml') return 'func'
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>
    if (record['kind'] === 'Kustomization' || record['kind'] === 'Component') return 'kustomization'
    if (file.endsWith('.json') && Array.isArray(record['panels'])) return 'dashboard'
    if ('rule_files' in record && 'tests' in record) return 'promtool-test'
  }
  return 'manifest'
}

export interface LoadResult {
  readonly documents: LoadedDocument[]
  readonly problems: Problem[]
}

/** Parses every YAML (and JSON, which is YAML) document; syntax errors become problems. */
export async function loadDocuments(root: string, files: readonly string[]): Promise<LoadResult> {
  const documents: LoadedDocument[] = []
  const problems: Problem[] = []
  for (const absPath of files) {
    const file = displayPath(root, absPath)
    const text = await readFile(absPath, 'utf8')
    const lineCounter = new LineCounter()
    const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false })
    const list = Array.isArray(docs) ? docs : []
    let index = 0
    for (const doc of list) {
      const errors = [...doc.errors, ...doc.warnings]
      if (doc.errors.length > 0) {
        for (const err of errors) {
          const { line, col } = lineCounter.linePos(err.pos[0])
          problems.push({ file, line, column: col, message: `YAML: ${err.message.split('\n')[0] ?? err.message}`, rule: 'yaml' })
        }
        continue
      }
      const value: unknown = doc.toJS({ maxAliasCount: 100 })
      // A file of comments only, or a trailing `---`, is an empty document: nothing to check.
      if (value === null || value === undefined) continue
      documents.push({
        file,
        absPath,
        index: index++,
        value,
        role: initialRole(absPath, value),
        template: /\.template\.ya?ml$/.test(absPath),
        locate: makeLocator(doc, lineCounter),
      })
    }
  }
  return { documents, problems }
}

export { isDirectory }
