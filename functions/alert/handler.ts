// alert: classified problems and recovery escalations in, the right people told once, and a reply
// `dev.kubereflex.alert.{sent,suppressed,failed}` out (issue 5). The decision (dedup, grouping) is taken
// in the database first; only then is anything sent, so a redelivery or a second replica finds the
// decision and the notification's state instead of deciding again.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { EVENT_TYPES, SOURCES } from '../../shared/contracts.js'
import type { FunctionContext, HandlerResult } from '../../shared/host.js'
import { deterministicId } from '../../shared/ids.js'
import type { DeliveryResult, Dispatcher } from './dispatcher.js'
import { alertError } from './errors.js'
import type { AlertMetrics } from './metrics.js'
import { matchRoutes, type Routing } from './routing.js'
import type { AlertStore, EventDecision, MessageBuilder } from './store.js'
import { subjectOf, subjectPath, type AlertSubject } from './subject.js'

export interface AlertDeps {
  readonly store: AlertStore
  readonly dispatcher: Dispatcher
  readonly routing: Routing
  readonly metrics: AlertMetrics
  readonly build: MessageBuilder
  readonly now: () => number
  /** How long to wait for another replica that is sending the same notification. */
  readonly claimWaitMs: number
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

export interface AlertContext extends FunctionContext {
  readonly deps: AlertDeps
}

export type ReplyOutcome = 'sent' | 'suppressed' | 'failed'

export interface AlertReplyData {
  readonly fingerprint: string
  readonly kind: AlertSubject['kind']
  readonly severity: AlertSubject['severity']
  readonly category: string
  readonly namespace: string | null
  readonly workload: string
  readonly reason: string
  readonly subject: string
  readonly input: { readonly source: string; readonly id: string; readonly type: string }
  /** Sinks involved, by name (never their URLs). */
  readonly sinks: readonly string[]
  readonly deliveries: readonly { readonly route: string; readonly sink: string; readonly outcome: string; readonly reason: string | null }[]
  /** Why nothing was sent, when suppressed. */
  readonly suppressedReason: string | null
  readonly occurrences: number | null
}

/** Waits for notifications another replica is sending (bounded), then answers with their state. */
async function deliverAll(ids: readonly string[], ctx: AlertContext): Promise<DeliveryResult[]> {
  const { deps } = ctx
  const deadline = deps.now() + deps.claimWaitMs
  const results = new Map<string, DeliveryResult>()
  let pending = [...ids]
  for (;;) {
    for (const id of pending) results.set(id, await deps.dispatcher.deliver(id, ctx.signal))
    pending = pending.filter((id) => results.get(id)?.outcome === 'in-progress')
    if (pending.length === 0 || deps.now() >= deadline || ctx.signal.aborted) break
    await deps.sleep(100, ctx.signal)
  }
  return ids.map((id) => results.get(id)).filter((r): r is DeliveryResult => r !== undefined)
}

function replyOutcome(results: readonly DeliveryResult[]): ReplyOutcome {
  // A failed sink is what the audit trail must show, even when another sink took the alert.
  if (results.some((r) => r.outcome === 'failed')) return 'failed'
  if (results.some((r) => r.outcome === 'sent')) return 'sent'
  return 'suppressed'
}

function suppressedReason(decision: EventDecision, results: readonly DeliveryResult[]): string | null {
  if (decision.decisions.length === 0) return 'no route matches this alert'
  const grouped = decision.decisions.find((d) => d.action === 'suppress')?.reason
  const queued = results.find((r) => r.outcome === 'queued')?.reason
  return grouped ?? queued ?? null
}

export function toReply(event: CloudEventV1, s: AlertSubject, decision: EventDecision, results: readonly DeliveryResult[], now: number): CloudEventV1 {
  const outcome = replyOutcome(results)
  const type = outcome === 'sent' ? EVENT_TYPES.alertSent : outcome === 'failed' ? EVENT_TYPES.alertFailed : EVENT_TYPES.alertSuppressed
  const routeSinks = decision.decisions.flatMap((d) => d.notifications.map((n) => n.sink))
  const data: AlertReplyData = {
    fingerprint: s.fingerprint,
    kind: s.kind,
    severity: s.severity,
    category: s.category,
    namespace: s.namespace,
    workload: s.workload,
    reason: s.reason,
    subject: subjectPath(s),
    input: { source: event.source, id: event.id, type: event.type },
    sinks: [...new Set(routeSinks)],
    deliveries: results.map((r) => ({ route: r.route, sink: r.sink, outcome: r.outcome, reason: r.reason })),
    suppressedReason: outcome === 'suppressed' ? suppressedReason(decision, results) : null,
    occurrences: decision.decisions.reduce<number | null>((max, d) => (max === null || d.occurrences > max ? d.occurrences : max), null),
  }
  return {
    specversion: '1.0',
    // Derived from the input's (source, id) only: a redelivered input yields the same reply id.
    id: deterministicId(SOURCES.alert, event.source, event.id),
    source: SOURCES.alert,
    type,
    subject: subjectPath(s),
    time: new Date(now).toISOString(),
    datacontenttype: 'application/json',
    fingerprint: s.fingerprint,
    severity: s.severity,
    data,
  }
}

export async function handle(event: CloudEventV1, ctx: AlertContext): Promise<HandlerResult> {
  const { deps } = ctx
  const subject = subjectOf(event)
  // Not an alert input, or an info-level event: acknowledged, nothing to say (Triggers never send these).
  if (subject === undefined || subject === 'not-alertable') return undefined
  const routes = matchRoutes(deps.routing.routes, subject)
  const decision = await deps.store.decide({ source: event.source, id: event.id }, subject, routes, deps.now(), deps.build)
  if (decision.created) {
    for (const d of decision.decisions) {
      if (d.action !== 'suppress') continue
      const route = deps.routing.routes.find((r) => r.name === d.route)
      for (const sink of route?.sinks ?? []) deps.metrics.notifications.inc({ sink, outcome: 'suppressed' })
    }
  }
  const ids = decision.decisions.flatMap((d) => d.notifications.map((n) => n.id))
  const results = await deliverAll(ids, ctx)
  const retry = results.filter((r) => r.outcome === 'retry')
  if (retry.length > 0) {
    const after = Math.max(1, ...retry.map((r) => r.retryAfterSeconds ?? 5))
    if (retry.some((r) => r.status === 429)) throw alertError('SINK_RATE_LIMITED', `sink ${retry.map((r) => r.sink).join(', ')} asked to slow down`, after)
    throw alertError('SINK_UNAVAILABLE', `sink ${retry.map((r) => r.sink).join(', ')} unavailable: ${retry.map((r) => r.reason ?? '').join('; ')}`, after)
  }
  const busy = results.filter((r) => r.outcome === 'in-progress')
  if (busy.length > 0) {
    throw alertError('DELIVERY_IN_PROGRESS', 'another replica is sending this notification', Math.max(1, ...busy.map((r) => r.retryAfterSeconds ?? 1)))
  }
  ctx.log.debug({ fingerprint: subject.fingerprint, results: results.map((r) => ({ sink: r.sink, outcome: r.outcome })) }, 'alert handled')
  return toReply(event, subject, decision, results, deps.now())
}
