// The database behind persist, and behind alert's and auto-recover's durable state: PostgreSQL through
// `pg` when DATABASE_URL is set, else an embedded PGlite database on disk (KUBE_REFLEX_DATA_DIR).
// Both speak the same SQL; drivers are imported on first use.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { ReflexError } from './errors.js'
import { preparedStatements } from './pglite-prepared.js'

export interface QueryResult<T> {
  readonly rows: T[]
  readonly rowCount: number
}

export interface Queryable {
  /**
   * Runs one statement. `name` (PostgreSQL only) makes it a named prepared statement of the connection:
   * parsed and planned once per connection instead of on every call — for hot statements whose text is
   * fixed (the same `name` must always go with the same `sql`). On PGlite too: once per database.
   */
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[], name?: string): Promise<QueryResult<T>>
}

/** A connection inside a transaction; `exec` runs a script of several statements (migrations), without parameters. */
export interface Transaction extends Queryable {
  exec(sql: string): Promise<void>
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite'
  /** Runs `fn` in one transaction (BEGIN … COMMIT, ROLLBACK on throw). */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>
  close(): Promise<void>
}

export interface DatabaseOptions {
  readonly databaseUrl?: string | undefined
  readonly dataDir?: string | undefined
  /** Pool size for PostgreSQL. */
  readonly maxConnections?: number
}

// SQLSTATE classes that mean "try again later": connection exceptions, insufficient resources,
// operator intervention (shutdown), serialization failures and deadlocks.
const TRANSIENT = /^(08|53|57|40)/

/** Maps a driver error onto the status table: transient → 503 (retry); anything else → 500. Never leaks SQL. */
export function dbError(err: unknown, what: string): ReflexError {
  if (err instanceof ReflexError) return err
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined
  if (typeof code !== 'string' || TRANSIENT.test(code) || /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND/.test(code)) {
    return new ReflexError('DOWNSTREAM_UNAVAILABLE', `database unavailable while ${what}`, { cause: err, retryAfterSeconds: 2 })
  }
  return new ReflexError('DATABASE_ERROR', `database error while ${what}`, { cause: err, status: 500 })
}

async function openPostgres(url: string, max: number): Promise<Database> {
  const pg = (await import('pg')).default
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 })
  // A client losing its connection (server restart) must not crash the process: the pool reports idle
  // clients on 'error', but a client checked out for a transaction emits on itself, and an 'error' event
  // without a listener is thrown. The failed query still rejects, and maps to 503 through dbError().
  pool.on('error', () => undefined)
  pool.on('connect', (client) => {
    client.on('error', () => undefined)
  })
  const query = async <T>(sql: string, params?: readonly unknown[], name?: string): Promise<QueryResult<T>> => {
    const r = name === undefined ? await pool.query(sql, params as unknown[] | undefined) : await pool.query({ name, text: sql, values: [...(params ?? [])] })
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 }
  }
  return {
    kind: 'postgres',
    query,
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await fn({
          async query<T>(sql: string, params?: readonly unknown[], name?: string) {
            const r = name === undefined ? await client.query(sql, params as unknown[] | undefined) : await client.query({ name, text: sql, values: [...(params ?? [])] })
            return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 }
          },
          // Without parameters node-postgres uses the simple query protocol, which accepts several statements.
          async exec(sql: string) {
            await client.query(sql)
          },
        })
        await client.query('COMMIT')
        client.release()
        return result
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        client.release(err instanceof Error ? err : undefined)
        throw err
      }
    },
    close: () => pool.end(),
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  const pglite = await import('@electric-sql/pglite')
  mkdirSync(dataDir, { recursive: true })
  const db = await pglite.PGlite.create(dataDir)
  // Named statements are prepared once (shared/pglite-prepared.ts); PGlite's own locks are taken as its
  // query() takes them: the transaction lock for a statement of its own, the query lock inside one.
  const prepared = preparedStatements(db, pglite)
  return {
    kind: 'pglite',
    async query<T>(sql: string, params?: readonly unknown[], name?: string) {
      if (name !== undefined) return db._runExclusiveTransaction(() => db._runExclusiveQuery(() => prepared.run<T>(name, sql, params ?? [], false)))
      const r = await db.query<T>(sql, params as unknown[] | undefined)
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length }
    },
    transaction: (fn) =>
      db.transaction(async (tx) =>
        fn({
          async query<T>(sql: string, params?: readonly unknown[], name?: string) {
            if (name !== undefined) return db._runExclusiveQuery(() => prepared.run<T>(name, sql, params ?? [], true))
            const r = await tx.query<T>(sql, params as unknown[] | undefined)
            return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length }
          },
          // PGlite's query() is the extended protocol (one statement); exec() takes a script.
          async exec(sql: string) {
            await tx.exec(sql)
          },
        }),
      ),
    close: () => db.close(),
  }
}

// One PGlite instance per data directory per process: PGlite holds the directory exclusively, and
// `kube-reflex dev` runs all four functions in one process over the same store.
const shared = new Map<string, { db: Promise<Database>; refs: number }>()

/**
 * Opens the database. Each caller gets a handle whose close() releases only its own reference, so
 * functions sharing a process (and a PGlite directory or a PostgreSQL URL) can close independently.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const key = options.databaseUrl !== undefined ? `pg:${options.databaseUrl}` : `pglite:${resolve(options.dataDir ?? '.kube-reflex', 'db')}`
  let entry = shared.get(key)
  if (entry === undefined) {
    const db = options.databaseUrl !== undefined ? openPostgres(options.databaseUrl, options.maxConnections ?? 10) : openPglite(key.slice('pglite:'.length))
    entry = { db, refs: 0 }
    shared.set(key, entry)
    db.catch(() => shared.delete(key))
  }
  entry.refs++
  const db = await entry.db
  const held = entry
  let closed = false
  return {
    kind: db.kind,
    query: (sql, params, name) => db.query(sql, params, name),
    transaction: (fn) => db.transaction(fn),
    async close() {
      if (closed) return
      closed = true
      held.refs--
      if (held.refs === 0) {
        shared.delete(key)
        await db.close()
      }
    },
  }
}

/** A database handle that opens (and prepares) itself on first use; see lazyDatabase(). */
export interface LazyDatabase extends Database {
  /** Starts opening now, in the background; a failure is left for the next use, which tries again. */
  warm(): void
}

/**
 * A handle that opens the database on first use (or on warm()) and runs `prepare` (migrations, under
 * their advisory lock) once before any other statement. Start-up then costs nothing but the handle: the
 * driver is imported, the pool connected and the schema migrated while the host starts listening, and
 * only the configured driver is ever loaded. When opening fails (database down) every caller of that
 * attempt gets the error — which dbError() maps to 503 — and the next use tries again, so a replica
 * that started before its database recovers by itself instead of crash-looping.
 */
export function lazyDatabase(options: DatabaseOptions, prepare: (db: Database) => Promise<void> = () => Promise.resolve()): LazyDatabase {
  let opening: Promise<Database> | undefined
  let closed = false
  const get = (): Promise<Database> => {
    if (closed) return Promise.reject(new ReflexError('DOWNSTREAM_UNAVAILABLE', 'database handle closed', { retryAfterSeconds: 2 }))
    if (opening === undefined) {
      const attempt = (async () => {
        const db = await openDatabase(options)
        try {
          await prepare(db)
        } catch (err) {
          await db.close().catch(() => undefined)
          throw err
        }
        return db
      })()
      opening = attempt
      attempt.catch(() => {
        if (opening === attempt) opening = undefined
      })
    }
    return opening
  }
  return {
    kind: options.databaseUrl !== undefined ? 'postgres' : 'pglite',
    query: async (sql, params, name) => (await get()).query(sql, params, name),
    transaction: async (fn) => (await get()).transaction(fn),
    warm() {
      get().catch(() => undefined)
    },
    async close() {
      closed = true
      const pending = opening
      opening = undefined
      const db = await pending?.catch(() => undefined)
      await db?.close()
    },
  }
}

/** Readiness: true when the database answers a trivial query. */
export async function databaseAnswers(db: Queryable): Promise<boolean> {
  try {
    await db.query('SELECT 1')
    return true
  } catch {
    return false
  }
}

export interface Migration {
  readonly version: number
  readonly name: string
  readonly sql: string
}

/**
 * Applies migrations of one component (persist, alert, …) in order, once, under an advisory lock so
 * that several replicas starting together do not race. Versions are recorded in kube_reflex_migrations.
 */
export async function migrate(db: Database, component: string, migrations: readonly Migration[]): Promise<number> {
  return db.transaction(async (tx) => {
    // Transaction-scoped advisory lock: released at COMMIT/ROLLBACK; key derived from a fixed string.
    await tx.query("SELECT pg_advisory_xact_lock(hashtext('kube-reflex-migrations'))")
    await tx.query(`CREATE TABLE IF NOT EXISTS kube_reflex_migrations (
      component text NOT NULL, version integer NOT NULL, name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))`)
    const done = await tx.query<{ version: number }>('SELECT version FROM kube_reflex_migrations WHERE component = $1', [component])
    const applied = new Set(done.rows.map((r) => Number(r.version)))
    let count = 0
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue
      await tx.exec(m.sql)
      await tx.query('INSERT INTO kube_reflex_migrations (component, version, name) VALUES ($1, $2, $3)', [component, m.version, m.name])
      count++
    }
    return count
  })
}
