// The pure core of classify: one occurrence + rules → the normalized classified data (or nothing).
import type { ClassifiedData, RecoveryAction, WorkloadRef } from '../../shared/contracts.js'
import { stableHash } from '../../shared/ids.js'
import { firstMatch, type Rule } from './rules.js'
import type { Occurrence } from './signals.js'
import { workloadOf } from './workload.js'

const RESTARTABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])

/** The rule recommends; the workload decides whether the recommendation can be carried out at all. */
export function feasibleAction(action: RecoveryAction, objectKind: string, workload: WorkloadRef | null): RecoveryAction {
  switch (action) {
    case 'restart-pod':
      // Evicting a bare pod deletes it for good: only pods that a controller recreates qualify.
      return objectKind === 'Pod' && workload !== null ? 'restart-pod' : 'none'
    case 'rollout-restart':
      return workload !== null && RESTARTABLE.has(workload.kind) ? 'rollout-restart' : 'none'
    case 'rollback':
      return workload?.kind === 'Deployment' ? 'rollback' : 'none'
    case 'none':
      return 'none'
  }
}

export interface ClassifyInput {
  readonly occurrence: Occurrence
  readonly input: { readonly source: string; readonly id: string; readonly type: string }
  readonly cluster: string
}

export function classifyOccurrence(rules: readonly Rule[], { occurrence, input, cluster }: ClassifyInput): ClassifiedData | undefined {
  const hit = firstMatch(rules, occurrence.signals)
  if (hit === undefined) return undefined
  const { rule, signal } = hit
  const object = occurrence.object
  const workload = workloadOf(object, occurrence.owners, occurrence.labels)
  const clusterName = occurrence.cluster ?? cluster
  const target = workload ?? { kind: object.kind, name: object.name }
  return {
    cluster: clusterName,
    namespace: object.namespace,
    object,
    workload,
    container: signal.container,
    reason: signal.reason,
    message: signal.message,
    eventType: signal.eventType,
    firstTime: occurrence.firstTime,
    lastTime: occurrence.lastTime,
    count: occurrence.count,
    reportingComponent: signal.component,
    reportingHost: signal.host,
    severity: rule.severity,
    category: rule.category,
    action: feasibleAction(rule.action, object.kind, workload),
    rule: rule.name,
    runbook: rule.runbook,
    // Same problem (category) on the same workload, whichever pod or reason reported it.
    fingerprint: stableHash(clusterName, object.namespace ?? '', target.kind, target.name, rule.category),
    input,
  }
}
