// The summary `kube-reflex dev --json` prints (DESIGN.md "Command line"), counted from what crosses the
// broker: replies of the functions (deduplicated on id, as every consumer must), acknowledged deliveries
// to persist, dead letters, and failures.
import type { CloudEventV1 } from '../shared/cloudevent.js'
import type { BrokerObserver, DeliveryReport } from './broker.js'

export interface Summary {
  received: number
  classified: { critical: number; warning: number; info: number }
  alerts: { sent: number; suppressed: number; failed: number }
  recoveries: { planned: number; performed: number; skipped: number; failed: number }
  persisted: number
  deadLettered: number
  errors: number
}

export interface SummaryCounter extends BrokerObserver {
  readonly summary: Summary
  /** Count a problem outside the broker (bad input line, source failure). */
  error(): void
  /** Seconds from knativearrivaltime to the end of the latest delivery. */
  readonly lastLagSeconds: number | undefined
  /** Per classified category, for the live view. */
  readonly categories: ReadonlyMap<string, number>
}

const CLASSIFIED = 'dev.kubereflex.event.classified'
const ALERT = 'dev.kubereflex.alert.'
const RECOVERY = 'dev.kubereflex.recovery.'

export function summaryCounter(persistTriggers: ReadonlySet<string>, now: () => number = Date.now): SummaryCounter {
  const summary: Summary = {
    received: 0,
    classified: { critical: 0, warning: 0, info: 0 },
    alerts: { sent: 0, suppressed: 0, failed: 0 },
    recoveries: { planned: 0, performed: 0, skipped: 0, failed: 0 },
    persisted: 0,
    deadLettered: 0,
    errors: 0,
  }
  const seenReplies = new Set<string>()
  const seenPersisted = new Set<string>()
  const categories = new Map<string, number>()
  let lastLag: number | undefined
  const countReply = (e: CloudEventV1): void => {
    const key = `${e.source}\u0000${e.id}`
    if (seenReplies.has(key)) return
    seenReplies.add(key)
    if (e.type === CLASSIFIED) {
      const sev = e.severity
      if (sev === 'critical' || sev === 'warning' || sev === 'info') summary.classified[sev]++
      if (typeof e.category === 'string') categories.set(e.category, (categories.get(e.category) ?? 0) + 1)
    } else if (e.type.startsWith(ALERT)) {
      const k = e.type.slice(ALERT.length)
      if (k === 'sent' || k === 'suppressed' || k === 'failed') summary.alerts[k]++
    } else if (e.type.startsWith(RECOVERY)) {
      const k = e.type.slice(RECOVERY.length)
      if (k === 'planned' || k === 'performed' || k === 'skipped' || k === 'failed') summary.recoveries[k]++
    }
  }
  return {
    summary,
    categories,
    get lastLagSeconds() {
      return lastLag
    },
    error() {
      summary.errors++
    },
    accepted(event, origin) {
      if (origin === 'source') summary.received++
      else countReply(event)
    },
    delivered(r: DeliveryReport) {
      const arrival = typeof r.event.knativearrivaltime === 'string' ? Date.parse(r.event.knativearrivaltime) : NaN
      if (!Number.isNaN(arrival)) lastLag = Math.max(0, now() - arrival) / 1000
      if (r.outcome === 'dead-lettered') summary.deadLettered++
      else if (r.outcome === 'failed') summary.errors++
      else if (persistTriggers.has(r.trigger)) {
        const key = `${r.event.source}\u0000${r.event.id}`
        if (!seenPersisted.has(key)) {
          seenPersisted.add(key)
          summary.persisted++
        }
      }
    },
    dropped() {
      summary.errors++
    },
  }
}
