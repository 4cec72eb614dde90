// `kubectl rollout undo` semantics (k8s.io/kubectl/pkg/polymorphichelpers/rollback.go): the revision of a
// Deployment is the `deployment.kubernetes.io/revision` annotation of its ReplicaSets; undo copies the
// previous ReplicaSet's pod template (without the `pod-template-hash` label) into the Deployment. We add
// two refusals kubectl does not make: the failure must be on the newest revision, and the previous
// revision must have been healthy.
import type { V1Deployment, V1PodTemplateSpec, V1ReplicaSet } from '@kubernetes/client-node'
import type { ReasonCode } from './errors.js'
import { revisionsOf } from './live-state.js'

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
const TEMPLATE_HASH = 'pod-template-hash'

export type RollbackPlan =
  | { readonly ok: true; readonly fromRevision: number; readonly toRevision: number; readonly toReplicaSet: string; readonly template: V1PodTemplateSpec }
  | { readonly ok: false; readonly reason: ReasonCode; readonly detail: string }

function revisionOf(rs: V1ReplicaSet): number | undefined {
  const v = rs.metadata?.annotations?.[REVISION_ANNOTATION]
  const n = v === undefined ? NaN : Number(v)
  return Number.isInteger(n) && n > 0 ? n : undefined
}

function templateWithoutHash(t: V1PodTemplateSpec | undefined): V1PodTemplateSpec {
  const labels = { ...(t?.metadata?.labels ?? {}) }
  delete labels[TEMPLATE_HASH]
  return { ...t, metadata: { ...t?.metadata, labels } }
}

/**
 * Chooses the revision to roll back to. `failingHash` is the pod-template-hash of the failing pod, or
 * undefined when the Deployment itself reported the failure (its newest ReplicaSet does not progress).
 */
export function planRollback(deployment: V1Deployment, replicaSets: readonly V1ReplicaSet[], failingHash: string | undefined): RollbackPlan {
  const owned = revisionsOf(deployment, replicaSets)
    .map((rs) => ({ rs, revision: revisionOf(rs) }))
    .filter((x): x is { rs: V1ReplicaSet; revision: number } => x.revision !== undefined)
    .sort((a, b) => b.revision - a.revision)
  const newest = owned[0]
  if (newest === undefined) return { ok: false, reason: 'NO_HEALTHY_REVISION', detail: 'the Deployment has no ReplicaSet with a revision' }
  const newestHash = newest.rs.metadata?.labels?.[TEMPLATE_HASH]
  if (failingHash !== undefined && failingHash !== newestHash) {
    return { ok: false, reason: 'NOT_NEWEST_REVISION', detail: `the failing pod runs pod-template-hash ${failingHash}, the newest revision ${newest.revision} is ${newestHash ?? 'unknown'}` }
  }
  const previous = owned[1]
  if (previous === undefined) return { ok: false, reason: 'NO_HEALTHY_REVISION', detail: `revision ${newest.revision} is the only revision` }
  // Healthy = it still serves: during a stuck rolling update the old ReplicaSet keeps its ready pods. A
  // previous revision that was already scaled away gives no evidence either way, so it is refused.
  const ready = previous.rs.status?.readyReplicas ?? 0
  if (ready < 1) {
    return { ok: false, reason: 'NO_HEALTHY_REVISION', detail: `previous revision ${previous.revision} (${previous.rs.metadata?.name ?? '?'}) has no ready pods` }
  }
  return {
    ok: true,
    fromRevision: newest.revision,
    toRevision: previous.revision,
    toReplicaSet: previous.rs.metadata?.name ?? '',
    template: templateWithoutHash(previous.rs.spec?.template),
  }
}
