// The summary `kube-reflex dev --json` prints (DESIGN.md "Command line"), counted from what crosses the
// broker: replies of the functions (deduplicated on id, as every consumer must), acknowledged deliveries
// to persist, dead letters, and failures. Beyond DESIGN.md's fields it reports `inputToStoredMs`: for each
// input, the time from the broker taking it from the source to persist acknowledging (= committing) the
// classified event made from it, and `elapsedMs`: from the first input taken to the end of the latest
// delivery — the pipeline's own time, without start-up and shutdown (what a throughput figure divides by).
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
  /** Input → classified event stored by persist, in milliseconds (inputs accepted in this run). */
  inputToStoredMs?: LatencySummary
  /** From the first input taken from the source to the end of the latest delivery, in milliseconds. */
  elapsedMs?: number
}

export interface LatencySummary {
  readonly count: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/**
 * Latencies in a fixed histogram — 0.1 ms buckets up to 10 s, 10 ms buckets up to one hour, one overflow
 * bucket: memory does not grow with the number of events (a soak runs millions), and quantiles are exact
 * to the bucket width. A quantile that falls in the overflow bucket is reported as the maximum seen.
 */
export class LatencyHistogram {
  private static readonly FINE = 100_000 // 0.1 ms × 100,000 = 10 s
  private static readonly COARSE = 359_000 // 10 ms × 359,000 = 3,590 s more
  private readonly counts = new Uint32Array(LatencyHistogram.FINE + LatencyHistogram.COARSE + 1)
  private n = 0
  private maxMs = 0

  record(ms: number): void {
    const v = Math.max(0, ms)
    const i = v < 10_000 ? Math.floor(v * 10) : Math.min(LatencyHistogram.FINE + LatencyHistogram.COARSE, LatencyHistogram.FINE + Math.floor((v - 10_000) / 10))
    this.counts[i] = (this.counts[i] ?? 0) + 1
    this.n++
    if (v > this.maxMs) this.maxMs = v
  }

  get count(): number {
    return this.n
  }

  /** The upper bound (ms) of the bucket holding the value of rank ⌈q·n⌉, never above the maximum seen. */
  quantile(q: number): number {
    if (this.n === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0
      if (seen < rank) continue
      if (i >= LatencyHistogram.FINE + LatencyHistogram.COARSE) return this.maxMs
      const upper = i < LatencyHistogram.FINE ? (i + 1) / 10 : 10_000 + (i - LatencyHistogram.FINE + 1) * 10
      return Math.min(this.maxMs, upper)
    }
    return this.maxMs
  }

  summary(): LatencySummary {
    const r = (x: number): number => Math.round(x * 10) / 10
    return { count: this.n, p50: r(this.quantile(0.5)), p99: r(this.quantile(0.99)), max: r(this.maxMs) }
  }
}

/**
 * Remembers the last `capacity`..2×`capacity` keys (two generations): duplicates come from redeliveries,
 * which happen within seconds, so a bounded window deduplicates them while memory stays flat however long
 * `dev` runs.
 */
export class RecentKeys {
  private current = new Set<string>()
  private previous = new Set<string>()
  constructor(private readonly capacity = 200_000) {}

  /** True when `key` was not seen (within the window) and is now remembered. */
  add(key: string): boolean {
    if (this.current.has(key) || this.previous.has(key)) return false
    if (this.current.size >= this.capacity) {
      this.previous = this.current
      this.current = new Set()
    }
    this.current.add(key)
    return true
  }
}

export interface SummaryCounter extends BrokerObserver {
  readonly summary: Summary
  delivered(report: DeliveryReport): void
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
  const seenReplies = new RecentKeys()
  const seenPersisted = new RecentKeys()
  const latency = new LatencyHistogram()
  const categories = new Map<string, number>()
  let lastLag: number | undefined
  let firstInputAt: number | undefined
  let lastDeliveryAt: number | undefined
  const countReply = (e: CloudEventV1): void => {
    if (!seenReplies.add(`${e.source}\u0000${e.id}`)) return
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
    get summary(): Summary {
      const out: Summary = latency.count === 0 ? { ...summary } : { ...summary, inputToStoredMs: latency.summary() }
      if (firstInputAt !== undefined && lastDeliveryAt !== undefined) out.elapsedMs = Math.max(0, lastDeliveryAt - firstInputAt)
      return out
    },
    categories,
    get lastLagSeconds() {
      return lastLag
    },
    error() {
      summary.errors++
    },
    accepted(event, origin) {
      if (origin === 'source') {
        summary.received++
        firstInputAt ??= now()
      } else countReply(event)
    },
    delivered(r: DeliveryReport) {
      const at = now()
      lastDeliveryAt = at
      const arrival = typeof r.event.knativearrivaltime === 'string' ? Date.parse(r.event.knativearrivaltime) : NaN
      if (!Number.isNaN(arrival)) lastLag = Math.max(0, at - arrival) / 1000
      if (r.outcome === 'dead-lettered') summary.deadLettered++
      else if (r.outcome === 'failed') summary.errors++
      else if (persistTriggers.has(r.trigger)) {
        const key = `${r.event.source}\u0000${r.event.id}`
        if (seenPersisted.add(key)) {
          summary.persisted++
          // persist answers after the commit: this is when the classified event of that input is stored.
          if (r.event.type === CLASSIFIED && r.origin !== undefined) latency.record(at - r.origin)
        }
      }
    },
    dropped() {
      summary.errors++
    },
  }
}
