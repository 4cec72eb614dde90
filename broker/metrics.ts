// The local broker's own metrics, on the same registry (and so the same /metrics) as the functions.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export interface BrokerMetrics {
  readonly accepted: Counter<'origin'>
  readonly dropped: Counter<'reason'>
  readonly deliveries: Counter<'trigger' | 'outcome'>
  readonly attempts: Counter<'trigger' | 'status'>
  readonly attemptDuration: Histogram<'trigger'>
  readonly lag: Histogram<'trigger'>
  readonly queueDepth: Gauge
  readonly inFlight: Gauge
}

export function brokerMetrics(registry: Registry, depth: () => number, inFlight: () => number): BrokerMetrics {
  const existing = registry.getSingleMetric('broker_queue_depth')
  if (existing !== undefined) registry.removeSingleMetric('broker_queue_depth')
  for (const n of ['broker_events_accepted_total', 'broker_events_dropped_total', 'broker_deliveries_total', 'broker_delivery_attempts_total', 'broker_delivery_attempt_duration_seconds', 'broker_delivery_lag_seconds', 'broker_inflight_deliveries']) {
    if (registry.getSingleMetric(n) !== undefined) registry.removeSingleMetric(n)
  }
  return {
    accepted: new Counter({ name: 'broker_events_accepted_total', help: 'Events durably accepted by the local broker, by origin (source = ingress, reply = a subscriber reply).', labelNames: ['origin'], registers: [registry] }),
    dropped: new Counter({ name: 'broker_events_dropped_total', help: 'Events the broker refused or dropped, by reason (ttl = knativebrokerttl exhausted, invalid).', labelNames: ['reason'], registers: [registry] }),
    deliveries: new Counter({
      name: 'broker_deliveries_total',
      help: 'Finished deliveries of an event to a Trigger subscriber, by outcome (ack, reply, dead-lettered, failed).',
      labelNames: ['trigger', 'outcome'],
      registers: [registry],
    }),
    attempts: new Counter({ name: 'broker_delivery_attempts_total', help: 'HTTP attempts to subscribers, by answer status (0 = network error or timeout).', labelNames: ['trigger', 'status'], registers: [registry] }),
    attemptDuration: new Histogram({
      name: 'broker_delivery_attempt_duration_seconds',
      help: 'Duration of one HTTP attempt to a subscriber.',
      labelNames: ['trigger'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Histogram({
      name: 'broker_delivery_lag_seconds',
      help: 'End-to-end lag inside the broker: from knativearrivaltime to the delivery being finished (queueing, retries, processing).',
      labelNames: ['trigger'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'broker_queue_depth',
      help: 'Events accepted and not yet delivered to every matching Trigger.',
      registers: [registry],
      collect() {
        this.set(depth())
      },
    }),
    inFlight: new Gauge({
      name: 'broker_inflight_deliveries',
      help: 'Deliveries currently being attempted or waiting for a retry.',
      registers: [registry],
      collect() {
        this.set(inFlight())
      },
    }),
  }
}
