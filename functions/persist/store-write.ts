// The write side: one batch of records in one transaction — the append-only event row (deduplicated on
// (source, id)), the projections, and the outbox row for the Kafka archive. A duplicate touches nothing else,
// so redelivery never double-counts.
import type { Queryable } from '../../shared/db.js'
import type { EventRecord } from './record.js'

export interface WriteOptions {
  /** Write an outbox row per new event (the Kafka archive is configured). */
  readonly outbox: boolean
}

const POD_STATUS = { critical: 'CRITICAL', warning: 'WARNING', info: 'NORMAL' } as const

/** Appends the records; returns for each whether it was new (false: already stored, a duplicate). */
export async function writeRecords(tx: Queryable, records: readonly EventRecord[], options: WriteOptions): Promise<boolean[]> {
  // A stable order of row locks across concurrent writers (replicas) keeps deadlocks away.
  const order = records.map((r, i) => ({ r, i })).sort((a, b) => compare(a.r, b.r))
  const inserted = new Array<boolean>(records.length).fill(false)
  for (const { r, i } of order) {
    const row = await tx.query<{ seq: string | number }>(
      `INSERT INTO persist_events (source, id, type, subject, time, occurred_at, severity, category, action, reason,
         namespace, kind, name, message, fingerprint, event)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb)
       ON CONFLICT (source, id) DO NOTHING RETURNING seq`,
      [r.source, r.id, r.type, r.subject, r.time, r.occurredAt, r.severity, r.category, r.action, r.reason, r.namespace, r.kind, r.name, r.message, r.fingerprint, JSON.stringify(r.event)],
    )
    const seq = row.rows[0]?.seq
    if (seq === undefined) continue
    inserted[i] = true
    await project(tx, r, seq)
    if (options.outbox) {
      await tx.query('INSERT INTO persist_outbox (event_seq, key, event) VALUES ($1, $2, $3::jsonb)', [seq, r.fingerprint ?? r.subject ?? r.source, JSON.stringify(r.event)])
    }
  }
  return inserted
}

function compare(a: EventRecord, b: EventRecord): number {
  const fa = a.fingerprint ?? ''
  const fb = b.fingerprint ?? ''
  if (fa !== fb) return fa < fb ? -1 : 1
  const ka = `${a.source}\u0000${a.id}`
  const kb = `${b.source}\u0000${b.id}`
  return ka < kb ? -1 : ka > kb ? 1 : 0
}

async function project(tx: Queryable, r: EventRecord, seq: string | number): Promise<void> {
  if (r.recordKind === 'classified' && r.severity !== null) {
    await tx.query(
      `INSERT INTO pod_events_view (event_seq, id, namespace, kind, pod, reason, message, event_time, status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [seq, r.id, r.namespace, r.kind ?? '', r.name ?? '', r.reason ?? '', r.message ?? '', r.occurredAt, POD_STATUS[r.severity]],
    )
    await tx.query(
      `INSERT INTO persist_event_counts (bucket, namespace, category, severity, count)
       VALUES (date_trunc('hour', $1::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $2, $3, $4, 1)
       ON CONFLICT (bucket, namespace, category, severity) DO UPDATE SET count = persist_event_counts.count + 1`,
      [r.occurredAt, r.namespace ?? '', r.category ?? 'other', r.severity],
    )
    // Only problems become problem rows: info occurrences (lifecycle) are history, not "what is wrong".
    if (r.severity !== 'info' && r.fingerprint !== null) {
      // The newest occurrence decides the current state; LEAST/GREATEST skip NULLs (a row first made by an
      // alert or recovery reply that overtook its classified event).
      await tx.query(
        `INSERT INTO persist_problems AS p (fingerprint, namespace, kind, name, subject, category, severity, reason, message,
           first_seen, last_seen, occurrences)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 1)
         ON CONFLICT (fingerprint) DO UPDATE SET
           occurrences = p.occurrences + 1,
           first_seen = LEAST(p.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen),
           namespace = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.namespace ELSE p.namespace END,
           kind = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.kind ELSE p.kind END,
           name = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.name ELSE p.name END,
           subject = COALESCE(p.subject, EXCLUDED.subject),
           category = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.category ELSE p.category END,
           severity = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.severity ELSE p.severity END,
           reason = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.reason ELSE p.reason END,
           message = CASE WHEN p.last_seen IS NULL OR EXCLUDED.last_seen >= p.last_seen THEN EXCLUDED.message ELSE p.message END`,
        [r.fingerprint, r.namespace, r.kind, r.name, r.subject, r.category, r.severity, r.reason, r.message, r.occurredAt],
      )
    }
    return
  }
  if (r.fingerprint === null || r.outcome === null) return
  if (r.recordKind === 'alert') {
    await tx.query(
      `INSERT INTO persist_problems AS p (fingerprint, subject, last_alert_outcome, last_alert_at, alerts_sent)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (fingerprint) DO UPDATE SET
         subject = COALESCE(p.subject, EXCLUDED.subject),
         alerts_sent = p.alerts_sent + EXCLUDED.alerts_sent,
         last_alert_outcome = CASE WHEN p.last_alert_at IS NULL OR EXCLUDED.last_alert_at >= p.last_alert_at THEN EXCLUDED.last_alert_outcome ELSE p.last_alert_outcome END,
         last_alert_at = GREATEST(p.last_alert_at, EXCLUDED.last_alert_at)`,
      [r.fingerprint, r.subject, r.outcome, r.occurredAt, r.outcome === 'sent' ? 1 : 0],
    )
  } else if (r.recordKind === 'recovery') {
    await tx.query(
      `INSERT INTO persist_problems AS p (fingerprint, subject, last_recovery_outcome, last_recovery_action, last_recovery_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (fingerprint) DO UPDATE SET
         subject = COALESCE(p.subject, EXCLUDED.subject),
         last_recovery_outcome = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_outcome ELSE p.last_recovery_outcome END,
         last_recovery_action = CASE WHEN p.last_recovery_at IS NULL OR EXCLUDED.last_recovery_at >= p.last_recovery_at THEN EXCLUDED.last_recovery_action ELSE p.last_recovery_action END,
         last_recovery_at = GREATEST(p.last_recovery_at, EXCLUDED.last_recovery_at)`,
      [r.fingerprint, r.subject, r.outcome, r.action, r.occurredAt],
    )
  }
}
