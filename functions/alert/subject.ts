// What an alert is about, read from the two inputs the Triggers send (contracts-extra.md "Wires"):
// `dev.kubereflex.event.classified` with severity critical|warning, and the escalation
// `dev.kubereflex.recovery.skipped` with extension severity=critical. The escalation's data is written
// by auto-recover and read defensively: only `fingerprint` is required.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { CATEGORIES, EVENT_TYPES } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'

export type AlertSeverity = 'critical' | 'warning'
export type SubjectKind = 'problem' | 'escalation'

/** The normalized view every route, template and sink works from. JSON-serializable (stored in outbox rows). */
export interface AlertSubject {
  readonly kind: SubjectKind
  readonly fingerprint: string
  readonly severity: AlertSeverity
  /** Taxonomy category; `escalation` when an escalation does not say which problem category it was. */
  readonly category: string
  readonly cluster: string | null
  readonly namespace: string | null
  /** `Kind/name` of the workload (or the involved object when there is no workload). */
  readonly workload: string
  readonly reason: string
  readonly message: string
  readonly count: number
  readonly firstTime: string | null
  readonly lastTime: string | null
  readonly runbook: string | null
  readonly action: string | null
  readonly input: { readonly source: string; readonly id: string; readonly type: string }
}

export const HANDLED_TYPES: ReadonlySet<string> = new Set([EVENT_TYPES.classified, EVENT_TYPES.recoverySkipped])

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function str(o: Obj, key: string): string | undefined {
  const v = o[key]
  return typeof v === 'string' && v.trim() !== '' ? v : undefined
}

function nullableStr(o: Obj, key: string): string | null {
  return str(o, key) ?? null
}

function refName(v: unknown): string | undefined {
  if (!isObj(v)) return undefined
  const kind = str(v, 'kind')
  const name = str(v, 'name')
  return kind !== undefined && name !== undefined ? `${kind}/${name}` : undefined
}

function severityOf(event: CloudEventV1, data: Obj): AlertSeverity | undefined {
  const s = typeof event.severity === 'string' ? event.severity : str(data, 'severity')
  return s === 'critical' || s === 'warning' ? s : undefined
}

const CATEGORY_SET: ReadonlySet<string> = new Set(CATEGORIES)

function invalid(problem: string): ReflexError {
  return new ReflexError('EVENT_DATA_INVALID', `alert input: ${problem}`, { problems: [{ attribute: 'data', problem }] })
}

/**
 * The alert subject of an event, `undefined` for a type alert does not handle (acknowledged with 202),
 * or a 400 for data that cannot be alerted on. `info` events are not alerts: Triggers never send them,
 * and one arriving anyway is acknowledged rather than dead-lettered.
 */
export function subjectOf(event: CloudEventV1): AlertSubject | undefined | 'not-alertable' {
  if (!HANDLED_TYPES.has(event.type)) return undefined
  const data = event.data
  if (!isObj(data)) throw invalid('must be a JSON object')
  const fingerprint = str(data, 'fingerprint') ?? (typeof event.fingerprint === 'string' && event.fingerprint !== '' ? event.fingerprint : undefined)
  if (fingerprint === undefined) throw invalid('fingerprint is required')
  if (fingerprint.length > 512) throw invalid('fingerprint is too long')
  const severity = severityOf(event, data)
  if (severity === undefined) return 'not-alertable'
  const escalation = event.type === EVENT_TYPES.recoverySkipped
  const input = isObj(data.input) ? data.input : {}
  const object = data.object
  const workload = refName(data.workload) ?? refName(data.target) ?? refName(object) ?? (typeof event.subject === 'string' ? event.subject : 'unknown')
  const namespace = str(data, 'namespace') ?? (isObj(data.target) ? str(data.target, 'namespace') : undefined) ?? (isObj(object) ? str(object, 'namespace') : undefined) ?? null
  const category = str(data, 'category') ?? (typeof event.category === 'string' ? event.category : undefined)
  if (!escalation) {
    if (category === undefined || !CATEGORY_SET.has(category)) throw invalid('category must be one of the taxonomy categories')
    if (str(data, 'reason') === undefined) throw invalid('reason is required')
  }
  const count = typeof data.count === 'number' && Number.isFinite(data.count) && data.count >= 0 ? Math.floor(data.count) : 1
  const reason = str(data, 'reason') ?? (typeof event.reason === 'string' ? event.reason : escalation ? 'RecoveryEscalated' : 'Unknown')
  return {
    kind: escalation ? 'escalation' : 'problem',
    fingerprint,
    severity,
    category: category ?? 'escalation',
    cluster: nullableStr(data, 'cluster'),
    namespace,
    workload,
    reason,
    message: (str(data, 'message') ?? (escalation ? 'automatic recovery gave up' : '')).slice(0, 4000),
    count: Math.max(1, count),
    firstTime: nullableStr(data, 'firstTime'),
    lastTime: nullableStr(data, 'lastTime'),
    runbook: nullableStr(data, 'runbook'),
    action: nullableStr(data, 'action'),
    input: {
      source: str(input, 'source') ?? event.source,
      id: str(input, 'id') ?? event.id,
      type: str(input, 'type') ?? event.type,
    },
  }
}

/**
 * The key of the problem's alert group, and PagerDuty's `dedup_key`: a problem and an escalation about it
 * are separate groups (an escalation must not be grouped away behind its problem) and separate incidents
 * (each is resolved when its own group goes quiet).
 */
export function groupKey(s: Pick<AlertSubject, 'kind' | 'fingerprint'>): string {
  return s.kind === 'escalation' ? `${s.fingerprint}#escalation` : s.fingerprint
}

/** `namespace/Kind/name`, the subject of replies (as classify does). */
export function subjectPath(s: Pick<AlertSubject, 'namespace' | 'workload'>): string {
  return `${s.namespace ?? '_cluster'}/${s.workload}`
}
