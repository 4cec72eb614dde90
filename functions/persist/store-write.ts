// The write side: one batch of records in one transaction — the append-only event rows (deduplicated on
// (source, id)), the projections, and the outbox rows for the Kafka archive. Set-based: a handful of
// multi-row statements per batch whatever its size, so a group commit costs little more than one event.
// A duplicate touches nothing but its own INSERT attempt, so redelivery never double-counts.
import type { Queryable } from '../../shared/db.js'
import type { EventRecord } from './record.js'

export interface WriteOptions {
  /** Write an outbox row per new event (the Kafka archive is configured). */
  readonly outbox: boolean
}

const HOUR = 3_600_000

/**
 * Column-wise parameters: one array per column, for `unnest($1::text[], $2::…[])`. The statement text is
 * then fixed whatever the batch size, so each one is a named prepared statement (shared/db.ts): PostgreSQL
 * parses and plans it once per connection instead of once per batch.
 */
function columns(rows: readonly (readonly unknown[])[], width: number): unknown[][] {
  const cols = Array.from({ length: width }, () => new Array<unknown>(rows.length))
  rows.forEach((row, r) => {
    for (let c = 0; c < width; c++) (cols[c] as unknown[])[r] = row[c]
  })
  return cols
}

const CLASSIFIED = 'dev.kubereflex.event.classified'

// The events and, in the same statement, the pod_events_view rows of the new classified ones (RETURNING
// hands the inserted rows, duplicates excluded, to the second INSERT): one round trip for both. The
// classified rows always have kind, name, reason, message and a severity (record.ts checks them).
const INSERT_EVENTS = `WITH ins AS (
  INSERT INTO persist_events (source, id, type, subject, time, occurred_at, severity, category, action, reason,
    namespace, kind, name, message, fingerprint, event)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::jsonb[])
  ON CONFLICT (source, id) DO NOTHING
  RETURNING seq, source, id, type, severity, namespace, kind, name, reason, message, occurred_at
), view AS (
  INSERT INTO pod_events_view (event_seq, id, namespace, kind, pod, reason, message, event_time, status)
  SELECT seq, id, namespace, coalesce(kind, ''), coalesce(name, ''), coalesce(reason, ''), coalesce(message, ''), occurred_at,
    CASE severity WHEN 'critical' THEN 'CRITICAL' WHEN 'warning' THEN 'WARNING' ELSE 'NORMAL' END
  FROM ins WHERE type = '${CLASSIFIED}' AND severity IS NOT NULL
)
SELECT seq, source, id FROM ins`

const INSERT_OUTBOX = 'INSERT INTO persist_outbox (event_seq, key, event) SELECT * FROM unnest($1::bigint[], $2::text[], $3::jsonb[])'

const UPSERT_COUNTS = `INSERT INTO persist_event_counts (bucket, namespace, category, severity, count)
  SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::int[])
  ON CONFLICT (bucket, namespace, category, severity) DO UPDATE SET count = persist_event_counts.count + EXCLUDED.count`

// The newest occurrence decides the current state; LEAST/GREATEST skip NULLs (a row first made by an
// alert or recovery reply that overtook its classified event).
const NEWER = 'p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen'
const UPSERT_PROBLEMS = `INSERT INTO persist_problems AS p (fingerprint, namespace, kind, name, subject, category, severity, reason, message,
    first_seen, last_seen, occurrences)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::timestamptz[], $11::timestamptz[], $12::int[])
  ON CONFLICT (fingerprint) DO UPDATE SET
    occurrences = p.occurrences + EXCLUDED.occurrences,
    first_seen = LEAST(p.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen),
    namespace = CASE WHEN ${NEWER} THEN EXCLUDED.namespace ELSE p.namespace END,
    kind = CASE WHEN ${NEWER} THEN EXCLUDED.kind ELSE p.kind END,
    name = CASE WHEN ${NEWER} THEN EXCLUDED.name ELSE p.name END,
    subject = COALESCE(p.subject, EXCLUDED.subject),
    category = CASE WHEN ${NEWER} THEN EXCLUDED.category ELSE p.category END,
    severity = CASE WHEN ${NEWER} THEN EXCLUDED.severity ELSE p.severity END,
    reason = CASE WHEN ${NEWER} THEN EXCLUDED.reason ELSE p.reason END,
    message = CASE WHEN ${NEWER} THEN EXCLUDED.message ELSE p.message END`

const UPSERT_ALERTS = `INSERT INTO persist_problems AS p (fingerprint, subject, last_alert_outcome, last_alert_at, alerts_sent)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[])
  ON CONFLICT (fingerprint) DO UPDATE SET
    subject = COALESCE(p.subject, EXCLUDED.subject),
    alerts_sent = p.alerts_sent + EXCLUDED.alerts_sent,
    last_alert_outcome = CASE WHEN p.last_alert_at IS NULL OR EXCLUDED.last_alert_at >= p.last_alert_at THEN EXCLUDED.last_alert_outcome ELSE p.last_alert_outcome END,
    last_alert_at = GREATEST(p.last_alert_at, EXCLUDED.last_alert_at)`

const UPSERT_RECOVERIES = `INSERT INTO persist_problems AS p (fingerprint, subject, last_recovery_outcome, last_recovery_action, last_recovery_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
  ON CONFLICT (fingerprint) DO UPDATE SET
    subject = COALESCE(p.subject, EXCLUDED.subject),
    last_recovery_outcome = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_outcome ELSE p.last_recovery_outcome END,
    last_recovery_action = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_action ELSE p.last_recovery_action END,
    last_recovery_at = GREATEST(p.last_recovery_at, EXCLUDED.last_recovery_at)`

const keyOf = (r: EventRecord): string => `${r.source}\u0000${r.id}`

/** Records grouped by a key, each group in batch order. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  // One key computation and an in-place push per item: a group commit of N events of one problem (a crash
  // loop) would otherwise copy the group N times.
  const out = new Map<string, T[]>()
  for (const it of items) {
    const k = key(it)
    const list = out.get(k)
    if (list === undefined) out.set(k, [it])
    else list.push(it)
  }
  return out
}

/** The newest record of a group by occurredAt (later in the batch wins a tie), as the single-row upserts did. */
function newest(list: readonly EventRecord[]): EventRecord {
  return list.reduce((a, b) => (b.occurredAt >= a.occurredAt ? b : a))
}

/** Appends the records; returns for each whether it was new (false: already stored, a duplicate). */
export async function writeRecords(tx: Queryable, records: readonly EventRecord[], options: WriteOptions): Promise<boolean[]> {
  const inserted = new Array<boolean>(records.length).fill(false)
  if (records.length === 0) return inserted
  // A stable order of row locks across concurrent writers (replicas) keeps deadlocks away.
  const order = records.map((r, i) => ({ r, i })).sort((a, b) => compare(a.r, b.r))
  const rows = order.map(({ r }) => [r.source, r.id, r.type, r.subject, r.time, r.occurredAt, r.severity, r.category, r.action, r.reason, r.namespace, r.kind, r.name, r.message, r.fingerprint, r.json])
  const result = await tx.query<{ seq: string | number; source: string; id: string }>(INSERT_EVENTS, columns(rows, 16), 'persist_insert_events')
  const seqs = new Map(result.rows.map((row) => [`${row.source}\u0000${row.id}`, row.seq]))
  // The same event twice in one batch: the first one in batch order is the one stored.
  const fresh: { r: EventRecord; seq: string | number }[] = []
  for (const { r, i } of order) {
    const seq = seqs.get(keyOf(r))
    if (seq === undefined) continue
    seqs.delete(keyOf(r))
    inserted[i] = true
    fresh.push({ r, seq })
  }
  if (fresh.length === 0) return inserted
  await project(tx, fresh)
  if (options.outbox) {
    const outboxRows = [...fresh].sort((a, b) => Number(a.seq) - Number(b.seq)).map(({ r, seq }) => [seq, r.fingerprint ?? r.subject ?? r.source, r.json])
    await tx.query(INSERT_OUTBOX, columns(outboxRows, 3), 'persist_insert_outbox')
  }
  return inserted
}

function compare(a: EventRecord, b: EventRecord): number {
  const fa = a.fingerprint ?? ''
  const fb = b.fingerprint ?? ''
  if (fa !== fb) return fa < fb ? -1 : 1
  const ka = keyOf(a)
  const kb = keyOf(b)
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

async function project(tx: Queryable, fresh: readonly { r: EventRecord; seq: string | number }[]): Promise<void> {
  const classified = fresh.filter(({ r }) => r.recordKind === 'classified' && r.severity !== null)
  if (classified.length > 0) {
    // The pod_events_view rows were written with the events (INSERT_EVENTS).
    // Counts: aggregated here first (one upsert may not touch the same row twice), in key order.
    const counts = groupBy(
      classified.map(({ r }) => r),
      (r) => JSON.stringify([new Date(Math.floor(Date.parse(r.occurredAt) / HOUR) * HOUR).toISOString(), r.namespace ?? '', r.category ?? 'other', r.severity]),
    )
    const countRows = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, list]) => [...(JSON.parse(k) as unknown[]), list.length])
    await tx.query(UPSERT_COUNTS, columns(countRows, 5), 'persist_upsert_counts')

    // Only problems become problem rows: info occurrences (lifecycle) are history, not "what is wrong".
    const problems = groupBy(
      classified.map(({ r }) => r).filter((r) => r.severity !== 'info' && r.fingerprint !== null),
      (r) => r.fingerprint ?? '',
    )
    if (problems.size > 0) {
      const problemRows = [...problems.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([fingerprint, list]) => {
          const n = newest(list)
          const first = list.reduce((a, b) => (b.occurredAt < a.occurredAt ? b : a)).occurredAt
          return [fingerprint, n.namespace, n.kind, n.name, n.subject, n.category, n.severity, n.reason, n.message, first, n.occurredAt, list.length]
        })
      await tx.query(UPSERT_PROBLEMS, columns(problemRows, 12), 'persist_upsert_problems')
    }
  }

  const replies = (kind: 'alert' | 'recovery'): Map<string, EventRecord[]> =>
    groupBy(
      fresh.map(({ r }) => r).filter((r) => r.recordKind === kind && r.fingerprint !== null && r.outcome !== null),
      (r) => r.fingerprint ?? '',
    )
  const alerts = replies('alert')
  if (alerts.size > 0) {
    const rows = [...alerts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([fingerprint, list]) => {
        const n = newest(list)
        return [fingerprint, n.subject, n.outcome, n.occurredAt, list.filter((r) => r.outcome === 'sent').length]
      })
    await tx.query(UPSERT_ALERTS, columns(rows, 5), 'persist_upsert_alerts')
  }
  const recoveries = replies('recovery')
  if (recoveries.size > 0) {
    const rows = [...recoveries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([fingerprint, list]) => {
        const n = newest(list)
        return [fingerprint, n.subject, n.outcome, n.action, n.occurredAt]
      })
    await tx.query(UPSERT_RECOVERIES, columns(rows, 5), 'persist_upsert_recoveries')
  }
}
