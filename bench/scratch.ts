// The run's scratch directory: every file the harness writes for itself (the subjects' embedded databases,
// dev's data directories, replay files) goes under one directory in TMPDIR, removed when the run ends —
// also when it fails or is interrupted. A full run writes gigabytes there (persist's PGlite store alone
// grows to ≈ 600 MB under load), so nothing of it may be left behind run after run.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

let dir: string | undefined

/** The run's scratch directory, made on first use. */
export function scratchDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), 'kube-reflex-bench-'))
  return dir
}

/** A path in the scratch directory. */
export function scratchPath(name: string): string {
  return join(scratchDir(), name)
}

/** Removes something the run no longer needs (a dev run's data directory) at once, to keep the disk use down. */
export function discard(path: string): void {
  rmSync(path, { recursive: true, force: true })
}

/** Removes the scratch directory and everything in it. */
export function removeScratch(): void {
  if (dir === undefined) return
  discard(dir)
  dir = undefined
}
