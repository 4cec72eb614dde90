// An in-memory RecoveryCluster for the handler's unit tests: holds objects, records every call, and
// fails with the same ApiException client-node throws when told to. The real one is tested against a
// real kube-apiserver in cluster.test.ts.
import { ApiException, type V1CronJob, type V1Namespace, type V1Pod, type V1PodTemplateSpec, type V1ReplicaSet } from '@kubernetes/client-node'
import type { AuditEvent, RecoveryCluster, RestartableKind, Workload } from '../../../functions/auto-recover/cluster.js'

export interface Call {
  readonly op: string
  readonly namespace: string
  readonly name: string
  readonly dryRun?: boolean
  readonly detail?: unknown
}

/** A metav1.Status failure as the API server sends it; `details` as the server adds them (causes, retryAfterSeconds). */
export function apiError(code: number, message: string, details?: Record<string, unknown>): ApiException<string> {
  return new ApiException(code, `HTTP-Code: ${code}`, JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(details === undefined ? {} : { details }), code }), {})
}

/** The eviction subresource's refusal when a PodDisruptionBudget allows no disruption (eviction.go checkAndDecrement). */
export function pdbRefusal(pdb = 'web'): ApiException<string> {
  return apiError(429, "Cannot evict pod as it would violate the pod's disruption budget.", { causes: [{ reason: 'DisruptionBudget', message: `The disruption budget ${pdb} needs 2 healthy pods and has 1 currently` }] })
}

export class FakeCluster implements RecoveryCluster {
  readonly pods = new Map<string, V1Pod>()
  readonly workloads = new Map<string, Workload>()
  readonly namespaces = new Map<string, V1Namespace>()
  readonly cronJobs = new Map<string, V1CronJob>()
  readonly replicaSets: V1ReplicaSet[] = []
  readonly calls: Call[] = []
  readonly events: AuditEvent[] = []
  /** op name → error to throw (once per call while set). */
  readonly failures = new Map<string, Error>()
  /** Latency of every mutating call: widens the window in which two deciders could race. */
  delayMs = 0
  private async slow(): Promise<void> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs))
  }

  private fail(op: string): Promise<void> {
    const err = this.failures.get(op)
    return err === undefined ? Promise.resolve() : Promise.reject(err)
  }

  addPod(p: V1Pod): this {
    this.pods.set(`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`, p)
    return this
  }

  addWorkload(kind: string, w: Workload): this {
    this.workloads.set(`${kind}/${w.metadata?.namespace ?? ''}/${w.metadata?.name ?? ''}`, w)
    return this
  }

  addCronJob(c: V1CronJob): this {
    this.cronJobs.set(`${c.metadata?.namespace ?? ''}/${c.metadata?.name ?? ''}`, c)
    return this
  }

  addNamespace(name: string, labels: Record<string, string> = {}): this {
    this.namespaces.set(name, { metadata: { name, labels } })
    return this
  }

  async readPod(namespace: string, name: string): Promise<V1Pod | null> {
    await this.fail('readPod')
    return this.pods.get(`${namespace}/${name}`) ?? null
  }
  async readWorkload(kind: string, namespace: string, name: string): Promise<Workload | null> {
    await this.fail('readWorkload')
    return this.workloads.get(`${kind}/${namespace}/${name}`) ?? null
  }
  async readCronJob(namespace: string, name: string): Promise<V1CronJob | null> {
    await this.fail('readCronJob')
    return this.cronJobs.get(`${namespace}/${name}`) ?? null
  }
  async readNamespace(name: string): Promise<V1Namespace | null> {
    await this.fail('readNamespace')
    return this.namespaces.get(name) ?? null
  }
  async listPods(namespace: string, labelSelector: string | undefined): Promise<V1Pod[]> {
    await this.fail('listPods')
    const want = (labelSelector ?? '').split(',').filter((s) => s !== '').map((s) => s.split('=') as [string, string])
    return [...this.pods.values()].filter((p) => p.metadata?.namespace === namespace && want.every(([k, v]) => p.metadata?.labels?.[k] === v))
  }
  async listReplicaSets(namespace: string): Promise<V1ReplicaSet[]> {
    await this.fail('listReplicaSets')
    return this.replicaSets.filter((r) => r.metadata?.namespace === namespace)
  }
  async evictPod(namespace: string, name: string, dryRun: boolean): Promise<void> {
    await this.slow()
    this.calls.push({ op: 'evict', namespace, name, dryRun })
    await this.fail('evict')
  }
  async restartRollout(kind: RestartableKind, namespace: string, name: string, at: string, dryRun: boolean): Promise<void> {
    await this.slow()
    this.calls.push({ op: 'restart', namespace, name, dryRun, detail: { kind, at } })
    await this.fail('restart')
  }
  async rollbackDeployment(namespace: string, name: string, resourceVersion: string, template: V1PodTemplateSpec, dryRun: boolean): Promise<void> {
    await this.slow()
    this.calls.push({ op: 'rollback', namespace, name, dryRun, detail: { resourceVersion, template } })
    await this.fail('rollback')
  }
  async recordEvent(event: AuditEvent): Promise<void> {
    await this.fail('recordEvent')
    // Like the server: an Event name that exists is a 409, which RecoveryCluster.recordEvent absorbs.
    if (this.events.some((e) => e.name === event.name)) return
    this.events.push(event)
  }
}
