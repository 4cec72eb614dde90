// The Kubernetes calls auto-recover makes, behind a small interface so the decision logic can be tested
// without a cluster, and the real implementation: client-node's KubeConfig (kubeconfig or in-cluster, its
// authentication) with the requests themselves as plain JSON (shared/kube-rest.ts), loaded on first use.
// client-node's generated API is not loaded: it is most of auto-recover's cold start with a cluster
// (issue 9). The types are still client-node's. Every mutating call takes `dryRun`: true sends
// `dryRun=All`, so the API server runs authentication, RBAC, admission and PDB checks but persists nothing.
import type { V1CronJob, V1DaemonSet, V1Deployment, V1Job, V1Namespace, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node'
import { connectKube, JSON_PATCH, kubeStatus, MERGE_PATCH, seg, type Query } from '../../shared/kube-rest.js'
import type { KubeSource } from './config.js'

export type RestartableKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'
export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet | V1ReplicaSet | V1Job

/**
 * The controllers auto-recover reads (their opt-in marks, selector, revisions): the targets the Actions table
 * of docs/AUTO-RECOVER.md lists, with their API group and resource. A pod run by anything else has a
 * controller whose opt-out mark cannot be read, so it is not acted on.
 */
const WORKLOADS = {
  Deployment: { group: 'apps', resource: 'deployments' },
  StatefulSet: { group: 'apps', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', resource: 'daemonsets' },
  ReplicaSet: { group: 'apps', resource: 'replicasets' },
  Job: { group: 'batch', resource: 'jobs' },
} as const
export type WorkloadKind = keyof typeof WORKLOADS

/**
 * The workload kind of `kind`, or undefined when auto-recover does not read it. Own keys only (a kind named
 * `constructor` is not one). With `apiVersion` (an owner reference's), its group must be the kind's too: a
 * `batch.volcano.sh` Job is not a batch/v1 Job.
 */
export function workloadKind(kind: string, apiVersion?: string): WorkloadKind | undefined {
  if (!Object.hasOwn(WORKLOADS, kind)) return undefined
  const known = kind as WorkloadKind
  if (apiVersion === undefined) return known
  return apiGroup(apiVersion) === WORKLOADS[known].group ? known : undefined
}

/** The API group of an `apiVersion` (`batch/v1` → `batch`; the core group's `v1` → ''). */
export function apiGroup(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : ''
}

export interface AuditEvent {
  readonly namespace: string
  readonly involved: { readonly kind: string; readonly name: string; readonly uid: string | undefined; readonly apiVersion: string }
  /** Deterministic: a redelivered decision does not write a second Event. */
  readonly name: string
  readonly type: 'Normal' | 'Warning'
  readonly reason: string
  readonly message: string
  readonly action: string
  readonly time: Date
}

export interface RecoveryCluster {
  readPod(namespace: string, name: string): Promise<V1Pod | null>
  readWorkload(kind: WorkloadKind, namespace: string, name: string): Promise<Workload | null>
  /** A batch/v1 CronJob: never a target, but its marks decide for the Jobs it runs (and their pods). */
  readCronJob(namespace: string, name: string): Promise<V1CronJob | null>
  readNamespace(name: string): Promise<V1Namespace | null>
  listPods(namespace: string, labelSelector: string | undefined): Promise<V1Pod[]>
  listReplicaSets(namespace: string, labelSelector: string | undefined): Promise<V1ReplicaSet[]>
  /** POST pods/<name>/eviction: PodDisruptionBudgets apply; a PDB refusal is a 429 from the server. */
  evictPod(namespace: string, name: string, dryRun: boolean): Promise<void>
  /** `kubectl rollout restart`: stamps `kubectl.kubernetes.io/restartedAt` on the pod template. */
  restartRollout(kind: RestartableKind, namespace: string, name: string, at: string, dryRun: boolean): Promise<void>
  /** `kubectl rollout undo`: replaces the pod template, only if the Deployment is still at `resourceVersion`. */
  rollbackDeployment(namespace: string, name: string, resourceVersion: string, template: V1PodTemplateSpec, dryRun: boolean): Promise<void>
  recordEvent(event: AuditEvent): Promise<void>
}

export const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
const COMPONENT = 'kube-reflex-auto-recover'

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p
  } catch (err) {
    if (kubeStatus(err) === 404) return null
    throw err
  }
}

const CORE = '/api/v1'
const APPS = '/apis/apps/v1'
const groupPath = (kind: WorkloadKind): string => `/apis/${WORKLOADS[kind].group}/v1`
const inNamespace = (group: string, namespace: string, resource: string, name?: string): string =>
  `${group}/namespaces/${seg(namespace)}/${resource}${name === undefined ? '' : `/${seg(name)}`}`

/**
 * Builds the client from a kubeconfig file or the Pod's ServiceAccount (in-cluster): client-node's
 * KubeConfig and authentication, with the calls below as plain JSON requests (shared/kube-rest.ts).
 */
export async function createRecoveryCluster(source: KubeSource): Promise<RecoveryCluster> {
  const api = await connectKube(source.kind === 'kubeconfig' ? { kubeconfig: source.path } : { inCluster: true })
  const dry = (dryRun: boolean): Query => (dryRun ? { dryRun: 'All' } : {})
  const get = <T>(path: string, query?: Query): Promise<T> => api.request<T>('GET', path, { query })

  return {
    readPod: (namespace, name) => orNull(get<V1Pod>(inNamespace(CORE, namespace, 'pods', name))),
    readNamespace: (name) => orNull(get<V1Namespace>(`${CORE}/namespaces/${seg(name)}`)),
    readWorkload: (kind, namespace, name) => orNull(get<Workload>(inNamespace(groupPath(kind), namespace, WORKLOADS[kind].resource, name))),
    readCronJob: (namespace, name) => orNull(get<V1CronJob>(inNamespace('/apis/batch/v1', namespace, 'cronjobs', name))),
    async listPods(namespace, labelSelector) {
      return (await get<{ items: V1Pod[] }>(inNamespace(CORE, namespace, 'pods'), { labelSelector })).items
    },
    async listReplicaSets(namespace, labelSelector) {
      return (await get<{ items: V1ReplicaSet[] }>(inNamespace(APPS, namespace, 'replicasets'), { labelSelector })).items
    },
    async evictPod(namespace, name, dryRun) {
      const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace }, ...(dryRun ? { deleteOptions: { dryRun: ['All'] } } : {}) }
      await api.request('POST', `${inNamespace(CORE, namespace, 'pods', name)}/eviction`, { body, query: dry(dryRun) })
    },
    async restartRollout(kind, namespace, name, at, dryRun) {
      const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } }
      await api.request('PATCH', inNamespace(APPS, namespace, WORKLOADS[kind].resource, name), { body, contentType: MERGE_PATCH, query: { fieldManager: COMPONENT, ...dry(dryRun) } })
    },
    async rollbackDeployment(namespace, name, resourceVersion, template, dryRun) {
      // Optimistic concurrency: the patched object carries the resourceVersion we planned from, so if the
      // Deployment changed since, the API server refuses the update with 409 Conflict ("the object has been
      // modified"), a retry. Not a JSON patch `test` op: its failure is a bare 422 ("the server rejected our
      // request due to an error in our request", no details; apiserver handlers/patch.go applyJSPatch),
      // which cannot be told from a patch that is wrong. An empty version would make the update
      // unconditional, so there must be one.
      if (resourceVersion === '') throw new Error(`rollback of Deployment ${name}: no resourceVersion to make it conditional on`)
      const body = [
        { op: 'replace', path: '/metadata/resourceVersion', value: resourceVersion },
        { op: 'replace', path: '/spec/template', value: template },
      ]
      await api.request('PATCH', inNamespace(APPS, namespace, 'deployments', name), { body, contentType: JSON_PATCH, query: { fieldManager: COMPONENT, ...dry(dryRun) } })
    },
    async recordEvent(e) {
      const time = e.time.toISOString()
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: e.name, namespace: e.namespace },
        involvedObject: { kind: e.involved.kind, name: e.involved.name, namespace: e.namespace, apiVersion: e.involved.apiVersion, ...(e.involved.uid === undefined ? {} : { uid: e.involved.uid }) },
        type: e.type,
        reason: e.reason,
        message: e.message,
        action: e.action,
        source: { component: COMPONENT },
        reportingComponent: 'kube-reflex.dev/auto-recover',
        reportingInstance: COMPONENT,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      }
      try {
        await api.request('POST', inNamespace(CORE, e.namespace, 'events'), { body })
      } catch (err) {
        if (kubeStatus(err) === 409) return // already recorded for this decision (redelivery)
        throw err
      }
    },
  }
}

/** The metav1.Status an API error carries (KubeApiError's parsed body, or ApiException's JSON text), if any. */
function statusBody(err: unknown): Record<string, unknown> | string | undefined {
  if (err === null || typeof err !== 'object') return undefined
  const raw = (err as { body?: unknown }).body
  if (typeof raw === 'string') {
    try {
      const parsed = JSON.parse(raw) as unknown
      return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : raw
    } catch {
      return raw
    }
  }
  return raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : undefined
}

/** The server's own explanation from an ApiException body (a metav1.Status), for audit messages. */
export function apiMessage(err: unknown): string | undefined {
  const body = statusBody(err)
  if (typeof body === 'string') return body.slice(0, 500)
  const message = body?.message
  return typeof message === 'string' ? message.slice(0, 500) : undefined
}

/**
 * True when a 429 is a PodDisruptionBudget refusing an eviction: the eviction subresource adds a cause of
 * type `DisruptionBudget` (policy/v1 DisruptionBudgetCause; pkg/registry/core/pod/storage/eviction.go,
 * checkAndDecrement and createTooManyRequestsError). A StatusCause's type is serialized as `reason`:
 * `details.causes: [{reason: "DisruptionBudget", message: "The disruption budget web needs 2 healthy pods…"}]`.
 * Any other 429 is the API server throttling (API Priority and Fairness, max-in-flight: "Too many
 * requests, please try again later."), to be retried, not a PDB.
 */
export function isDisruptionBudgetRefusal(err: unknown): boolean {
  const body = statusBody(err)
  if (typeof body !== 'object') return false
  const details = body.details
  const causes = details !== null && typeof details === 'object' ? (details as { causes?: unknown }).causes : undefined
  return Array.isArray(causes) && causes.some((c: unknown) => c !== null && typeof c === 'object' && (c as { reason?: unknown }).reason === 'DisruptionBudget')
}
