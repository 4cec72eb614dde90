// auto-recover's own metrics (names fixed in contracts-extra.md). Created unregistered and registered on
// the host's registry when mounted, so `serve all` exposes them next to the host metrics.
import { Counter, Gauge, type Registry } from 'prom-client'

export interface RecoveryMetrics {
  readonly actions: Counter<'action' | 'outcome' | 'reason'>
  readonly budgetRemaining: Gauge<'scope'>
  register(registry: Registry): void
}

export function recoveryMetrics(): RecoveryMetrics {
  const actions = new Counter({
    name: 'recovery_actions_total',
    help: 'Recovery decisions by action, outcome (planned|performed|skipped|failed) and reason code.',
    labelNames: ['action', 'outcome', 'reason'] as const,
    registers: [],
  })
  const budgetRemaining = new Gauge({
    name: 'recovery_budget_remaining',
    help: 'Recovery actions left in the current budget window (scope=global).',
    labelNames: ['scope'] as const,
    registers: [],
  })
  return {
    actions,
    budgetRemaining,
    register(registry) {
      if (registry.getSingleMetric('recovery_actions_total') === undefined) registry.registerMetric(actions)
      if (registry.getSingleMetric('recovery_budget_remaining') === undefined) registry.registerMetric(budgetRemaining)
    },
  }
}
