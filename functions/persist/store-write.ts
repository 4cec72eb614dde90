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

const POD_STATUS = { critical: 'CRITICAL', warning: 'WARNING', info: 'NORMAL' } as const
const HOUR = 3_600_000

/** `($1, $2), ($3, $4)…` for multi-row VALUES, with optional casts per column. */
function values(rows: readonly (readonly unknown[])[], params: unknown[], casts: readonly string[] = []): string {
  return rows
    .map((row) => `(${row.map((v, i) => `$${params.push(v)}${casts[i] ?? ''}`).join(', ')})`)
    .join(', ')
}

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
  const params: unknown[] = []
  const rows = order.map(({ r }) => [r.source, r.id, r.type, r.subject, r.time, r.occurredAt, r.severity, r.category, r.action, r.reason, r.namespace, r.kind, r.name, r.message, r.fingerprint, JSON.stringify(r.event)])
  const result = await tx.query<{ seq: string | number; source: string; id: string }>(
    `INSERT INTO persist_events (source, id, type, subject, time, occurred_at, severity, category, action, reason,
       namespace, kind, name, message, fingerprint, event)
     VALUES ${values(rows, params, [...Array<string>(15).fill(''), '::jsonb'])}
     ON CONFLICT (source, id) DO NOTHING RETURNING seq, source, id`,
    params,
  )
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
    const p: unknown[] = []
    const outboxRows = [...fresh].sort((a, b) => Number(a.seq) - Number(b.seq)).map(({ r, seq }) => [seq, r.fingerprint ?? r.subject ?? r.source, JSON.stringify(r.event)])
    await tx.query(`INSERT INTO persist_outbox (event_seq, key, event) VALUES ${values(outboxRows, p, ['', '', '::jsonb'])}`, p)
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
    const p: unknown[] = []
    const podRows = classified.map(({ r, seq }) => [seq, r.id, r.namespace, r.kind ?? '', r.name ?? '', r.reason ?? '', r.message ?? '', r.occurredAt, POD_STATUS[r.severity ?? 'info']])
    await tx.query(`INSERT INTO pod_events_view (event_seq, id, namespace, kind, pod, reason, message, event_time, status) VALUES ${values(podRows, p)}`, p)

    // Counts: aggregated here first (one upsert may not touch the same row twice), in key order.
    const counts = groupBy(
      classified.map(({ r }) => r),
      (r) => JSON.stringify([new Date(Math.floor(Date.parse(r.occurredAt) / HOUR) * HOUR).toISOString(), r.namespace ?? '', r.category ?? 'other', r.severity]),
    )
    const c: unknown[] = []
    const countRows = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, list]) => [...(JSON.parse(k) as unknown[]), list.length])
    await tx.query(
      `INSERT INTO persist_event_counts (bucket, namespace, category, severity, count) VALUES ${values(countRows, c, ['::timestamptz', '', '', '', '::int'])}
       ON CONFLICT (bucket, namespace, category, severity) DO UPDATE SET count = persist_event_counts.count + EXCLUDED.count`,
      c,
    )

    // Only problems become problem rows: info occurrences (lifecycle) are history, not "what is wrong".
    const problems = groupBy(
      classified.map(({ r }) => r).filter((r) => r.severity !== 'info' && r.fingerprint !== null),
      (r) => r.fingerprint ?? '',
    )
    if (problems.size > 0) {
      const q: unknown[] = []
      const problemRows = [...problems.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([fingerprint, list]) => {
          const n = newest(list)
          const first = list.reduce((a, b) => (b.occurredAt < a.occurredAt ? b : a)).occurredAt
          return [fingerprint, n.namespace, n.kind, n.name, n.subject, n.category, n.severity, n.reason, n.message, first, n.occurredAt, list.length]
        })
      // The newest occurrence decides the current state; LEAST/GREATEST skip NULLs (a row first made by an
      // alert or recovery reply that overtook its classified event).
      const newer = 'p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen'
      await tx.query(
        `INSERT INTO persist_problems AS p (fingerprint, namespace, kind, name, subject, category, severity, reason, message,
           first_seen, last_seen, occurrences)
         VALUES ${values(problemRows, q, ['', '', '', '', '', '', '', '', '', '::timestamptz', '::timestamptz', '::int'])}
         ON CONFLICT (fingerprint) DO UPDATE SET
           occurrences = p.occurrences + EXCLUDED.occurrences,
           first_seen = LEAST(p.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen),
           namespace = CASE WHEN ${newer} THEN EXCLUDED.namespace ELSE p.namespace END,
           kind = CASE WHEN ${newer} THEN EXCLUDED.kind ELSE p.kind END,
           name = CASE WHEN ${newer} THEN EXCLUDED.name ELSE p.name END,
           subject = COALESCE(p.subject, EXCLUDED.subject),
           category = CASE WHEN ${newer} THEN EXCLUDED.category ELSE p.category END,
           severity = CASE WHEN ${newer} THEN EXCLUDED.severity ELSE p.severity END,
           reason = CASE WHEN ${newer} THEN EXCLUDED.reason ELSE p.reason END,
           message = CASE WHEN ${newer} THEN EXCLUDED.message ELSE p.message END`,
        q,
      )
    }
  }

  const replies = (kind: 'alert' | 'recovery'): Map<string, EventRecord[]> =>
    groupBy(
      fresh.map(({ r }) => r).filter((r) => r.recordKind === kind && r.fingerprint !== null && r.outcome !== null),
      (r) => r.fingerprint ?? '',
    )
  const alerts = replies('alert')
  if (alerts.size > 0) {
    const q: unknown[] = []
    const rows = [...alerts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([fingerprint, list]) => {
        const n = newest(list)
        return [fingerprint, n.subject, n.outcome, n.occurredAt, list.filter((r) => r.outcome === 'sent').length]
      })
    await tx.query(
      `INSERT INTO persist_problems AS p (fingerprint, subject, last_alert_outcome, last_alert_at, alerts_sent)
       VALUES ${values(rows, q, ['', '', '', '::timestamptz', '::int'])}
       ON CONFLICT (fingerprint) DO UPDATE SET
         subject = COALESCE(p.subject, EXCLUDED.subject),
         alerts_sent = p.alerts_sent + EXCLUDED.alerts_sent,
         last_alert_outcome = CASE WHEN p.last_alert_at IS NULL OR EXCLUDED.last_alert_at >= p.last_alert_at THEN EXCLUDED.last_alert_outcome ELSE p.last_alert_outcome END,
         last_alert_at = GREATEST(p.last_alert_at, EXCLUDED.last_alert_at)`,
      q,
    )
  }
  const recoveries = replies('recovery')
  if (recoveries.size > 0) {
    const q: unknown[] = []
    const rows = [...recoveries.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([fingerprint, list]) => {
        const n = newest(list)
        return [fingerprint, n.subject, n.outcome, n.action, n.occurredAt]
      })
    await tx.query(
      `INSERT INTO persist_problems AS p (fingerprint, subject, last_recovery_outcome, last_recovery_action, last_recovery_at)
       VALUES ${values(rows, q, ['', '', '', '', '::timestamptz'])}
       ON CONFLICT (fingerprint) DO UPDATE SET
         subject = COALESCE(p.subject, EXCLUDED.subject),
         last_recovery_outcome = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_outcome ELSE p.last_recovery_outcome END,
         last_recovery_action = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_action ELSE p.last_recovery_action END,
         last_recovery_at = GREATEST(p.last_recovery_at, EXCLUDED.last_recovery_at)`,
      q,
    )
  }
}
