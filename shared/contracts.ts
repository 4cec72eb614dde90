// Event contracts between the functions (DESIGN.md "Contracts"). Types and constants only.

export const EVENT_TYPES = {
  classified: 'dev.kubereflex.event.classified',
  alertSent: 'dev.kubereflex.alert.sent',
  alertSuppressed: 'dev.kubereflex.alert.suppressed',
  alertFailed: 'dev.kubereflex.alert.failed',
  recoveryPlanned: 'dev.kubereflex.recovery.planned',
  recoveryPerformed: 'dev.kubereflex.recovery.performed',
  recoverySkipped: 'dev.kubereflex.recovery.skipped',
  recoveryFailed: 'dev.kubereflex.recovery.failed',
} as const

export const INPUT_TYPES = {
  resourceAdd: 'dev.knative.apiserver.resource.add',
  resourceUpdate: 'dev.knative.apiserver.resource.update',
  resourceDelete: 'dev.knative.apiserver.resource.delete',
  refAdd: 'dev.knative.apiserver.ref.add',
  refUpdate: 'dev.knative.apiserver.ref.update',
  refDelete: 'dev.knative.apiserver.ref.delete',
  kafka: 'dev.knative.kafka.event',
  ping: 'dev.knative.sources.ping',
} as const

export const SOURCES = {
  classify: '/kube-reflex/classify',
  alert: '/kube-reflex/alert',
  autoRecover: '/kube-reflex/auto-recover',
  persist: '/kube-reflex/persist',
} as const

export const SEVERITIES = ['critical', 'warning', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

export const CATEGORIES = [
  'crashloop',
  'oom',
  'image',
  'config',
  'volume',
  'node',
  'network',
  'job',
  'rollout',
  'probe',
  'scheduling',
  'eviction',
  'autoscaling',
  'lifecycle',
  'other',
] as const
export type Category = (typeof CATEGORIES)[number]

export const ACTIONS = ['restart-pod', 'rollout-restart', 'rollback', 'none'] as const
export type RecoveryAction = (typeof ACTIONS)[number]

export interface ObjectRef {
  readonly kind: string
  readonly name: string
  readonly namespace: string | null
  readonly uid: string | null
  readonly apiVersion: string | null
}

export interface WorkloadRef {
  readonly kind: string
  readonly name: string
  /** true when derived from naming conventions (pod-template-hash) rather than owner references. */
  readonly inferred: boolean
}

/** `data` of a `dev.kubereflex.event.classified` event: the normalized occurrence. */
export interface ClassifiedData {
  readonly cluster: string
  readonly namespace: string | null
  readonly object: ObjectRef
  readonly workload: WorkloadRef | null
  readonly container: string | null
  readonly reason: string
  readonly message: string
  /** Kubernetes event type as written by the reporter (Normal|Warning), or 'Status' for object status. */
  readonly eventType: string
  readonly firstTime: string | null
  readonly lastTime: string | null
  readonly count: number
  readonly reportingComponent: string | null
  readonly reportingHost: string | null
  readonly severity: Severity
  readonly category: Category
  readonly action: RecoveryAction
  /** Name of the rule that matched. */
  readonly rule: string
  readonly runbook: string | null
  /** Same problem on the same workload: the key for grouping, cooldowns and problem views. */
  readonly fingerprint: string
  /** Where this came from: `source` + `id` of the input event (dedup key upstream), and its type. */
  readonly input: { readonly source: string; readonly id: string; readonly type: string }
}
