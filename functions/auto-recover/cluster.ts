// The Kubernetes calls auto-recover makes, behind a small interface so the decision logic can be tested
// without a cluster, and the real implementation over `@kubernetes/client-node` (loaded lazily: it costs
// ~190 ms at import, shared/kube.ts). Every mutating call takes `dryRun`: true sends `dryRun=All`, so the
// API server runs authentication, RBAC, admission and PDB checks but persists nothing.
import type { CoreV1Event, V1DaemonSet, V1Deployment, V1Namespace, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node'
import { kubeStatus, loadKubeConfig, loadKubeModule } from '../../shared/kube.js'
import type { KubeSource } from './config.js'

export type RestartableKind = 'Deployment' | 'StatefulSet' | 'DaemonSet'
export type Workload = V1Deployment | V1StatefulSet | V1DaemonSet | V1ReplicaSet

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
  readWorkload(kind: string, namespace: string, name: string): Promise<Workload | null>
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

/** Builds the client from a kubeconfig file or the Pod's ServiceAccount (in-cluster). */
export async function createRecoveryCluster(source: KubeSource): Promise<RecoveryCluster> {
  const k8s = await loadKubeModule()
  const kc = await loadKubeConfig(source.kind === 'kubeconfig' ? { kubeconfig: source.path } : { inCluster: true })
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const apps = kc.makeApiClient(k8s.AppsV1Api)
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch)
  const dry = (dryRun: boolean): { dryRun?: string } => (dryRun ? { dryRun: 'All' } : {})

  return {
    readPod: (namespace, name) => orNull(core.readNamespacedPod({ namespace, name })),
    readNamespace: (name) => orNull(core.readNamespace({ name })),
    async readWorkload(kind, namespace, name) {
      switch (kind) {
        case 'Deployment':
          return orNull(apps.readNamespacedDeployment({ namespace, name }))
        case 'StatefulSet':
          return orNull(apps.readNamespacedStatefulSet({ namespace, name }))
        case 'DaemonSet':
          return orNull(apps.readNamespacedDaemonSet({ namespace, name }))
        case 'ReplicaSet':
          return orNull(apps.readNamespacedReplicaSet({ namespace, name }))
        default:
          return null
      }
    },
    async listPods(namespace, labelSelector) {
      return (await core.listNamespacedPod({ namespace, ...(labelSelector === undefined ? {} : { labelSelector }) })).items
    },
    async listReplicaSets(namespace, labelSelector) {
      return (await apps.listNamespacedReplicaSet({ namespace, ...(labelSelector === undefined ? {} : { labelSelector }) })).items
    },
    async evictPod(namespace, name, dryRun) {
      await core.createNamespacedPodEviction({
        namespace,
        name,
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace }, ...(dryRun ? { deleteOptions: { dryRun: ['All'] } } : {}) },
        ...dry(dryRun),
      })
    },
    async restartRollout(kind, namespace, name, at, dryRun) {
      const body = { spec: { template: { metadata: { annotations: { [RESTARTED_AT]: at } } } } }
      const req = { namespace, name, body, fieldManager: COMPONENT, ...dry(dryRun) }
      if (kind === 'Deployment') await apps.patchNamespacedDeployment(req, mergePatch)
      else if (kind === 'StatefulSet') await apps.patchNamespacedStatefulSet(req, mergePatch)
      else await apps.patchNamespacedDaemonSet(req, mergePatch)
    },
    async rollbackDeployment(namespace, name, resourceVersion, template, dryRun) {
      // The `test` op makes the replace conditional on the version we planned from (optimistic concurrency).
      const body = [
        { op: 'test', path: '/metadata/resourceVersion', value: resourceVersion },
        { op: 'replace', path: '/spec/template', value: template },
      ]
      await apps.patchNamespacedDeployment({ namespace, name, body, fieldManager: COMPONENT, ...dry(dryRun) }, jsonPatch)
    },
    async recordEvent(e) {
      const body: CoreV1Event = {
        metadata: { name: e.name, namespace: e.namespace },
        involvedObject: { kind: e.involved.kind, name: e.involved.name, namespace: e.namespace, apiVersion: e.involved.apiVersion, ...(e.involved.uid === undefined ? {} : { uid: e.involved.uid }) },
        type: e.type,
        reason: e.reason,
        message: e.message,
        action: e.action,
        source: { component: COMPONENT },
        reportingComponent: 'kube-reflex.dev/auto-recover',
        reportingInstance: COMPONENT,
        firstTimestamp: e.time,
        lastTimestamp: e.time,
        count: 1,
      }
      try {
        await core.createNamespacedEvent({ namespace: e.namespace, body })
      } catch (err) {
        if (kubeStatus(err) === 409) return // already recorded for this decision (redelivery)
        throw err
      }
    },
  }
}

/** The server's own explanation from an ApiException body (a metav1.Status), for audit messages. */
export function apiMessage(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined
  const raw = (err as { body?: unknown }).body
  let body: unknown = raw
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw) as unknown
    } catch {
      return raw.slice(0, 500)
    }
  }
  if (body !== null && typeof body === 'object') {
    const message = (body as { message?: unknown }).message
    if (typeof message === 'string') return message.slice(0, 500)
  }
  return undefined
}
