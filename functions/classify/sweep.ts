// The sweep (DESIGN.md, PingSource): ApiServerSource sends nothing for objects that already exist when it
// starts, so a periodic tick lists Pods and Deployments and reports every problem it finds. One HTTP
// reply carries one event, so findings go to the Broker ingress (K_SINK) and the tick is answered 202.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import type { FunctionContext } from '../../shared/host.js'
import type { KubeAccess, KubeObject } from '../../shared/kube-access.js'
import type { SendEvent } from '../../shared/sink.js'
import { classifyOccurrence } from './classify.js'
import { toClassifiedEvent } from './classified-event.js'
import type { Rule } from './rules.js'
import { fromDeployment, fromPod, type Occurrence } from './signals.js'

export interface SweepDeps {
  readonly rules: readonly Rule[]
  readonly cluster: string
  readonly kube: () => Promise<KubeAccess>
  readonly send: SendEvent
  readonly sweepNamespaces: readonly string[]
  readonly now: () => number
}

const CONCURRENCY = 8

export async function sweep(tick: CloudEventV1, deps: SweepDeps, ctx: FunctionContext): Promise<number> {
  const kube = await deps.kube()
  const namespaces: (string | null)[] = deps.sweepNamespaces.length > 0 ? [...deps.sweepNamespaces] : [null]
  const now = deps.now()
  const findings: CloudEventV1[] = []
  const add = (o: KubeObject, occurrence: Occurrence | null): void => {
    if (occurrence === null) return
    const uid = o.metadata?.uid ?? `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`
    const data = classifyOccurrence(deps.rules, {
      occurrence,
      // One finding per object per tick: a retried tick yields the same ids (deduplicated downstream).
      input: { source: tick.source, id: `${tick.id}/${uid}`, type: tick.type },
      cluster: deps.cluster,
    })
    if (data === undefined || data.severity === 'info') return
    const event = toClassifiedEvent(data, tick.time ?? new Date(now).toISOString())
    event.traceparent = ctx.traceparent
    findings.push(event)
  }
  for (const ns of namespaces) {
    const [pods, deployments] = await Promise.all([kube.list('v1', 'Pod', ns), kube.list('apps/v1', 'Deployment', ns)])
    for (const p of pods) add(p, fromPod({ ...p, kind: 'Pod' }, now))
    for (const d of deployments) add(d, fromDeployment({ ...d, kind: 'Deployment' }))
  }
  for (let i = 0; i < findings.length; i += CONCURRENCY) {
    await Promise.all(findings.slice(i, i + CONCURRENCY).map((f) => deps.send(f, ctx.signal)))
  }
  return findings.length
}
