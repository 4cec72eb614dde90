// Prometheus metrics with the names our PrometheusRule and Grafana dashboard use (docs/METRICS.md).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface HostMetrics {
  readonly registry: Registry
  readonly received: Counter<'function' | 'type'>
  readonly failures: Counter<'function' | 'code'>
  readonly replies: Counter<'function' | 'type'>
  readonly duration: Histogram<'function' | 'type' | 'outcome'>
  readonly lag: Histogram<'function'>
}

const registries = new WeakMap<Registry, HostMetrics>()

/** One set of host metrics per registry: `serve all` shares it between functions (label `function`). */
export function hostMetrics(registry: Registry = new Registry(), withDefaults = true): HostMetrics {
  const existing = registries.get(registry)
  if (existing !== undefined) return existing
  if (withDefaults) collectDefaultMetrics({ register: registry })
  const metrics: HostMetrics = {
    registry,
    received: new Counter({ name: 'events_received_total', help: 'CloudEvents received, by function and type.', labelNames: ['function', 'type'], registers: [registry] }),
    failures: new Counter({ name: 'event_processing_failures_total', help: 'Events that were rejected or failed, by stable error code.', labelNames: ['function', 'code'], registers: [registry] }),
    replies: new Counter({ name: 'event_replies_total', help: 'Reply events sent back to the broker, by type.', labelNames: ['function', 'type'], registers: [registry] }),
    duration: new Histogram({
      name: 'event_processing_duration_seconds',
      help: 'Time from request to answer, by function, event type and outcome.',
      labelNames: ['function', 'type', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'event_lag_seconds',
      help: "Now minus the event's `time`: end-to-end lag from the occurrence to this function.",
      labelNames: ['function'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers: [registry],
    }),
  }
  registries.set(registry, metrics)
  return metrics
}

export { Counter, Gauge, Histogram, Registry }
