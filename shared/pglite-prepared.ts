// Named prepared statements on PGlite. PGlite's query() sends Parse (unnamed), Describe, Bind, Describe,
// Execute and Sync one at a time, so PostgreSQL parses, analyzes and plans the statement again on every
// call — for persist's set-based insert (one statement writing events, projections and counts) that was
// ≈ 2 ms of WebAssembly per group commit whatever its size. A statement given a name (Queryable.query's
// `name`, the same contract as on PostgreSQL: one fixed text per name) is parsed once per database and
// then runs as one Bind + Describe + Execute + Sync message, PostgreSQL's plan cache deciding between a
// custom and a generic plan as it does for any prepared statement.
// Uses PGlite's public protocol API: `execProtocol` (which does not take PGlite's locks, so every caller
// holds them: runExclusive inside a transaction, the transaction lock outside one), `protocol.serialize`,
// `parse.parseResults` and the instance's type serializers and parsers — what query() itself uses.
import type { PGlite } from '@electric-sql/pglite'
import type { QueryResult } from './db.js'

type PgliteModule = typeof import('@electric-sql/pglite')

interface Prepared {
  readonly name: string
  readonly sql: string
  /** Parameter type OIDs from Describe (statement), to pick PGlite's serializer for each value as query() does. */
  readonly types: readonly number[]
}

// SQLSTATEs after which a prepared statement must be parsed again: it is gone (26000), or a schema change
// altered its result type (0A000, "cached plan must not change result type").
const STALE = new Set(['26000', '0A000'])

export interface PreparedStatements {
  /**
   * Runs the statement named `name` with `params`; the caller holds PGlite's locks (see the header).
   * `inTransaction`: inside BEGIN … COMMIT (the file system is synced at COMMIT, as query() does).
   */
  run<T>(name: string, sql: string, params: readonly unknown[], inTransaction: boolean): Promise<QueryResult<T>>
}

export function preparedStatements(db: PGlite, pglite: Pick<PgliteModule, 'protocol' | 'parse'>): PreparedStatements {
  const { serialize } = pglite.protocol
  const statements = new Map<string, Prepared>()
  let counter = 0

  async function prepare(name: string, sql: string, syncToFs: boolean): Promise<Prepared> {
    // A name of our own per preparation: the caller's name only finds it, and a statement prepared again
    // after it went stale gets a new one (the stale one is never closed: it cannot clash).
    const pgName = `kr_${++counter}_${name}`
    const message = concat([serialize.parse({ name: pgName, text: sql }), serialize.describe({ type: 'S', name: pgName }), serialize.sync()])
    const described = await db.execProtocol(message, { syncToFs })
    const prepared = { name: pgName, sql, types: pglite.parse.parseDescribeStatementResults(described.messages) }
    statements.set(name, prepared)
    return prepared
  }

  async function execute<T>(p: Prepared, params: readonly unknown[], syncToFs: boolean): Promise<QueryResult<T>> {
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null
      const serializer = db.serializers[p.types[i] ?? -1]
      if (serializer !== undefined) return serializer(value)
      // A type PGlite has no serializer for (query() calls toString(), which says nothing for an object).
      if (typeof value === 'string') return value
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value.toString()
      return JSON.stringify(value)
    })
    const message = concat([serialize.bind({ statement: p.name, values }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()])
    const result = await db.execProtocol(message, { syncToFs })
    const [first] = pglite.parse.parseResults(result.messages, db.parsers)
    const rows = (first?.rows ?? []) as T[]
    return { rows, rowCount: first?.affectedRows ?? rows.length }
  }

  return {
    async run<T>(name: string, sql: string, params: readonly unknown[], inTransaction: boolean): Promise<QueryResult<T>> {
      const syncToFs = !inTransaction
      let p = statements.get(name)
      if (p !== undefined && p.sql !== sql) throw new Error(`prepared statement ${name} is used with two different texts`)
      p ??= await prepare(name, sql, syncToFs)
      try {
        return await execute<T>(p, params, syncToFs)
      } catch (err) {
        const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined
        if (typeof code !== 'string' || !STALE.has(code)) throw err
        statements.delete(name)
        // Inside a transaction the error has aborted it: the caller's rollback and retry take over.
        if (inTransaction) throw err
        return execute<T>(await prepare(name, sql, syncToFs), params, syncToFs)
      }
    },
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
