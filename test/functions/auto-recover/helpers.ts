// Shared test helpers: classified events as classify sends them, and auto-recover deps on a real database.
import type { Test } from 'tap'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import type { ClassifiedData, RecoveryAction } from '../../../shared/contracts.js'
import { openDatabase } from '../../../shared/db.js'
import { silentLogger } from '../../../shared/logger.js'
import type { AutoRecoverContext, AutoRecoverDeps } from '../../../functions/auto-recover/handler.js'
import { recoveryMetrics } from '../../../functions/auto-recover/metrics.js'
import { parsePolicy } from '../../../functions/auto-recover/policy.js'
import { openRecoveryState, type RecoveryState } from '../../../functions/auto-recover/state.js'

let seq = 0
let clusterName = 'default'

/** Targets are keyed by cluster too: each subtest sharing one database uses its own cluster name. */
export function useCluster(name: string): void {
  clusterName = name
}

export interface ClassifiedOptions {
  namespace?: string | null
  object?: { kind: string; name: string; uid?: string | null }
  workload?: { kind: string; name: string; inferred?: boolean } | null
  action?: RecoveryAction
  category?: ClassifiedData['category']
  id?: string
  cluster?: string
}

export function classifiedEvent(o: ClassifiedOptions = {}): CloudEventV1 {
  const namespace = o.namespace === undefined ? 'shop' : o.namespace
  const object = o.object ?? { kind: 'Pod', name: 'web-7d4b9c6f5-x2k9p' }
  const workload = o.workload === undefined ? { kind: 'Deployment', name: 'web', inferred: true } : o.workload
  const category = o.category ?? 'crashloop'
  const action = o.action ?? 'restart-pod'
  const data: ClassifiedData = {
    cluster: o.cluster ?? clusterName,
    namespace,
    object: { kind: object.kind, name: object.name, namespace, uid: object.uid ?? null, apiVersion: object.kind === 'Pod' ? 'v1' : 'apps/v1' },
    workload: workload === null ? null : { kind: workload.kind, name: workload.name, inferred: workload.inferred ?? false },
    container: 'app',
    reason: 'BackOff',
    message: `Back-off restarting failed container app in pod ${object.name}_${namespace ?? ''}(0e0c6d9e-1f40-4c1d-9d59-54b1c8f7a1d2)`,
    eventType: 'Warning',
    firstTime: '2026-11-28T04:00:00Z',
    lastTime: '2026-11-28T04:05:00Z',
    count: 7,
    reportingComponent: 'kubelet',
    reportingHost: 'node-1',
    severity: 'critical',
    category,
    action,
    rule: 'crashloop-backoff',
    runbook: null,
    fingerprint: `fp-${namespace ?? ''}-${workload?.name ?? object.name}-${category}`,
    input: { source: 'https://10.96.0.1:443', id: `in-${seq}`, type: 'dev.knative.apiserver.resource.add' },
  }
  seq++
  return {
    specversion: '1.0',
    id: o.id ?? `classified-${process.pid}-${seq}`,
    source: '/kube-reflex/classify',
    type: 'dev.kubereflex.event.classified',
    subject: `${namespace ?? '_cluster'}/${workload?.kind ?? object.kind}/${workload?.name ?? object.name}`,
    time: '2026-11-28T04:05:00Z',
    datacontenttype: 'application/json',
    severity: 'critical',
    category,
    action,
    reason: 'BackOff',
    fingerprint: data.fingerprint,
    data,
  }
}

export async function pgliteState(t: Test, dir?: string): Promise<RecoveryState> {
  const state = await openRecoveryState(await openDatabase({ dataDir: dir ?? t.testdir() }))
  t.teardown(() => state.close())
  return state
}

/**
 * One embedded database for a whole test file (starting PGlite costs seconds): `state(t)` returns it and
 * switches to a cluster name of the subtest's own, so histories and budgets do not leak between subtests.
 */
export function sharedState(root: Test): (t?: Test) => Promise<RecoveryState> {
  let pending: Promise<RecoveryState> | undefined
  let n = 0
  return async () => {
    useCluster(`cluster-${++n}`)
    pending ??= pgliteState(root)
    return pending
  }
}

export function makeDeps(state: RecoveryState, overrides: Partial<AutoRecoverDeps> & { policyYaml?: string } = {}): AutoRecoverDeps {
  const { policyYaml, ...rest } = overrides
  return {
    mode: 'dry-run',
    policy: parsePolicy(policyYaml ?? 'optIn: { namespaces: [shop] }\ncooldownSeconds: 0', 'test-policy.yaml'),
    cluster: undefined,
    state,
    metrics: recoveryMetrics(),
    now: Date.now,
    ...rest,
  }
}

export function ctxOf(deps: AutoRecoverDeps): AutoRecoverContext {
  return { log: silentLogger, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', signal: new AbortController().signal, receivedAt: Date.now(), deps }
}

export function dataOf(e: CloudEventV1 | undefined): Record<string, unknown> {
  const d = e?.data
  if (d === null || typeof d !== 'object') throw new Error('reply has no data object')
  return d as Record<string, unknown>
}
