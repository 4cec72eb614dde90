// The same suites run against both backends: the embedded PGlite and a real PostgreSQL server (DATABASE_URL,
// else started through the test-services layer). Each PostgreSQL test gets its own schema through the
// connection's search_path, so suites never see each other's rows.
import type { Test } from 'tap'
import { isolatedDatabaseUrl } from '../../helpers/pg-schema.js'
import { openDatabase, migrate, type Database } from '../../../shared/db.js'
import { silentLogger } from '../../../shared/logger.js'
import { createHost, type Host } from '../../../shared/host.js'
import { EventStore, createPersist, loadMigrations, type OutboxRelay } from '../../../functions/persist/index.js'
import { loadDashboard } from '../../../functions/persist/dashboard.js'
import type { ReflexFunction } from '../../../shared/host.js'

export type BackendName = 'pglite' | 'postgres'

export interface Backend {
  readonly name: BackendName
  /** DatabaseOptions for openDatabase: a fresh PGlite directory or a PostgreSQL URL with its own schema. */
  readonly options: { databaseUrl?: string; dataDir?: string }
}

/** Runs `fn` once per backend as subtests: PGlite, and the real PostgreSQL server in a schema of its own. */
export function eachBackend(t: Test, name: string, fn: (t: Test, backend: Backend) => Promise<void>): void {
  void t.test(`${name} [pglite]`, async (t) => {
    await fn(t, { name: 'pglite', options: { dataDir: t.testdir() } })
  })
  void t.test(`${name} [postgres]`, async (t) => {
    // DATABASE_URL when set (npm test, your own server), else started for this file by the services layer.
    await fn(t, { name: 'postgres', options: { databaseUrl: await isolatedDatabaseUrl(t) } })
  })
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
  /** The archive relay persist starts and stops (a relay over `db`: pass `db` too). */
  readonly relay?: OutboxRelay
}

/** persist over real HTTP on 127.0.0.1, closed in teardown. */
export async function startPersist(t: Test, backend: Backend, options: StartOptions = {}): Promise<Running> {
  const db = options.db ?? (await openMigrated(backend))
  const store = new EventStore(db, { groupCommitMs: options.groupCommitMs ?? 2, groupCommitMax: 200, outbox: options.outbox ?? false })
  const fn = createPersist(
    { apiToken: options.apiToken, problemOpenHours: 24, bodyLimitBytes: 1 << 20, retentionDays: 30, pruneIntervalSeconds: 3600 },
    { store, log: silentLogger, dashboard: await loadDashboard(), ...(options.now === undefined ? {} : { now: options.now }), ...(options.relay === undefined ? {} : { relay: options.relay }) },
  )
  const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log: silentLogger, mounts: [{ fn, path: '' }] })
  await host.listen()
  t.teardown(() => host.close())
  return { url: host.url, host, store, fn, db }
}
