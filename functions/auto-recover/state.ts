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
import { GroupCommit } from '../../shared/batch.js'
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
  /** First writer wins: returns `reply` itself when it was stored, else the decision stored before it. */
  recordDecision(source: string, id: string, reply: CloudEventV1, at: Date): Promise<CloudEventV1>
}

/** The classified event a decision answers (its `source` + `id`). */
export interface DecisionInput {
  readonly source: string
  readonly id: string
}

/** What an offline decision reads, known before it runs (RecoveryState.withTarget). */
export interface OfflineScope {
  readonly source: string
  readonly id: string
  /** The budget mode its history and global count are read in. */
  readonly mode: string
  /** Lower bounds of the `since` it passes to decisionAndHistory and globalAttempts. */
  readonly targetSince: Date
  readonly globalSince: Date
}

export interface RecoveryState {
  decision(source: string, id: string): Promise<CloudEventV1 | undefined>
  /**
   * Stores a decision taken without the target's lock; first writer wins: returns `reply` itself when it was
   * stored, else the stored one. On PostgreSQL it first waits for the input's lock, so a delivery of the
   * same event that is acting under withTarget commits before this one is compared with it.
   */
  recordDecision(source: string, id: string, reply: CloudEventV1, at: Date): Promise<CloudEventV1>
  countGlobal(mode: string, since: Date): Promise<number>
  /**
   * Runs `fn` holding the target's lock and, with `input`, the lock of that input event (every delivery of
   * one event, on any replica, decides in turn, so it gets one answer); everything it records commits
   * together. With `offline`, fn does nothing outside the database (no Kubernetes call, no metric, no log)
   * and reads only what the scope names, so on PGlite decisions arriving together are taken together
   * (offlineBatch below); the promise still settles after the commit.
   */
  withTarget<T>(target: string, fn: (state: LockedState) => Promise<T>, options?: { readonly input?: DecisionInput; readonly offline?: OfflineScope | undefined }): Promise<T>
  close(): Promise<void>
}

// 64-bit advisory lock key from the target name (md5 → first 16 hex digits → bigint): collisions between
// targets are astronomically rare and would only serialize two unrelated targets, never break anything.
const LOCK_KEY = (param: string): string => `pg_advisory_xact_lock(('x' || substr(md5(${param}), 1, 16))::bit(64)::bigint)`
const LOCK = `SELECT ${LOCK_KEY('$1')}`
// The input event's lock and the target's, in one statement. Deadlock-free: a transaction takes at most one
// input lock and one target lock, always in this statement's order, and the global lock only after them.
const LOCK_INPUT_AND_TARGET = `SELECT ${LOCK_KEY('$1')}, ${LOCK_KEY('$2')}`
const inputLockKey = (i: DecisionInput): string => `kube-reflex-recovery-input:${JSON.stringify([i.source, i.id])}`
const targetLockKey = (target: string): string => `kube-reflex-recovery:${target}`

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

/**
 * insertDecision after taking the input's lock, in one statement (its own transaction): it waits for a
 * delivery of the same event that holds the lock in withTarget, and its conflict check then sees what that
 * one committed. The lock is referenced by the INSERT's rows, so it is taken before the row is inserted.
 */
async function insertDecisionLocked(q: Queryable, source: string, id: string, reply: CloudEventV1, at: Date): Promise<boolean> {
  const r = await q.query(
    `WITH input_lock AS (SELECT ${LOCK_KEY('$5')})
     INSERT INTO recovery_decisions (event_source, event_id, reply, decided_at)
     SELECT $1::text, $2::text, $3::jsonb, $4::timestamptz FROM input_lock
     ON CONFLICT DO NOTHING RETURNING 1`,
    [source, id, JSON.stringify(reply), at.toISOString(), inputLockKey({ source, id })],
  )
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

interface OfflineItem {
  readonly target: string
  readonly scope: OfflineScope
  readonly fn: (state: LockedState) => Promise<unknown>
}

const epochMs = (v: number | string | null): number | undefined => (v === null ? undefined : Number(v))
const EPOCH_MS = (column: string): string => `(extract(epoch FROM ${column}) * 1000)::float8`

/**
 * Offline decisions arriving together on PGlite, taken in one transaction with four statements whatever
 * their number: what they can read is loaded first (their stored decisions, the attempts on their targets
 * and in the global window), each decision then runs in arrival order against that state in memory (a
 * later one sees what an earlier one recorded, as if each had held the lock in turn), and what they
 * recorded is written at the end in one statement. PGlite runs one transaction at a time, so nothing can
 * change the state underneath. A failure fails the whole batch (nothing is stored; the broker redelivers).
 */
async function offlineBatch(tx: Queryable, items: readonly OfflineItem[]): Promise<unknown[]> {
  const key2 = (a: string, b: string): string => `${a}\u0000${b}`
  const decisions = new Map<string, CloudEventV1>()
  const targets = new Map<string, { readonly target: string; readonly mode: string; floor: number; last: number | undefined; recent: number[] }>()
  const globals = new Map<string, { floor: number; recent: number[] }>()
  for (const { target, scope } of items) {
    const t = targets.get(key2(target, scope.mode))
    if (t === undefined || scope.targetSince.getTime() < t.floor) targets.set(key2(target, scope.mode), { target, mode: scope.mode, floor: scope.targetSince.getTime(), last: undefined, recent: [] })
    const g = globals.get(scope.mode)
    if (g === undefined || scope.globalSince.getTime() < g.floor) globals.set(scope.mode, { floor: scope.globalSince.getTime(), recent: [] })
  }
  const stored = await tx.query<{ event_source: string; event_id: string; reply: CloudEventV1 | string }>(
    'SELECT d.event_source, d.event_id, d.reply FROM recovery_decisions d JOIN unnest($1::text[], $2::text[]) AS u(source, id) ON d.event_source = u.source AND d.event_id = u.id',
    [items.map((i) => i.scope.source), items.map((i) => i.scope.id)],
    'recovery-stored-decisions',
  )
  for (const r of stored.rows) {
    const reply = parseReply(r.reply)
    if (reply !== undefined) decisions.set(key2(r.event_source, r.event_id), reply)
  }
  const wanted = [...targets.values()]
  const history = await tx.query<{ target: string; mode: string; last: number | string | null; recent: (number | string)[] | null }>(
    `SELECT u.target, u.mode, max(${EPOCH_MS('a.attempted_at')}) AS last,
            array_agg(${EPOCH_MS('a.attempted_at')}) FILTER (WHERE a.attempted_at > u.since) AS recent
       FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(target, mode, since)
       LEFT JOIN recovery_attempts a ON a.target = u.target AND a.mode = u.mode
      GROUP BY u.target, u.mode`,
    [wanted.map((w) => w.target), wanted.map((w) => w.mode), wanted.map((w) => new Date(w.floor).toISOString())],
    'recovery-target-history',
  )
  for (const r of history.rows) {
    const t = targets.get(key2(r.target, r.mode))
    if (t === undefined) continue
    t.last = epochMs(r.last)
    t.recent = (r.recent ?? []).map(Number)
  }
  const modes = [...globals.entries()]
  const global = await tx.query<{ mode: string; recent: (number | string)[] | null }>(
    `SELECT u.mode, array_agg(${EPOCH_MS('a.attempted_at')}) FILTER (WHERE a.attempted_at IS NOT NULL) AS recent
       FROM unnest($1::text[], $2::timestamptz[]) AS u(mode, since)
       LEFT JOIN recovery_attempts a ON a.mode = u.mode AND a.attempted_at > u.since
      GROUP BY u.mode`,
    [modes.map(([m]) => m), modes.map(([, g]) => new Date(g.floor).toISOString())],
    'recovery-global-window',
  )
  for (const r of global.rows) {
    const g = globals.get(r.mode)
    if (g !== undefined) g.recent = (r.recent ?? []).map(Number)
  }

  const attempts: Attempt[] = []
  const replies: { source: string; id: string; reply: CloudEventV1; at: Date }[] = []
  const outOfScope = (what: string): Error => new Error(`offline recovery decision read ${what} outside its scope`)
  const results: unknown[] = []
  for (const item of items) {
    results.push(
      await item.fn({
        decisionAndHistory: (source, id, target, mode, since) => {
          const t = targets.get(key2(target, mode))
          if (t === undefined || since.getTime() < t.floor) return Promise.reject(outOfScope(`the history of ${target}`))
          const after = since.getTime()
          return Promise.resolve({
            decision: decisions.get(key2(source, id)),
            history: { targetAttempts: t.recent.filter((at) => at > after).length, lastAttemptAt: t.last === undefined ? undefined : new Date(t.last) },
          })
        },
        globalAttempts: (mode, since) => {
          const g = globals.get(mode)
          if (g === undefined || since.getTime() < g.floor) return Promise.reject(outOfScope('the global window'))
          const after = since.getTime()
          return Promise.resolve(g.recent.filter((at) => at > after).length)
        },
        recordAttempt: (a) => {
          attempts.push(a)
          const at = a.at.getTime()
          const t = targets.get(key2(a.target, a.mode))
          if (t !== undefined) {
            t.recent.push(at)
            t.last = t.last === undefined ? at : Math.max(t.last, at)
          }
          globals.get(a.mode)?.recent.push(at)
          return Promise.resolve()
        },
        recordDecision: (source, id, reply, at) => {
          const k = key2(source, id)
          // First writer wins, as ON CONFLICT DO NOTHING does.
          const stored = decisions.get(k)
          if (stored !== undefined) return Promise.resolve(stored)
          decisions.set(k, reply)
          replies.push({ source, id, reply, at })
          return Promise.resolve(reply)
        },
      }),
    )
  }
  if (attempts.length > 0 || replies.length > 0) {
    await tx.query(
      `WITH attempt AS (
         INSERT INTO recovery_attempts (${ATTEMPT_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
       )
       INSERT INTO recovery_decisions (event_source, event_id, reply, decided_at)
       SELECT source, id, reply, at FROM ROWS FROM (unnest($9::text[], $10::text[], $11::timestamptz[]), jsonb_array_elements($12::jsonb)) AS u(source, id, at, reply)
       ON CONFLICT DO NOTHING`,
      [
        attempts.map((a) => a.target),
        attempts.map((a) => a.fingerprint),
        attempts.map((a) => a.action),
        attempts.map((a) => a.mode),
        attempts.map((a) => a.outcome),
        attempts.map((a) => a.at.toISOString()),
        attempts.map((a) => a.event.source),
        attempts.map((a) => a.event.id),
        replies.map((r) => r.source),
        replies.map((r) => r.id),
        replies.map((r) => r.at.toISOString()),
        JSON.stringify(replies.map((r) => r.reply)),
      ],
      'recovery-write-batch',
    )
  }
  return results
}

export async function openRecoveryState(db: Database, now: Date = new Date()): Promise<RecoveryState> {
  await prepareRecoveryState(db, now)
  return recoveryState(db)
}

/** The state over a database that is already prepared (or a lazy one that prepares itself on first use). */
export function recoveryState(db: Database): RecoveryState {
  const batcher = db.kind === 'pglite' ? new GroupCommit<OfflineItem, unknown>({ commit: (items) => db.transaction((tx) => offlineBatch(tx, items)), maxBatch: 64 }) : undefined
  // Advisory locks serialize replicas sharing a PostgreSQL database. PGlite is owned by one process and runs
  // its transactions strictly one after another (a plain query waits for an open transaction too), so there
  // the lock could never be contended and would only cost a statement.
  const locks = db.kind !== 'pglite'
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
        if (await (locks ? insertDecisionLocked : insertDecision)(db, source, id, reply, at)) return reply
        return (await findDecision(db, source, id)) ?? reply
      }),
    countGlobal: (mode, since) => guard('counting attempts', () => countAttempts(db, mode, since)),
    withTarget: <T>(target: string, fn: (state: LockedState) => Promise<T>, options: { readonly input?: DecisionInput; readonly offline?: OfflineScope | undefined } = {}): Promise<T> => {
      const { input, offline } = options
      return offline !== undefined && batcher !== undefined
        ? guard('recording offline decisions', async () => (await batcher.submit({ target, scope: offline, fn })) as T)
        : guard('holding a target lock', () => db.transaction(async (tx: Queryable) => {
        // On PGlite (one process, one connection) transactions already run one at a time: no lock to take.
        if (locks) {
          await guard('locking a target', () =>
            input === undefined ? tx.query(LOCK, [targetLockKey(target)]) : tx.query(LOCK_INPUT_AND_TARGET, [inputLockKey(input), targetLockKey(target)]),
          )
        }
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
              if (locks) await tx.query(LOCK, ['kube-reflex-recovery:global'])
              return countAttempts(tx, mode, since)
            }),
          recordAttempt: (a) => {
            attempt = a
            return Promise.resolve()
          },
          recordDecision: (source, id, reply, at) =>
            guard('recording a decision', async () => {
              let stored: boolean
              if (attempt === undefined) stored = await insertDecision(tx, source, id, reply, at)
              else {
                const a = attempt
                attempt = undefined
                // The attempt is written even when a decision exists: it was made, so it counts.
                const r = await tx.query(
                  `WITH attempt AS (INSERT INTO recovery_attempts (${ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8))
                   INSERT INTO recovery_decisions (event_source, event_id, reply, decided_at) VALUES ($9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING 1`,
                  [...attemptValues(a), source, id, JSON.stringify(reply), at.toISOString()],
                )
                stored = r.rowCount > 0
              }
              return stored ? reply : ((await findDecision(tx, source, id)) ?? reply)
            }),
        })
        await flushAttempt()
        return result
      }))
    },
    close: () => db.close(),
  }
}
