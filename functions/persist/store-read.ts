// The read side: parameterized SQL over the event table and the projections. Pages are keyset-paginated
// newest first on (time, seq), which the indexes in migrations/001 serve directly (docs/PERSIST.md).
import { EVENT_TYPES, type Severity } from '../../shared/contracts.js'
import type { Queryable } from '../../shared/db.js'
import { encodeCursor, type DeadLetterQuery, type EventFilter, type Page, type PodEventsQuery, type PodStatus, type ProblemsQuery, type StatsQuery } from './query-params.js'

/** Timestamps leave the database as RFC 3339 UTC with microseconds, so cursors round-trip exactly. */
const iso = (col: string): string => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

class Where {
  readonly clauses: string[] = []
  readonly params: unknown[] = []
  add(sql: (p: (v: unknown) => string) => string): void {
    this.clauses.push(sql((v) => {
      this.params.push(v)
      return `$${this.params.length}`
    }))
  }
  get sql(): string {
    return this.clauses.length === 0 ? '' : `WHERE ${this.clauses.join(' AND ')}`
  }
  param(v: unknown): string {
    this.params.push(v)
    return `$${this.params.length}`
  }
}

/** LIKE pattern that matches `text` literally (escape %, _ and the escape character). */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}

export interface StoredEvent {
  readonly source: string
  readonly id: string
  readonly type: string
  readonly occurredAt: string
  readonly receivedAt: string
  readonly severity: string | null
  readonly category: string | null
  readonly action: string | null
  readonly reason: string | null
  readonly namespace: string | null
  readonly kind: string | null
  readonly name: string | null
  readonly message: string | null
  readonly fingerprint: string | null
  readonly event: Record<string, unknown>
}

export interface PageOf<T> {
  readonly items: T[]
  readonly nextCursor: string | null
}

interface EventRow {
  seq: string | number
  source: string
  id: string
  type: string
  occurred_at: string
  received_at: string
  severity: string | null
  category: string | null
  action: string | null
  reason: string | null
  namespace: string | null
  kind: string | null
  name: string | null
  message: string | null
  fingerprint: string | null
  event: Record<string, unknown> | string
}

const EVENT_COLUMNS = `seq, source, id, type, ${iso('occurred_at')} AS occurred_at, ${iso('received_at')} AS received_at,
  severity, category, action, reason, namespace, kind, name, message, fingerprint, event`

function toStored(r: EventRow): StoredEvent {
  return {
    source: r.source,
    id: r.id,
    type: r.type,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    severity: r.severity,
    category: r.category,
    action: r.action,
    reason: r.reason,
    namespace: r.namespace,
    kind: r.kind,
    name: r.name,
    message: r.message,
    fingerprint: r.fingerprint,
    // node-postgres and PGlite both parse jsonb; a string would mean a driver configured otherwise.
    event: typeof r.event === 'string' ? (JSON.parse(r.event) as Record<string, unknown>) : r.event,
  }
}

function eventWhere(f: EventFilter): Where {
  const w = new Where()
  if (f.namespace !== undefined) w.add((p) => `namespace = ${p(f.namespace)}`)
  if (f.severity !== undefined) w.add((p) => `severity = ANY(${p(f.severity)}::text[])`)
  if (f.category !== undefined) w.add((p) => `category = ANY(${p(f.category)}::text[])`)
  if (f.reason !== undefined) w.add((p) => `reason = ${p(f.reason)}`)
  if (f.kind !== undefined) w.add((p) => `kind = ${p(f.kind)}`)
  if (f.name !== undefined) w.add((p) => `name = ${p(f.name)}`)
  if (f.fingerprint !== undefined) w.add((p) => `fingerprint = ${p(f.fingerprint)}`)
  if (f.type !== undefined) {
    const type = f.type
    if (type.endsWith('.*')) w.add((p) => `type LIKE ${p(`${likeLiteral(type.slice(0, -1))}%`)}`)
    else w.add((p) => `type = ${p(type)}`)
  }
  if (f.since !== undefined) w.add((p) => `occurred_at >= ${p(f.since)}::timestamptz`)
  if (f.until !== undefined) w.add((p) => `occurred_at < ${p(f.until)}::timestamptz`)
  if (f.q !== undefined) w.add((p) => `message ILIKE ${p(`%${likeLiteral(f.q ?? '')}%`)}`)
  return w
}

/** The newest event's seq ('0' for an empty store): with `storedThrough`, what was stored up to now. */
export async function lastEventSeq(db: Queryable): Promise<string> {
  const r = await db.query<{ seq: string | null }>('SELECT max(seq)::text AS seq FROM persist_events')
  return r.rows[0]?.seq ?? '0'
}

function boundedWhere(filter: EventFilter, storedThrough: string | undefined): Where {
  const w = eventWhere(filter)
  if (storedThrough !== undefined) w.add((p) => `seq <= ${p(storedThrough)}::bigint`)
  return w
}

/**
 * Newest first; `order: 'asc'` (oldest first) is what replay uses. `storedThrough` (a seq from lastEventSeq)
 * leaves out events stored after it, whatever their time: replay's window ends where it started.
 */
export async function listEvents(db: Queryable, filter: EventFilter, page: Page, order: 'desc' | 'asc' = 'desc', storedThrough?: string): Promise<PageOf<StoredEvent>> {
  const w = boundedWhere(filter, storedThrough)
  if (page.cursor !== undefined) {
    const [t, s] = page.cursor
    w.add((p) => `(occurred_at, seq) ${order === 'desc' ? '<' : '>'} (${p(t)}::timestamptz, ${p(s)}::bigint)`)
  }
  const dir = order === 'desc' ? 'DESC' : 'ASC'
  const rows = await db.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM persist_events ${w.sql} ORDER BY occurred_at ${dir}, seq ${dir} LIMIT ${w.param(page.limit + 1)}`,
    w.params,
  )
  return paginate(rows.rows, page.limit, toStored, (r) => encodeCursor('events', r.occurred_at, String(r.seq)))
}

export async function countEvents(db: Queryable, filter: EventFilter, storedThrough?: string): Promise<number> {
  const w = boundedWhere(filter, storedThrough)
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM persist_events ${w.sql}`, w.params)
  return Number(r.rows[0]?.n ?? 0)
}

function paginate<R, T>(rows: R[], limit: number, map: (r: R) => T, cursorOf: (r: R) => string): PageOf<T> {
  const more = rows.length > limit
  const pageRows = more ? rows.slice(0, limit) : rows
  const last = pageRows[pageRows.length - 1]
  return { items: pageRows.map(map), nextCursor: more && last !== undefined ? cursorOf(last) : null }
}

export async function getEvent(db: Queryable, source: string, id: string): Promise<StoredEvent | undefined> {
  const rows = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM persist_events WHERE source = $1 AND id = $2`, [source, id])
  const row = rows.rows[0]
  return row === undefined ? undefined : toStored(row)
}

export interface PodEvent {
  readonly id: string
  readonly namespace: string | null
  readonly kind: string
  readonly pod: string
  readonly reason: string
  readonly message: string
  readonly eventTime: string
  readonly status: string
}

/** The view's status per severity (migrations/002); classified events always have one of the three. */
const SEVERITY_OF_STATUS: Readonly<Record<PodStatus, Severity>> = { CRITICAL: 'critical', WARNING: 'warning', NORMAL: 'info' }

export async function listPodEvents(db: Queryable, filter: PodEventsQuery, page: Page): Promise<PageOf<PodEvent>> {
  const w = new Where()
  if (filter.namespace !== undefined) w.add((p) => `namespace = ${p(filter.namespace)}`)
  // On the severity column, not the CASE of `status`: that is what persist_events' severity index serves.
  const severity = filter.status === undefined ? undefined : SEVERITY_OF_STATUS[filter.status]
  if (severity !== undefined) w.add((p) => `severity = ${p(severity)}`)
  if (filter.since !== undefined) w.add((p) => `event_time >= ${p(filter.since)}::timestamptz`)
  if (filter.until !== undefined) w.add((p) => `event_time < ${p(filter.until)}::timestamptz`)
  if (page.cursor !== undefined) {
    const [t, s] = page.cursor
    w.add((p) => `(event_time, event_seq) < (${p(t)}::timestamptz, ${p(s)}::bigint)`)
  }
  const rows = await db.query<{ event_seq: string | number; id: string; namespace: string | null; kind: string; pod: string; reason: string; message: string; event_time: string; status: string }>(
    `SELECT event_seq, id, namespace, kind, pod, reason, message, ${iso('event_time')} AS event_time, status
     FROM pod_events_view ${w.sql} ORDER BY event_time DESC, event_seq DESC LIMIT ${w.param(page.limit + 1)}`,
    w.params,
  )
  return paginate(
    rows.rows,
    page.limit,
    (r) => ({ id: r.id, namespace: r.namespace, kind: r.kind, pod: r.pod, reason: r.reason, message: r.message, eventTime: r.event_time, status: r.status }),
    (r) => encodeCursor('pod-events', r.event_time, String(r.event_seq)),
  )
}

export interface Problem {
  readonly fingerprint: string
  readonly namespace: string | null
  readonly kind: string | null
  readonly name: string | null
  readonly subject: string | null
  readonly category: string | null
  readonly severity: string | null
  readonly reason: string | null
  readonly message: string | null
  readonly firstSeen: string
  readonly lastSeen: string
  readonly occurrences: number
  readonly alert: { readonly outcome: string; readonly at: string; readonly sent: number } | null
  readonly recovery: { readonly outcome: string; readonly action: string | null; readonly at: string } | null
}

interface ProblemRow {
  fingerprint: string
  namespace: string | null
  kind: string | null
  name: string | null
  subject: string | null
  category: string | null
  severity: string | null
  reason: string | null
  message: string | null
  first_seen: string
  last_seen: string
  occurrences: number
  last_alert_outcome: string | null
  last_alert_at: string | null
  alerts_sent: number
  last_recovery_outcome: string | null
  last_recovery_action: string | null
  last_recovery_at: string | null
}

export async function listProblems(db: Queryable, filter: ProblemsQuery, page: Page, openHours: number, now = Date.now()): Promise<PageOf<Problem>> {
  const w = new Where()
  // Rows made only by an alert/recovery reply (their classified event not stored yet) are not listed.
  w.add(() => 'last_seen IS NOT NULL')
  if (filter.status === 'open') {
    w.add(() => "severity IN ('critical', 'warning')")
    w.add((p) => `last_seen >= ${p(new Date(now - openHours * 3_600_000).toISOString())}::timestamptz`)
  }
  if (filter.namespace !== undefined) w.add((p) => `namespace = ${p(filter.namespace)}`)
  if (filter.severity !== undefined) w.add((p) => `severity = ANY(${p(filter.severity)}::text[])`)
  if (filter.category !== undefined) w.add((p) => `category = ANY(${p(filter.category)}::text[])`)
  if (page.cursor !== undefined) {
    const [t, f] = page.cursor
    w.add((p) => `(last_seen, fingerprint) < (${p(t)}::timestamptz, ${p(f)})`)
  }
  const rows = await db.query<ProblemRow>(
    `SELECT fingerprint, namespace, kind, name, subject, category, severity, reason, message,
       ${iso('first_seen')} AS first_seen, ${iso('last_seen')} AS last_seen, occurrences,
       last_alert_outcome, ${iso('last_alert_at')} AS last_alert_at, alerts_sent,
       last_recovery_outcome, last_recovery_action, ${iso('last_recovery_at')} AS last_recovery_at
     FROM persist_problems ${w.sql} ORDER BY last_seen DESC, fingerprint DESC LIMIT ${w.param(page.limit + 1)}`,
    w.params,
  )
  return paginate(
    rows.rows,
    page.limit,
    (r) => ({
      fingerprint: r.fingerprint,
      namespace: r.namespace,
      kind: r.kind,
      name: r.name,
      subject: r.subject,
      category: r.category,
      severity: r.severity,
      reason: r.reason,
      message: r.message,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      occurrences: Number(r.occurrences),
      alert: r.last_alert_outcome === null || r.last_alert_at === null ? null : { outcome: r.last_alert_outcome, at: r.last_alert_at, sent: Number(r.alerts_sent) },
      recovery:
        r.last_recovery_outcome === null || r.last_recovery_at === null ? null : { outcome: r.last_recovery_outcome, action: r.last_recovery_action, at: r.last_recovery_at },
    }),
    (r) => encodeCursor('problems', r.last_seen, r.fingerprint),
  )
}

export interface Stats {
  readonly since: string
  readonly until: string
  readonly total: number
  readonly bySeverity: Record<string, number>
  readonly byCategory: Record<string, number>
  readonly byNamespace: Record<string, number>
  /** Alert and recovery outcomes by event type. */
  readonly byType: Record<string, number>
  readonly buckets: { readonly bucket: string; readonly critical: number; readonly warning: number; readonly info: number }[]
}

const HOUR_MS = 3_600_000

interface CountRow {
  bucket: string
  namespace: string
  category: string
  severity: string
  count: number
}

/**
 * Classified counts over exactly [since, until), as /events counts them: the hours the window covers whole
 * come from the hourly count table (store-write.ts keeps it with the events), the partial hours at either
 * edge — at most two hours of events, on the timeline index — from the events themselves, bucketed and
 * keyed as the count table is. So every field agrees with /events?type=dev.kubereflex.event.classified.
 */
async function classifiedCounts(db: Queryable, q: StatsQuery): Promise<CountRow[]> {
  const since = Date.parse(q.since)
  const until = Date.parse(q.until)
  const firstWhole = Math.ceil(since / HOUR_MS) * HOUR_MS
  const endWhole = Math.floor(until / HOUR_MS) * HOUR_MS
  // Without a whole hour inside, the window is all edge.
  const whole = firstWhole < endWhole ? { from: new Date(firstWhole).toISOString(), to: new Date(endWhole).toISOString() } : undefined
  const edges = whole === undefined ? [[q.since, q.until]] : [[q.since, whole.from], [whole.to, q.until]].filter(([from, to]) => from !== to)
  const parts: string[] = []
  const w = new Where()
  const ns = q.namespace === undefined ? '' : ` AND namespace = ${w.param(q.namespace)}`
  if (whole !== undefined) {
    parts.push(`SELECT bucket, namespace, category, severity, count FROM persist_event_counts
      WHERE bucket >= ${w.param(whole.from)}::timestamptz AND bucket < ${w.param(whole.to)}::timestamptz${ns}`)
  }
  if (edges.length > 0) {
    const ranges = edges.map(([from, to]) => `(occurred_at >= ${w.param(from)}::timestamptz AND occurred_at < ${w.param(to)}::timestamptz)`).join(' OR ')
    parts.push(`SELECT date_bin('1 hour', occurred_at, timestamptz '2000-01-01 00:00:00+00'), coalesce(namespace, ''), coalesce(category, 'other'), severity, count(*)
      FROM persist_events WHERE type = ${w.param(EVENT_TYPES.classified)} AND severity IS NOT NULL AND (${ranges})${ns}
      GROUP BY 1, 2, 3, 4`)
  }
  const rows = await db.query<CountRow>(
    `SELECT ${iso('bucket')} AS bucket, namespace, category, severity, count::int AS count
     FROM (${parts.join(' UNION ALL ')}) AS c (bucket, namespace, category, severity, count) ORDER BY bucket`,
    w.params,
  )
  return rows.rows
}

export async function stats(db: Queryable, q: StatsQuery): Promise<Stats> {
  const rows = await classifiedCounts(db, q)
  const t = new Where()
  t.add(() => "(type LIKE 'dev.kubereflex.alert.%' OR type LIKE 'dev.kubereflex.recovery.%')")
  t.add((p) => `occurred_at >= ${p(q.since)}::timestamptz`)
  t.add((p) => `occurred_at < ${p(q.until)}::timestamptz`)
  if (q.namespace !== undefined) t.add((p) => `namespace = ${p(q.namespace)}`)
  const types = await db.query<{ type: string; count: number }>(`SELECT type, count(*)::int AS count FROM persist_events ${t.sql} GROUP BY type ORDER BY type`, t.params)
  const bySeverity: Record<string, number> = { critical: 0, warning: 0, info: 0 }
  const byCategory: Record<string, number> = {}
  const byNamespace: Record<string, number> = {}
  const buckets = new Map<string, { bucket: string; critical: number; warning: number; info: number }>()
  let total = 0
  for (const r of rows) {
    const n = Number(r.count)
    total += n
    bySeverity[r.severity] = (bySeverity[r.severity] ?? 0) + n
    byCategory[r.category] = (byCategory[r.category] ?? 0) + n
    byNamespace[r.namespace] = (byNamespace[r.namespace] ?? 0) + n
    const b = buckets.get(r.bucket) ?? { bucket: r.bucket, critical: 0, warning: 0, info: 0 }
    if (r.severity === 'critical' || r.severity === 'warning' || r.severity === 'info') b[r.severity] += n
    buckets.set(r.bucket, b)
  }
  const byType: Record<string, number> = {}
  for (const r of types.rows) byType[r.type] = Number(r.count)
  return { since: q.since, until: q.until, total, bySeverity, byCategory, byNamespace, byType, buckets: [...buckets.values()] }
}

export interface DeadLetter {
  readonly source: string
  readonly id: string
  readonly type: string
  readonly errorDest: string
  readonly errorCode: string | null
  readonly errorData: string | null
  readonly receivedAt: string
  readonly event: Record<string, unknown>
}

export async function listDeadLetters(db: Queryable, filter: DeadLetterQuery, page: Page): Promise<PageOf<DeadLetter>> {
  const w = new Where()
  if (filter.code !== undefined) w.add((p) => `error_code = ${p(filter.code)}`)
  if (filter.since !== undefined) w.add((p) => `received_at >= ${p(filter.since)}::timestamptz`)
  if (filter.until !== undefined) w.add((p) => `received_at < ${p(filter.until)}::timestamptz`)
  if (page.cursor !== undefined) {
    const [t, s] = page.cursor
    w.add((p) => `(received_at, seq) < (${p(t)}::timestamptz, ${p(s)}::bigint)`)
  }
  const rows = await db.query<{ seq: string | number; source: string; id: string; type: string; error_dest: string; error_code: string | null; error_data: string | null; received_at: string; event: Record<string, unknown> | string }>(
    `SELECT seq, source, id, type, error_dest, error_code, error_data, ${iso('received_at')} AS received_at, event
     FROM persist_dead_letters ${w.sql} ORDER BY received_at DESC, seq DESC LIMIT ${w.param(page.limit + 1)}`,
    w.params,
  )
  return paginate(
    rows.rows,
    page.limit,
    (r) => ({
      source: r.source,
      id: r.id,
      type: r.type,
      errorDest: r.error_dest,
      errorCode: r.error_code,
      errorData: r.error_data,
      receivedAt: r.received_at,
      event: typeof r.event === 'string' ? (JSON.parse(r.event) as Record<string, unknown>) : r.event,
    }),
    (r) => encodeCursor('dead-letters', r.received_at, String(r.seq)),
  )
}
