// The reply auto-recover sends: `dev.kubereflex.recovery.{planned,performed,skipped,failed}` (DESIGN.md
// "Replies of the other functions"). Its id depends only on the classified event answered, so a redelivery
// yields the same reply id. An escalation (budget spent) is `skipped` with extension severity=critical,
// which the alert Trigger picks up.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { EVENT_TYPES, SOURCES } from '../../shared/contracts.js'
import { deterministicId } from '../../shared/ids.js'
import { REASONS, type ReasonCode } from './errors.js'
import type { RecoveryInput } from './input.js'

export const OUTCOMES = ['planned', 'performed', 'skipped', 'failed'] as const
export type Outcome = (typeof OUTCOMES)[number]

const TYPE_OF: Record<Outcome, string> = {
  planned: EVENT_TYPES.recoveryPlanned,
  performed: EVENT_TYPES.recoveryPerformed,
  skipped: EVENT_TYPES.recoverySkipped,
  failed: EVENT_TYPES.recoveryFailed,
}

export interface TargetRef {
  readonly namespace: string | null
  readonly kind: string
  readonly name: string
}

export interface BudgetView {
  readonly used: number
  readonly max: number
  readonly windowSeconds: number
}

export interface Decision {
  readonly outcome: Outcome
  readonly reason: ReasonCode
  /** Specifics for humans: the PDB message, the revision chosen, the RBAC verb refused… */
  readonly detail?: string | undefined
  readonly target: TargetRef
  readonly budget?: { readonly target?: BudgetView; readonly global?: BudgetView } | undefined
  readonly optIn?: string | undefined
  readonly change?: Readonly<Record<string, unknown>> | undefined
}

export interface RecoveryData {
  readonly cluster: string
  readonly namespace: string | null
  readonly target: TargetRef
  readonly object: { readonly kind: string; readonly name: string }
  readonly fingerprint: string
  readonly action: string
  readonly category: string
  readonly mode: string
  readonly offline: boolean
  readonly outcome: Outcome
  readonly reason: ReasonCode
  readonly message: string
  readonly detail: string | null
  readonly optIn: string | null
  readonly budget: Decision['budget'] | null
  readonly change: Decision['change'] | null
  readonly input: { readonly source: string; readonly id: string }
}

export function replyId(event: Pick<CloudEventV1, 'source' | 'id'>): string {
  return deterministicId(SOURCES.autoRecover, event.source, event.id)
}

export function isEscalation(reason: ReasonCode): boolean {
  return reason === 'TARGET_BUDGET_EXHAUSTED' || reason === 'GLOBAL_BUDGET_EXHAUSTED'
}

/** One line for humans: the Kubernetes Event message and the reply's `data.message`. */
export function describeDecision(action: string, mode: string, offline: boolean, d: Decision): string {
  const how = offline ? `${mode}, offline` : mode
  return `${action} ${d.outcome} (${how}): ${REASONS[d.reason]}${d.detail === undefined ? '' : ` — ${d.detail}`}`
}

export function toRecoveryEvent(
  event: CloudEventV1,
  input: RecoveryInput,
  decision: Decision,
  options: { readonly mode: string; readonly offline: boolean; readonly time: string },
): CloudEventV1 {
  const data: RecoveryData = {
    cluster: input.cluster,
    namespace: input.namespace,
    target: decision.target,
    object: { kind: input.object.kind, name: input.object.name },
    fingerprint: input.fingerprint,
    action: input.action,
    category: input.category,
    mode: options.mode,
    offline: options.offline,
    outcome: decision.outcome,
    reason: decision.reason,
    message: describeDecision(input.action, options.mode, options.offline, decision),
    detail: decision.detail ?? null,
    optIn: decision.optIn ?? null,
    budget: decision.budget ?? null,
    change: decision.change ?? null,
    input: { source: event.source, id: event.id },
  }
  const severity = isEscalation(decision.reason) ? 'critical' : decision.outcome === 'failed' ? 'warning' : 'info'
  return {
    specversion: '1.0',
    id: replyId(event),
    source: SOURCES.autoRecover,
    type: TYPE_OF[decision.outcome],
    subject: `${decision.target.namespace ?? '_cluster'}/${decision.target.kind}/${decision.target.name}`,
    time: options.time,
    datacontenttype: 'application/json',
    fingerprint: input.fingerprint,
    action: input.action,
    category: input.category,
    reason: decision.reason,
    severity,
    data,
  }
}
