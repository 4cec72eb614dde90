// A private schema on the shared test PostgreSQL server: suites that run in parallel against the same
// DATABASE_URL must not see (or drop) each other's tables. The returned URL sets search_path to a fresh
// schema, which is dropped in teardown.
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { serviceEnv } from '../services/env.js'

export async function isolatedDatabaseUrl(t: Test): Promise<string> {
  const base = await serviceEnv('postgres')
  const schema = `t_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: base })
    await c.connect()
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await c.end()
  })
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}
