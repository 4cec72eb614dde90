// The same suites run against both backends: the embedded PGlite (always) and a real PostgreSQL server
// (when DATABASE_URL is set; the lead wires the services layer into `npm test`). Each PostgreSQL test gets
// its own schema through the connection's search_path, so suites never see each other's rows.
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import type { Test } from 'tap'
import { openDatabase, migrate, type Database } from '../../../shared/db.js'
import { silentLogger } from '../../../shared/logger.js'
import { createHost, type Host } from '../../../shared/host.js'
import { EventStore, createPersist, loadMigrations } from '../../../functions/persist/index.js'
import { loadDashboard } from '../../../functions/persist/dashboard.js'
import type { ReflexFunction } from '../../../shared/host.js'

export type BackendName = 'pglite' | 'postgres'

export interface Backend {
  readonly name: BackendName
  /** DatabaseOptions for openDatabase: a fresh PGlite directory or a PostgreSQL URL with its own schema. */
  readonly options: { databaseUrl?: string; dataDir?: string }
}

/** Runs `fn` once per backend as subtests; the PostgreSQL one is skipped, with the reason, without DATABASE_URL. */
export function eachBackend(t: Test, name: string, fn: (t: Test, backend: Backend) => Promise<void>, postgresMissing?: string): void {
  void t.test(`${name} [pglite]`, async (t) => {
    await fn(t, { name: 'pglite', options: { dataDir: t.testdir() } })
  })
  const url = process.env.DATABASE_URL
  const skip =
    url === undefined || url === ''
      ? 'DATABASE_URL not set: the real-PostgreSQL variant needs the services layer (eval "$(npm run -s services -- start postgres)")'
      : postgresMissing
  void t.test(`${name} [postgres]`, { skip: skip ?? false }, async (t) => {
    if (url === undefined) return
    const schema = `t_${randomBytes(6).toString('hex')}`
    await adminQuery(url, `CREATE SCHEMA ${schema}`)
    t.teardown(() => adminQuery(url, `DROP SCHEMA ${schema} CASCADE`))
    await fn(t, { name: 'postgres', options: { databaseUrl: withSearchPath(url, schema) } })
  })
}

function withSearchPath(url: string, schema: string): string {
  const u = new URL(url)
  u.searchParams.set('options', `-c search_path=${schema}`)
  return u.toString()
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

export async function openMigrated(backend: Backend): Promise<Database> {
  const db = await openDatabase(backend.options)
  await migrate(db, 'persist', await loadMigrations())
  return db
}

export interface Running {
  readonly url: string
  readonly host: Host
  readonly store: EventStore
  readonly fn: ReflexFunction
  readonly db: Database
}

export interface StartOptions {
  readonly apiToken?: string
  readonly groupCommitMs?: number
  readonly now?: () => number
  readonly db?: Database
  readonly outbox?: boolean
}

/** persist over real HTTP on 127.0.0.1, closed in teardown. */
export async function startPersist(t: Test, backend: Backend, options: StartOptions = {}): Promise<Running> {
  const db = options.db ?? (await openMigrated(backend))
  const store = new EventStore(db, { groupCommitMs: options.groupCommitMs ?? 2, groupCommitMax: 200, outbox: options.outbox ?? false })
  const fn = createPersist(
    { apiToken: options.apiToken, problemOpenHours: 24, bodyLimitBytes: 1 << 20, retentionDays: 30, pruneIntervalSeconds: 3600 },
    { store, log: silentLogger, dashboard: await loadDashboard(), ...(options.now === undefined ? {} : { now: options.now }) },
  )
  const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log: silentLogger, mounts: [{ fn, path: '' }] })
  await host.listen()
  t.teardown(() => host.close())
  return { url: host.url, host, store, fn, db }
}
