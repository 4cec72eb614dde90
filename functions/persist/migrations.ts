// persist's SQL migrations, read from ./migrations/NNN_name.sql beside this module (copied into dist by
// scripts/copy-assets.mjs), applied by shared/db.ts's migrate() under its advisory lock.
import { readdir, readFile } from 'node:fs/promises'
import type { Migration } from '../../shared/db.js'

const FILE = /^(\d{3})_([a-z0-9_]+)\.sql$/

export async function loadMigrations(dir: URL = new URL('./migrations/', import.meta.url)): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => FILE.test(f)).sort()
  return Promise.all(
    files.map(async (file) => {
      const m = FILE.exec(file)
      return { version: Number(m?.[1]), name: m?.[2] ?? file, sql: await readFile(new URL(file, dir), 'utf8') }
    }),
  )
}
