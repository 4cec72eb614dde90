// Realistic persist inputs: classified events built by classify's own producer (toClassifiedEvent) from
// occurrences with real kubelet/controller message texts, and the alert/recovery replies that answer them.
import { toClassifiedEvent } from '../../../functions/classify/classified-event.js'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import type { Category, ClassifiedData, RecoveryAction, Severity } from '../../../shared/contracts.js'
import { deterministicId, stableHash } from '../../../shared/ids.js'

export interface Occurrence {
  readonly namespace: string
  readonly kind?: string
  readonly name: string
  readonly workload?: string
  readonly reason: string
  readonly message: string
  readonly severity: Severity
  readonly category: Category
  readonly action?: RecoveryAction
  readonly at: Date
  readonly inputId?: string
}

export function classified(o: Occurrence): CloudEventV1 {
  const workload = o.workload ?? o.name.replace(/-[a-z0-9]{5,10}-[a-z0-9]{5}$/, '')
  const fingerprint = stableHash('default', o.namespace, 'Deployment', workload, o.category)
  const data: ClassifiedData = {
    cluster: 'default',
    namespace: o.namespace,
    object: { kind: o.kind ?? 'Pod', name: o.name, namespace: o.namespace, uid: deterministicId('uid', o.namespace, o.name), apiVersion: 'v1' },
    workload: { kind: 'Deployment', name: workload, inferred: true },
    container: 'app',
    reason: o.reason,
    message: o.message,
    eventType: o.severity === 'info' ? 'Normal' : 'Warning',
    firstTime: o.at.toISOString(),
    lastTime: o.at.toISOString(),
    count: 1,
    reportingComponent: 'kubelet',
    reportingHost: 'node-a',
    severity: o.severity,
    category: o.category,
    action: o.action ?? 'none',
    rule: `${o.category}-${o.reason.toLowerCase()}`,
    runbook: null,
    fingerprint,
    input: { source: 'https://10.96.0.1:443', id: o.inputId ?? deterministicId('input', o.namespace, o.name, o.reason, o.at.toISOString()), type: 'dev.knative.apiserver.resource.add' },
  }
  return toClassifiedEvent(data, o.at.toISOString())
}

function fingerprintOf(e: CloudEventV1): string {
  const f = e.fingerprint
  if (typeof f !== 'string') throw new Error('fixture without fingerprint')
  return f
}

export function alertReply(answered: CloudEventV1, outcome: 'sent' | 'suppressed' | 'failed', at: Date): CloudEventV1 {
  return {
    specversion: '1.0',
    id: deterministicId('/kube-reflex/alert', answered.source, answered.id),
    source: '/kube-reflex/alert',
    type: `dev.kubereflex.alert.${outcome}`,
    subject: answered.subject ?? '',
    time: at.toISOString(),
    datacontenttype: 'application/json',
    fingerprint: fingerprintOf(answered),
    severity: String(answered.severity),
    data: { fingerprint: fingerprintOf(answered), subject: answered.subject, sink: 'slack', event: { source: answered.source, id: answered.id } },
  }
}

export function recoveryReply(answered: CloudEventV1, outcome: 'planned' | 'performed' | 'skipped' | 'failed', at: Date): CloudEventV1 {
  return {
    specversion: '1.0',
    id: deterministicId('/kube-reflex/auto-recover', answered.source, answered.id),
    source: '/kube-reflex/auto-recover',
    type: `dev.kubereflex.recovery.${outcome}`,
    subject: answered.subject ?? '',
    time: at.toISOString(),
    datacontenttype: 'application/json',
    fingerprint: fingerprintOf(answered),
    data: { fingerprint: fingerprintOf(answered), subject: answered.subject, action: 'restart-pod', mode: 'dry-run' },
  }
}

const SIGNALS: readonly Omit<Occurrence, 'namespace' | 'name' | 'at'>[] = [
  { reason: 'BackOff', message: 'Back-off restarting failed container app in pod', severity: 'critical', category: 'crashloop', action: 'restart-pod' },
  { reason: 'OOMKilling', message: 'Memory cgroup out of memory: Killed process 4211 (java) total-vm:2817140kB, anon-rss:524288kB', severity: 'critical', category: 'oom', action: 'rollout-restart' },
  { reason: 'Failed', message: 'Failed to pull image "registry.example.com/shop/cart:1.4.2": rpc error: code = NotFound desc = failed to resolve reference', severity: 'critical', category: 'image' },
  { reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', severity: 'warning', category: 'probe' },
  { reason: 'FailedScheduling', message: '0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.', severity: 'warning', category: 'scheduling' },
  { reason: 'Pulled', message: 'Successfully pulled image "nginx:1.27" in 1.2s (1.2s including waiting)', severity: 'info', category: 'lifecycle' },
  { reason: 'Started', message: 'Started container app', severity: 'info', category: 'lifecycle' },
]
const NAMESPACES = ['shop', 'payments', 'monitoring'] as const
const WORKLOADS = ['cart', 'checkout', 'api'] as const

/**
 * A deterministic history: `count` classified events spread over the last `hours` before `now`, across
 * namespaces, workloads and signals, plus alert/recovery replies for the critical ones.
 */
export function history(count: number, now: Date, hours = 48): { classified: CloudEventV1[]; replies: CloudEventV1[] } {
  const out: CloudEventV1[] = []
  const replies: CloudEventV1[] = []
  for (let i = 0; i < count; i++) {
    const signal = SIGNALS[i % SIGNALS.length] as (typeof SIGNALS)[number]
    const namespace = NAMESPACES[i % NAMESPACES.length] as string
    const workload = WORKLOADS[Math.floor(i / NAMESPACES.length) % WORKLOADS.length] as string
    const at = new Date(now.getTime() - Math.floor(((i * 7919) % (hours * 60)) * 60_000) - (i % 60) * 1000)
    const e = classified({ ...signal, namespace, name: `${workload}-7d9f8c6b5-${String(i % 7).padStart(5, 'x')}`, workload, at, inputId: `input-${i}` })
    out.push(e)
    if (signal.severity === 'critical') {
      replies.push(alertReply(e, i % 5 === 0 ? 'suppressed' : 'sent', new Date(at.getTime() + 2000)))
      if (signal.action !== undefined) replies.push(recoveryReply(e, 'planned', new Date(at.getTime() + 3000)))
    }
  }
  return { classified: out, replies }
}
