// Reading the live state before acting (issue 6: "re-reads the live state first, and does nothing if the
// problem is already gone"): is a pod or workload still failing, and which controller really owns it.
// Pure functions over the objects the API server returned.
import type { V1Deployment, V1ObjectMeta, V1OwnerReference, V1Pod, V1ContainerStatus, V1ReplicaSet } from '@kubernetes/client-node'

// Waiting reasons that mean "this container will not come up by itself" (kubelet's reasons, see
// pkg/kubelet/kuberuntime and images/types.go). ContainerCreating/PodInitializing are normal start-up.
const FAILING_WAITING = new Set([
  'CrashLoopBackOff',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
])

function failingContainer(s: V1ContainerStatus): string | undefined {
  const waiting = s.state?.waiting?.reason
  if (waiting !== undefined && FAILING_WAITING.has(waiting)) return `${s.name}: ${waiting}`
  const last = s.lastState?.terminated
  // Restarting after a crash or an OOM kill and not ready (yet): still the problem, even between back-offs.
  if (!s.ready && last !== undefined && s.restartCount > 0) return `${s.name}: restarted after ${last.reason ?? `exit ${last.exitCode}`}`
  if (s.state?.terminated !== undefined && s.state.terminated.exitCode !== 0) return `${s.name}: terminated ${s.state.terminated.reason ?? `exit ${s.state.terminated.exitCode}`}`
  return undefined
}

/** Why the pod is still in trouble, or undefined when it is healthy (or finished successfully). */
export function podProblem(pod: V1Pod): string | undefined {
  const status = pod.status
  if (pod.metadata?.deletionTimestamp !== undefined) return undefined // already going away: nothing to do
  if (status?.phase === 'Succeeded') return undefined
  if (status?.phase === 'Failed') return `pod failed${status.reason === undefined ? '' : `: ${status.reason}`}`
  for (const s of [...(status?.initContainerStatuses ?? []), ...(status?.containerStatuses ?? [])]) {
    const why = failingContainer(s)
    if (why !== undefined) return why
  }
  // Probe failures: running but not ready (the Ready condition is the kubelet's verdict).
  const ready = status?.conditions?.find((c) => c.type === 'Ready')
  const running = (status?.containerStatuses ?? []).some((s) => s.state?.running !== undefined)
  if (status?.phase === 'Running' && running && ready?.status === 'False') return `not ready${ready.reason === undefined ? '' : `: ${ready.reason}`}`
  return undefined
}

/** Why the Deployment's rollout is in trouble, or undefined when it progresses and is available. */
export function deploymentProblem(d: V1Deployment): string | undefined {
  const conditions = d.status?.conditions ?? []
  const progressing = conditions.find((c) => c.type === 'Progressing')
  if (progressing?.status === 'False') return `Progressing=False${progressing.reason === undefined ? '' : ` (${progressing.reason})`}`
  const available = conditions.find((c) => c.type === 'Available')
  if (available?.status === 'False') return `Available=False${available.reason === undefined ? '' : ` (${available.reason})`}`
  const unavailable = d.status?.unavailableReplicas ?? 0
  if (unavailable > 0) return `${unavailable} replica(s) unavailable`
  return undefined
}

export function controllerOf(meta: V1ObjectMeta | undefined): V1OwnerReference | undefined {
  return meta?.ownerReferences?.find((o) => o.controller === true)
}

/** The Deployment's revisions: the ReplicaSets among `replicaSets` whose controller is this very Deployment (same uid). */
export function revisionsOf(deployment: V1Deployment, replicaSets: readonly V1ReplicaSet[]): V1ReplicaSet[] {
  const uid = deployment.metadata?.uid
  return uid === undefined ? [] : replicaSets.filter((rs) => controllerOf(rs.metadata)?.uid === uid)
}

/** `matchLabels` of a selector as a label selector string (matchExpressions are not needed for our lookups). */
export function selectorString(matchLabels: Readonly<Record<string, string>> | undefined): string | undefined {
  const entries = Object.entries(matchLabels ?? {})
  if (entries.length === 0) return undefined
  return entries.map(([k, v]) => `${k}=${v}`).join(',')
}
