// Prometheus metrics with the names our PrometheusRule and Grafana dashboard use (README "The contract").
//
// The host records five series per event. prom-client's inc/observe validate the label object and build a
// hash string from it on every call (≈ 5 µs per event on the HTTP path); the host's metrics instead keep
// plain numbers per label series, found by their label values, and hand them to prom-client's registry
// when /metrics is scraped. The text exposition is prom-client's own (same names, labels, order, buckets;
// a test compares it with prom-client's Counter and Histogram fed the same values).
//
// prom-client itself (≈ 80 KB with the @opentelemetry/api it requires) is loaded only when a registry is
// needed: the host's own metrics (hostMetrics() without a registry) create theirs on first use — a scrape,
// a function that registers metrics of its own, or shortly after the server listens (host.ts) — so a
// function that scales from zero answers its first event without loading it (issue 9, cold start).
import type { Counter, Registry } from 'prom-client'
import { promClient } from './prom-client-sync.js'

/**
 * Label series found by their values, one map level per label (up to three; absent labels are ''): no key
 * is concatenated per event, and no two value tuples can collide. Series are kept in first-seen order.
 */
class SeriesIndex<S> {
  readonly all: S[] = []
  private readonly root = new Map<string, Map<string, Map<string, S>>>()

  /** `make` builds a new series from its label values (given once: no closure per event). */
  constructor(private readonly make: (a: string, b: string, c: string) => S) {}

  get(a: string, b: string, c: string): S {
    let level1 = this.root.get(a)
    if (level1 === undefined) this.root.set(a, (level1 = new Map<string, Map<string, S>>()))
    let level2 = level1.get(b)
    if (level2 === undefined) level1.set(b, (level2 = new Map<string, S>()))
    let s = level2.get(c)
    if (s === undefined) {
      s = this.make(a, b, c)
      level2.set(c, s)
      this.all.push(s)
    }
    return s
  }
}

function labelsOf(names: readonly string[], a: string, b: string, c: string): Record<string, string> {
  // In labelNames order: prom-client prints labels in the order of this object's keys.
  const labels: Record<string, string> = {}
  const values = [a, b, c]
  names.forEach((name, i) => {
    labels[name] = values[i] ?? ''
  })
  return labels
}

interface CounterSeries {
  readonly labels: Record<string, string>
  pending: number
}

/**
 * A counter incremented by label values (in labelNames order). The counts wait in plain numbers and are
 * added to prom-client's Counter when the registry collects it, so the exposition is prom-client's.
 */
export class EventCounter {
  private readonly series: SeriesIndex<CounterSeries>

  /** Without a registry the counts wait until `register` is called (see hostMetrics). */
  constructor(
    registry: Registry | undefined,
    private readonly config: { name: string; help: string; labelNames: readonly string[] },
  ) {
    const names = config.labelNames
    this.series = new SeriesIndex((a, b, c) => ({ labels: labelsOf(names, a, b, c), pending: 0 }))
    if (registry !== undefined) this.register(registry)
  }

  /** Registers prom-client's Counter that takes the waiting counts when the registry collects it. */
  register(registry: Registry): void {
    const series = this.series
    const { Counter: PromCounter } = promClient()
    void new PromCounter({
      name: this.config.name,
      help: this.config.help,
      labelNames: this.config.labelNames,
      registers: [registry],
      collect(this: Counter) {
        for (const s of series.all) {
          if (s.pending === 0) continue
          this.inc(s.labels, s.pending)
          s.pending = 0
        }
      },
    })
  }

  /** Adds one to the series with these label values (as many as labelNames has). */
  inc(a: string, b = '', c = ''): void {
    this.series.get(a, b, c).pending++
  }
}

interface HistogramSeries {
  readonly labels: Record<string, string>
  /** Observations per bucket (not cumulative); the last slot counts those above the largest bound. */
  readonly counts: number[]
  sum: number
  count: number
}

/** One line of prom-client's histogram export (what its Registry formats). */
interface ExportValue {
  labels: Record<string, string | number>
  sharedLabels: Record<string, string>
  value: number
  metricName: string
  exemplar: null | undefined
}

/**
 * A histogram observed by label values (in labelNames order), exported in prom-client's histogram format
 * by prom-client's Registry: `_bucket` lines with `le` first and the series' labels after, `+Inf`, `_sum`,
 * `_count`, series in the order they were first observed.
 */
export class EventHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly name: string
  readonly help: string
  private readonly labelNames: readonly string[]
  private readonly bounds: readonly number[]
  private series: SeriesIndex<HistogramSeries>

  /** Without a registry, observations are kept until `register` is called (see hostMetrics). */
  constructor(registry: Registry | undefined, config: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] }) {
    this.name = config.name
    this.help = config.help
    this.labelNames = config.labelNames
    this.bounds = [...config.buckets]
    this.series = this.newIndex()
    if (registry !== undefined) this.register(registry)
  }

  register(registry: Registry): void {
    // prom-client's own constructor checks the name, the label names and the buckets; the instance itself is
    // not registered (registers: []).
    const { Histogram } = promClient()
    void new Histogram({ name: this.name, help: this.help, labelNames: this.labelNames, buckets: [...this.bounds], registers: [] })
    // The Registry needs only name, type, get/getForPromString and reset; its type asks for a prom-client class.
    registry.registerMetric(this as unknown as InstanceType<typeof Histogram>)
  }

  private newIndex(): SeriesIndex<HistogramSeries> {
    return new SeriesIndex((a, b, c) => ({ labels: labelsOf(this.labelNames, a, b, c), counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }))
  }

  /** Observes a value in the series with these label values (as many as labelNames has). */
  observe(value: number, a: string, b = '', c = ''): void {
    if (!Number.isFinite(value)) return
    const s = this.series.get(a, b, c)
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++
    s.counts[i] = (s.counts[i] ?? 0) + 1
    s.sum += value
    s.count++
  }

  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: ExportValue[]; aggregator: 'sum' }> {
    const values: ExportValue[] = []
    const bucket = `${this.name}_bucket`
    for (const s of this.series.all) {
      let acc = 0
      this.bounds.forEach((le, i) => {
        acc += s.counts[i] ?? 0
        values.push({ labels: { le }, sharedLabels: s.labels, value: acc, metricName: bucket, exemplar: null })
      })
      values.push({ labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucket, exemplar: null })
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined })
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined })
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator })
  }

  /** prom-client's JSON form (Registry.getMetricsAsJSON): each line's series labels merged into its own. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: { labels: Record<string, string | number>; value: number; metricName: string; exemplar: null | undefined }[]; aggregator: 'sum' }> {
    const data = await this.getForPromString()
    return { ...data, values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) }
  }

  reset(): void {
    this.series = this.newIndex()
  }
}

export interface HostMetrics {
  /** prom-client's registry; created (and prom-client loaded) on first access when hostMetrics made it. */
  readonly registry: Registry
  /** (function, type) */
  readonly received: EventCounter
  /** (function, code) */
  readonly failures: EventCounter
  /** (function, type) */
  readonly replies: EventCounter
  /** (function, type, outcome) */
  readonly duration: EventHistogram
  /** (function) */
  readonly lag: EventHistogram
}

const registries = new WeakMap<Registry, HostMetrics>()

function eventMetrics(registry: Registry | undefined): Omit<HostMetrics, 'registry'> {
  return {
    received: new EventCounter(registry, { name: 'events_received_total', help: 'CloudEvents received, by function and type.', labelNames: ['function', 'type'] }),
    failures: new EventCounter(registry, { name: 'event_processing_failures_total', help: 'Events that were rejected or failed, by stable error code.', labelNames: ['function', 'code'] }),
    replies: new EventCounter(registry, { name: 'event_replies_total', help: 'Reply events sent back to the broker, by type.', labelNames: ['function', 'type'] }),
    duration: new EventHistogram(registry, {
      name: 'event_processing_duration_seconds',
      help: 'Time from request to answer, by function, event type and outcome.',
      labelNames: ['function', 'type', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
    lag: new EventHistogram(registry, {
      name: 'event_lag_seconds',
      help: "Now minus the event's `time`: end-to-end lag from the occurrence to this function.",
      labelNames: ['function'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    }),
  }
}

/**
 * One set of host metrics per registry: `serve all` shares it between functions (label `function`). Without
 * a registry, a new one (with Node's default metrics when `withDefaults`) is made on the first read of
 * `registry`; until then the events are counted in plain numbers, which that registry then shows.
 */
export function hostMetrics(registry?: Registry, withDefaults = true): HostMetrics {
  if (registry === undefined) {
    const events = eventMetrics(undefined)
    let made: Registry | undefined
    const metrics: HostMetrics = {
      ...events,
      get registry(): Registry {
        if (made === undefined) {
          const prom = promClient()
          const r = new prom.Registry()
          if (withDefaults) prom.collectDefaultMetrics({ register: r })
          // In the order an eagerly made registry lists them (the exposition's order).
          for (const m of [events.received, events.failures, events.replies, events.duration, events.lag]) m.register(r)
          registries.set(r, metrics)
          made = r
        }
        return made
      },
    }
    return metrics
  }
  const existing = registries.get(registry)
  if (existing !== undefined) return existing
  if (withDefaults) promClient().collectDefaultMetrics({ register: registry })
  const metrics: HostMetrics = { registry, ...eventMetrics(registry) }
  registries.set(registry, metrics)
  return metrics
}
