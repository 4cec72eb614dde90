// The write side: one batch of records, atomically — the append-only event rows (deduplicated on
// (source, id)), the projections, and the outbox rows for the Kafka archive. Set-based: one statement per
// batch whatever its size (plus one upsert per reply kind when alert/recovery replies are in it), so a
// group commit costs little more than one event.
// A duplicate touches nothing but its own INSERT attempt, so redelivery never double-counts.
import type { Queryable } from '../../shared/db.js'
import type { EventRecord } from './record.js'

export interface WriteOptions {
  /** Write an outbox row per new event (the Kafka archive is configured). */
  readonly outbox: boolean
}


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

// One statement writes the events and everything a classified event projects to: the hourly counts and
// the problem rows — aggregated by PostgreSQL from the rows the INSERT really added (RETURNING leaves the
// duplicates out) — and, with the archive on, the outbox rows. (pod_events_view is a view over the events:
// migrations/002.) A single statement is atomic by itself, so a batch without alert/recovery replies
// needs no BEGIN/COMMIT: one round trip and one commit per group commit. Its text is fixed (arrays over
// unnest), so it is a named prepared statement (shared/db.ts).
//  - seq follows the batch order (ORDER BY ord), so "later in the batch wins a tie" is "higher seq wins".
//  - counts: one row per (hour, namespace, category, severity); problems: the newest occurrence of each
//    fingerprint (DISTINCT ON), with the first time and the number of occurrences over the batch; info
//    occurrences (lifecycle) are history, not "what is wrong", so they make no problem row. Both are
//    upserted in key order, which keeps concurrent writers (replicas) from deadlocking.
//  - classified rows always have kind, name, reason, message and a severity (record.ts checks them).
// The newest occurrence decides the current state; LEAST/GREATEST skip NULLs (a row first made by an
// alert or recovery reply that overtook its classified event).
const NEWER = 'p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen'
function insertEvents(outbox: boolean): string {
  return `WITH input AS (
  SELECT * FROM ROWS FROM (unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[]), jsonb_array_elements($16::jsonb))
    WITH ORDINALITY AS t(source, id, type, subject, time, occurred_at, severity, category, action, reason, namespace, kind,
      name, message, fingerprint, event, ord)
), ins AS (
  INSERT INTO persist_events (source, id, type, subject, time, occurred_at, severity, category, action, reason,
    namespace, kind, name, message, fingerprint, event)
  SELECT source, id, type, subject, time, occurred_at, severity, category, action, reason, namespace, kind, name, message,
    fingerprint, event FROM input ORDER BY ord
  ON CONFLICT (source, id) DO NOTHING
  RETURNING seq, source, id, type, subject, severity, category, namespace, kind, name, reason, message, fingerprint,
    occurred_at${outbox ? ', event' : ''}
), classified AS (
  SELECT * FROM ins WHERE type = '${CLASSIFIED}' AND severity IS NOT NULL
), counts AS (
  INSERT INTO persist_event_counts (bucket, namespace, category, severity, count)
  SELECT date_bin('1 hour', occurred_at, timestamptz '2000-01-01 00:00:00+00'), coalesce(namespace, ''),
    coalesce(category, 'other'), severity, count(*)
  FROM classified GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (bucket, namespace, category, severity) DO UPDATE SET count = persist_event_counts.count + EXCLUDED.count
), problems AS (
  INSERT INTO persist_problems AS p (fingerprint, namespace, kind, name, subject, category, severity, reason, message,
    first_seen, last_seen, occurrences)
  SELECT DISTINCT ON (fingerprint) fingerprint, namespace, kind, name, subject, category, severity, reason, message,
    min(occurred_at) OVER w, occurred_at, count(*) OVER w
  FROM classified WHERE severity <> 'info' AND fingerprint IS NOT NULL
  WINDOW w AS (PARTITION BY fingerprint)
  ORDER BY fingerprint, occurred_at DESC, seq DESC
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
    message = CASE WHEN ${NEWER} THEN EXCLUDED.message ELSE p.message END
)${
    outbox
      ? `, outbox AS (
  INSERT INTO persist_outbox (event_seq, key, event) SELECT seq, coalesce(fingerprint, subject, source), event FROM ins ORDER BY seq
)`
      : ''
  }
SELECT seq, source, id FROM ins`
}
const INSERT_EVENTS = insertEvents(false)
const INSERT_EVENTS_OUTBOX = insertEvents(true)

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

/** Whether writeRecords needs a transaction for this batch (replies upsert in statements of their own). */
export function needsTransaction(records: readonly EventRecord[]): boolean {
  return records.some((r) => r.recordKind === 'alert' || r.recordKind === 'recovery')
}

/**
 * Appends the records; returns for each whether it was new (false: already stored, a duplicate). Run it
 * in a transaction when needsTransaction(records); otherwise it is one statement, atomic by itself.
 */
export async function writeRecords(tx: Queryable, records: readonly EventRecord[], options: WriteOptions): Promise<boolean[]> {
  const inserted = new Array<boolean>(records.length).fill(false)
  if (records.length === 0) return inserted
  // A stable order of row locks across concurrent writers (replicas) keeps deadlocks away.
  const order = records.map((r, i) => ({ r, i })).sort((a, b) => compare(a.r, b.r))
  const rows = order.map(({ r }) => [r.source, r.id, r.type, r.subject, r.time, r.occurredAt, r.severity, r.category, r.action, r.reason, r.namespace, r.kind, r.name, r.message, r.fingerprint])
  // The events go as one JSON array of the records' texts, not as a jsonb[] array: an array literal would
  // escape every quote of every event again (node-postgres) and PostgreSQL would unescape them.
  const params = [...columns(rows, 15), `[${order.map(({ r }) => r.json).join(',')}]`]
  const result = options.outbox
    ? await tx.query<{ seq: string | number; source: string; id: string }>(INSERT_EVENTS_OUTBOX, params, 'persist_insert_events_outbox')
    : await tx.query<{ seq: string | number; source: string; id: string }>(INSERT_EVENTS, params, 'persist_insert_events')
  const seqs = new Map(result.rows.map((row) => [`${row.source}\u0000${row.id}`, row.seq]))
  // The same event twice in one batch: the first one in batch order is the one stored.
  const fresh: EventRecord[] = []
  for (const { r, i } of order) {
    const seq = seqs.get(keyOf(r))
    if (seq === undefined) continue
    seqs.delete(keyOf(r))
    inserted[i] = true
    fresh.push(r)
  }
  await projectReplies(tx, fresh)
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

/** The problem rows' reply columns, from the new alert and recovery replies of the batch. */
async function projectReplies(tx: Queryable, fresh: readonly EventRecord[]): Promise<void> {
  const replies = (kind: 'alert' | 'recovery'): Map<string, EventRecord[]> =>
    groupBy(
      fresh.filter((r) => r.recordKind === kind && r.fingerprint !== null && r.outcome !== null),
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
