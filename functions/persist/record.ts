// From a CloudEvent to what the store keeps: the full event as JSON plus the columns the queries filter
// on. The one place that knows which fields of which event type matter (shared/contracts.ts).
import { nestsDeeperThan, type CloudEventV1 } from '../../shared/cloudevent.js'
import { SEVERITIES, type Severity } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'

export type RecordKind = 'classified' | 'alert' | 'recovery' | 'other'

export interface EventRecord {
  readonly source: string
  readonly id: string
  readonly type: string
  readonly recordKind: RecordKind
  /** For alert/recovery replies: the last segment of the type (sent, suppressed, performed, …). */
  readonly outcome: string | null
  readonly subject: string | null
  readonly time: string | null
  /** ISO timestamp of the occurrence (see migrations/001: occurred_at). */
  readonly occurredAt: string
  readonly severity: Severity | null
  readonly category: string | null
  readonly action: string | null
  readonly reason: string | null
  readonly namespace: string | null
  readonly kind: string | null
  readonly name: string | null
  readonly message: string | null
  readonly fingerprint: string | null
  /**
   * The CloudEvent in the JSON event format (binary data as data_base64), as text checked storable
   * (storableJson): what the INSERTs send for the jsonb columns. Serialized once per event, here.
   */
  readonly json: string
}

const ALERT_PREFIX = 'dev.kubereflex.alert.'
const RECOVERY_PREFIX = 'dev.kubereflex.recovery.'
const CLASSIFIED = 'dev.kubereflex.event.classified'
// Subjects of our own events: `<namespace|_cluster>/<Kind>/<name>` (classify's subjectOf, which alert and
// auto-recover repeat for the workload they answer about).
const SUBJECT = /^([^/]+)\/([A-Za-z][A-Za-z0-9]*)\/([^/]+)$/

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as Record<string, unknown>) : undefined
}
function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}
function time(v: unknown): string | null {
  if (typeof v !== 'string') return null
  const ms = Date.parse(v)
  return Number.isNaN(ms) ? null : new Date(ms).toISOString()
}
function severity(v: unknown): Severity | null {
  return typeof v === 'string' && (SEVERITIES as readonly string[]).includes(v) ? (v as Severity) : null
}

function dataInvalid(type: string, problem: string): ReflexError {
  return new ReflexError('EVENT_DATA_INVALID', `${type} data ${problem}`)
}

/** The event as stored and replayed: JSON event format, binary data as data_base64 (CloudEvents JSON §3.1). */
export function toJsonEvent(event: CloudEventV1): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(event)) {
    if (v === undefined) continue
    if (k === 'data' && Buffer.isBuffer(v)) out.data_base64 = v.toString('base64')
    else out[k] = v
  }
  return out
}

/**
 * How deep stored data may nest. Kubernetes objects stay far below (a CRD's schema is a few dozen levels);
 * jsonb parsing and JSON.stringify recurse, and PGlite's WebAssembly stack is small.
 */
export const MAX_STORED_DEPTH = 256

/**
 * The event in the JSON format, as text that PostgreSQL's jsonb will take. Throws EVENT_DATA_INVALID (400)
 * for what can never be stored, so that the broker does not retry it forever: data nested deeper than
 * MAX_STORED_DEPTH, and U+0000 in a string (jsonb refuses it, SQLSTATE 22P05).
 */
export function storableJson(event: CloudEventV1): string {
  if (nestsDeeperThan(event.data, MAX_STORED_DEPTH - 1)) throw dataInvalid(event.type, `nests deeper than ${MAX_STORED_DEPTH} levels, which cannot be stored`)
  // JSON.stringify leaves out undefined attributes as toJsonEvent does, so only binary data needs the copy.
  const text = JSON.stringify(Buffer.isBuffer(event.data) ? toJsonEvent(event) : event)
  if (text.includes('\\u0000')) throw dataInvalid(event.type, 'contains a NUL character, which cannot be stored')
  return text
}

/** An extension attribute as a non-empty string, else null. */
function ext(event: CloudEventV1, name: string): string | null {
  return str(event[name])
}

/**
 * Builds the stored record. Throws EVENT_DATA_INVALID (400, dead-lettered, not retried) when a classified
 * event lacks what the projections need, or when the event cannot be stored as jsonb at all.
 */
export function toRecord(event: CloudEventV1, receivedAt: Date): EventRecord {
  // Refused here with a 400 rather than letting one poison event fail a whole group commit with a 500.
  const json = storableJson(event)
  const data = obj(event.data)
  const eventTime = time(event.time)
  // One object literal per kind, every field in the same order: the records of a batch share one shape.
  if (event.type === CLASSIFIED) {
    if (data === undefined) throw dataInvalid(event.type, 'must be a JSON object (ClassifiedData)')
    const object = obj(data.object)
    const problems: string[] = []
    const sev = severity(data.severity) ?? severity(event.severity)
    if (sev === null) problems.push(`severity must be one of ${SEVERITIES.join(', ')}`)
    if (object === undefined || str(object.kind) === null || str(object.name) === null) problems.push('object.kind and object.name are required')
    if (typeof data.reason !== 'string') problems.push('reason must be a string')
    const fingerprint = str(data.fingerprint) ?? ext(event, 'fingerprint')
    if (fingerprint === null) problems.push('fingerprint is required')
    if (problems.length > 0 || sev === null || object === undefined) throw dataInvalid(event.type, problems.join('; '))
    return {
      source: event.source,
      id: event.id,
      type: event.type,
      recordKind: 'classified',
      outcome: null,
      subject: str(event.subject),
      time: eventTime,
      occurredAt: time(data.lastTime) ?? time(data.firstTime) ?? eventTime ?? receivedAt.toISOString(),
      severity: sev,
      category: str(data.category) ?? ext(event, 'category'),
      action: str(data.action) ?? ext(event, 'action'),
      reason: str(data.reason) ?? '',
      namespace: str(data.namespace) ?? str(object.namespace),
      kind: str(object.kind),
      name: str(object.name),
      message: typeof data.message === 'string' ? data.message : '',
      fingerprint,
      json,
    }
  }
  const isAlert = event.type.startsWith(ALERT_PREFIX)
  const isRecovery = event.type.startsWith(RECOVERY_PREFIX)
  const fromSubject = SUBJECT.exec(event.subject ?? '')
  return {
    source: event.source,
    id: event.id,
    type: event.type,
    recordKind: isAlert ? 'alert' : isRecovery ? 'recovery' : 'other',
    outcome: isAlert ? event.type.slice(ALERT_PREFIX.length) : isRecovery ? event.type.slice(RECOVERY_PREFIX.length) : null,
    subject: str(event.subject),
    time: eventTime,
    occurredAt: eventTime ?? receivedAt.toISOString(),
    severity: severity(event.severity) ?? severity(data?.severity),
    category: ext(event, 'category') ?? str(data?.category),
    action: ext(event, 'action') ?? str(data?.action),
    reason: ext(event, 'reason') ?? str(data?.reason),
    namespace: str(data?.namespace) ?? ext(event, 'namespace') ?? (fromSubject?.[1] === '_cluster' ? null : (fromSubject?.[1] ?? null)),
    kind: ext(event, 'kind') ?? str(data?.kind) ?? fromSubject?.[2] ?? null,
    name: ext(event, 'name') ?? str(data?.name) ?? fromSubject?.[3] ?? null,
    message: str(data?.message) ?? str(data?.error) ?? null,
    fingerprint: ext(event, 'fingerprint') ?? str(data?.fingerprint),
    json,
  }
}
