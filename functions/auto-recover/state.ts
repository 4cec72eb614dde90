// Durable guardrail state in the database (shared/db.ts: PostgreSQL, or PGlite when DATABASE_URL is unset).
//
// Why the database and not annotations on the target: the budget must also count targets that vanish
// (a Deployment recreated under the same name must not get a fresh budget), the global budget spans all
// targets (no single object to annotate), and redelivered events must get the same answer (decisions keyed
// by the input's source + id). Work on one target is serialized across replicas by a transaction-scoped
// advisory lock keyed by the target: the lock lives exactly as long as the transaction, so a crashed
// replica cannot leave it held (its connection, and with it the lock, goes away).
import type { Database, Migration, Queryable } from '../../shared/db.js'
import { dbError, migrate } from '../../shared/db.js'
import { transactionBatcher } from '../../shared/batch.js'
import type { CloudEventV1 } from '../../shared/cloudevent.js'

// Applied in order, once, by shared/db.ts migrate() (under its advisory lock).
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'recovery_attempts',
    sql: `CREATE TABLE IF NOT EXISTS recovery_attempts (
      id bigserial PRIMARY KEY,
      target text NOT NULL,
      fingerprint text NOT NULL,
      action text NOT NULL,
      mode text NOT NULL,
      outcome text NOT NULL,
      attempted_at timestamptz NOT NULL,
      event_source text NOT NULL,
      event_id text NOT NULL)`,
  },
  { version: 2, name: 'recovery_attempts by target', sql: 'CREATE INDEX IF NOT EXISTS recovery_attempts_target ON recovery_attempts (target, mode, attempted_at)' },
  { version: 3, name: 'recovery_attempts by window', sql: 'CREATE INDEX IF NOT EXISTS recovery_attempts_window ON recovery_attempts (mode, attempted_at)' },
  {
    version: 4,
    name: 'recovery_decisions',
    sql: `CREATE TABLE IF NOT EXISTS recovery_decisions (
      event_source text NOT NULL,
      event_id text NOT NULL,
      reply jsonb NOT NULL,
      decided_at timestamptz NOT NULL,
      PRIMARY KEY (event_source, event_id))`,
  },
  { version: 5, name: 'recovery_decisions by age', sql: 'CREATE INDEX IF NOT EXISTS recovery_decisions_age ON recovery_decisions (decided_at)' },
]

export interface Attempt {
  readonly target: string
  readonly fingerprint: string
  readonly action: string
  /** dry-run, enforce or offline: budgets are counted per mode, so a dry-run trial does not eat the enforce budget. */
  readonly mode: string
  readonly outcome: string
  readonly at: Date
  readonly event: { readonly source: string; readonly id: string }
}

export interface TargetHistory {
  /** Attempts on this target inside the target budget window. */
  readonly targetAttempts: number
  readonly lastAttemptAt: Date | undefined
}

/** Operations available while holding a target's lock (inside its transaction). */
export interface LockedState {
  /** The stored decision for the input and the target's attempt history, in one statement (read after the lock: both see what the previous holder committed). */
  decisionAndHistory(source: string, id: string, target: string, mode: string, since: Date): Promise<{ readonly decision: CloudEventV1 | undefined; readonly history: TargetHistory }>
  /** Takes the global lock (held to the end of the transaction) and counts attempts in the window. */
  globalAttempts(mode: string, since: Date): Promise<number>
  /** Kept until the next recordDecision (or the end of `fn`) and written with it in one statement. */
  recordAttempt(attempt: Attempt): Promise<void>
  recordDecision(source: string, id: string, reply: CloudEventV1, at: Date): Promise<void>
}

export interface RecoveryState {
  decision(source: string, id: string): Promise<CloudEventV1 | undefined>
  /** Stores a decision taken without the lock (gates that need no history); first writer wins: returns `reply` itself when it was stored, else the stored one. */
  recordDecision(source: string, id: string, reply: CloudEventV1, at: Date): Promise<CloudEventV1>
  countGlobal(mode: string, since: Date): Promise<number>
  /**
   * Runs `fn` holding the target's lock; everything it records commits together. `contained`: fn does
   * nothing outside the database (no Kubernetes call), so on PGlite it may share a transaction with other
   * targets' work (shared/batch.ts); the promise still settles after the commit.
   */
  withTarget<T>(target: string, fn: (state: LockedState) => Promise<T>, contained?: boolean): Promise<T>
  close(): Promise<void>
}

// 64-bit advisory lock key from the target name (md5 → first 16 hex digits → bigint): collisions between
// targets are astronomically rare and would only serialize two unrelated targets, never break anything.
const LOCK = "SELECT pg_advisory_xact_lock(('x' || substr(md5($1), 1, 16))::bit(64)::bigint)"

async function findDecision(q: Queryable, source: string, id: string): Promise<CloudEventV1 | undefined> {
  const r = await q.query<{ reply: CloudEventV1 | string }>('SELECT reply FROM recovery_decisions WHERE event_source = $1 AND event_id = $2', [source, id])
  return parseReply(r.rows[0]?.reply)
}

/** True when this call stored the decision (no decision for the input existed). */
async function insertDecision(q: Queryable, source: string, id: string, reply: CloudEventV1, at: Date): Promise<boolean> {
  const r = await q.query('INSERT INTO recovery_decisions (event_source, event_id, reply, decided_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1', [
    source,
    id,
    JSON.stringify(reply),
    at.toISOString(),
  ])
  return r.rowCount > 0
}

const ATTEMPT_COLUMNS = 'target, fingerprint, action, mode, outcome, attempted_at, event_source, event_id'
const attemptValues = (a: Attempt): unknown[] => [a.target, a.fingerprint, a.action, a.mode, a.outcome, a.at.toISOString(), a.event.source, a.event.id]

const parseReply = (reply: CloudEventV1 | string | null | undefined): CloudEventV1 | undefined =>
  reply === null || reply === undefined ? undefined : typeof reply === 'string' ? (JSON.parse(reply) as CloudEventV1) : reply

interface HistoryRow {
  n: string | number
  last: Date | string | null
}

const historyOf = (row: HistoryRow | undefined): TargetHistory => ({
  targetAttempts: Number(row?.n ?? 0),
  lastAttemptAt: row?.last === null || row?.last === undefined ? undefined : new Date(row.last),
})

async function countAttempts(q: Queryable, mode: string, since: Date): Promise<number> {
  const r = await q.query<{ n: string | number }>('SELECT count(*) AS n FROM recovery_attempts WHERE mode = $1 AND attempted_at > $2', [mode, since.toISOString()])
  return Number(r.rows[0]?.n ?? 0)
}

/** Longer than any budget window the policy schema allows (7 days), so pruning never changes a decision. */
export const RETENTION_MS = 8 * 24 * 3600 * 1000

/** Migrates auto-recover's tables and prunes what no budget window can count any more. */
export async function prepareRecoveryState(db: Database, now: Date = new Date()): Promise<void> {
  try {
    await migrate(db, 'recovery', MIGRATIONS)
    // Bounded tables: at start-up (every scale-from-zero and restart) forget what no window can count.
    const horizon = new Date(now.getTime() - RETENTION_MS).toISOString()
    await db.query('DELETE FROM recovery_attempts WHERE attempted_at < $1', [horizon])
    await db.query('DELETE FROM recovery_decisions WHERE decided_at < $1', [horizon])
  } catch (err) {
    throw dbError(err, 'preparing auto-recover tables')
  }
}

export async function openRecoveryState(db: Database, now: Date = new Date()): Promise<RecoveryState> {
  await prepareRecoveryState(db, now)
  return recoveryState(db)
}

/** The state over a database that is already prepared (or a lazy one that prepares itself on first use). */
export function recoveryState(db: Database): RecoveryState {
  const batcher = db.kind === 'pglite' ? transactionBatcher(db) : undefined
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      throw dbError(err, what)
    }
  }
  return {
    decision: (source, id) => guard('reading a decision', () => findDecision(db, source, id)),
    recordDecision: (source, id, reply, at) =>
      guard('recording a decision', async () => {
        if (await insertDecision(db, source, id, reply, at)) return reply
        return (await findDecision(db, source, id)) ?? reply
      }),
    countGlobal: (mode, since) => guard('counting attempts', () => countAttempts(db, mode, since)),
    withTarget: (target, fn, contained = false) =>
      guard('holding a target lock', () => (contained && batcher !== undefined ? batcher.run.bind(batcher) : db.transaction.bind(db))(async (tx: Queryable) => {
        await guard('locking a target', () => tx.query(LOCK, [`kube-reflex-recovery:${target}`]))
        // An attempt is written together with the decision that follows it (one statement instead of two).
        let attempt: Attempt | undefined
        const flushAttempt = async (): Promise<void> => {
          if (attempt === undefined) return
          const a = attempt
          attempt = undefined
          await guard('recording an attempt', () => tx.query(`INSERT INTO recovery_attempts (${ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, attemptValues(a)))
        }
        const result = await fn({
          decisionAndHistory: (source, id, t, mode, since) =>
            guard('reading a decision and target history', async () => {
              const r = await tx.query<HistoryRow & { reply: CloudEventV1 | string | null }>(
                `SELECT (SELECT reply FROM recovery_decisions WHERE event_source = $4 AND event_id = $5) AS reply,
                   count(*) FILTER (WHERE attempted_at > $3) AS n, max(attempted_at) AS last FROM recovery_attempts WHERE target = $1 AND mode = $2`,
                [t, mode, since.toISOString(), source, id],
              )
              const row = r.rows[0]
              return { decision: parseReply(row?.reply), history: historyOf(row) }
            }),
          globalAttempts: (mode, since) =>
            guard('counting attempts', async () => {
              await tx.query(LOCK, ['kube-reflex-recovery:global'])
              return countAttempts(tx, mode, since)
            }),
          recordAttempt: (a) => {
            attempt = a
            return Promise.resolve()
          },
          recordDecision: (source, id, reply, at) =>
            guard('recording a decision', async () => {
              if (attempt === undefined) {
                await insertDecision(tx, source, id, reply, at)
                return
              }
              const a = attempt
              attempt = undefined
              await tx.query(
                `WITH attempt AS (INSERT INTO recovery_attempts (${ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8))
                 INSERT INTO recovery_decisions (event_source, event_id, reply, decided_at) VALUES ($9, $10, $11, $12) ON CONFLICT DO NOTHING`,
                [...attemptValues(a), source, id, JSON.stringify(reply), at.toISOString()],
              )
            }),
        })
        await flushAttempt()
        return result
      })),
    close: () => db.close(),
  }
}
