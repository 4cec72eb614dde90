// alert_notifications_total{sink, outcome} (contracts-extra.md "Metrics").
import { Counter, Registry } from 'prom-client'

export type NotificationOutcome = 'sent' | 'suppressed' | 'failed'

export interface AlertMetrics {
  readonly notifications: Counter<'sink' | 'outcome'>
  /** Makes the counter visible on the host's /metrics (idempotent). */
  attach(registry: Registry): void
}

export function alertMetrics(): AlertMetrics {
  const own = new Registry()
  const notifications = new Counter({
    name: 'alert_notifications_total',
    help: 'Notifications by sink and outcome (sent, suppressed by grouping or folded into a digest, failed).',
    labelNames: ['sink', 'outcome'] as const,
    registers: [own],
  })
  const attached = new WeakSet<Registry>()
  return {
    notifications,
    attach(registry) {
      if (attached.has(registry) || registry.getSingleMetric('alert_notifications_total') !== undefined) return
      registry.registerMetric(notifications)
      attached.add(registry)
    },
  }
}
