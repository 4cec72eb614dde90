// classify: every Kubernetes occurrence in, one graded, normalized `dev.kubereflex.event.classified` out.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import type { FunctionContext, HandlerResult } from '../../shared/host.js'
import type { KubeAccess } from '../../shared/kube-access.js'
import type { SendEvent } from '../../shared/sink.js'
import { classifyOccurrence } from './classify.js'
import { toClassifiedEvent } from './classified-event.js'
import { classifyError } from './errors.js'
import { inputKind, occurrenceOf } from './input.js'
import type { Rule } from './rules.js'
import { sweep } from './sweep.js'

export interface ClassifyDeps {
  readonly rules: readonly Rule[]
  readonly cluster: string
  /** Kubernetes access, created on first use (Reference mode, sweeps). */
  readonly kube: () => Promise<KubeAccess>
  /** Where sweep findings go (K_SINK); undefined when not configured. */
  readonly send: SendEvent | undefined
  readonly sweepNamespaces: readonly string[]
  readonly now: () => number
}

export interface ClassifyContext extends FunctionContext {
  readonly deps: ClassifyDeps
}

export async function handle(event: CloudEventV1, ctx: ClassifyContext): Promise<HandlerResult> {
  const { deps } = ctx
  const now = deps.now()
  const kind = inputKind(event)
  let value: unknown
  switch (kind.kind) {
    case 'ignored':
      return undefined
    case 'sweep': {
      if (deps.send === undefined) throw classifyError('SINK_NOT_CONFIGURED', 'sweep requested but K_SINK is not set')
      const found = await sweep(event, { ...deps, send: deps.send }, ctx)
      ctx.log.info({ findings: found }, 'sweep done')
      return undefined
    }
    case 'resource':
      // A deleted object is no problem any more; an expired Event object is no new occurrence.
      if (kind.deleted) return undefined
      value = kind.object
      break
    case 'reference': {
      if (kind.deleted) return undefined
      const { apiVersion, kind: k, namespace, name } = kind.ref
      const object = await (await deps.kube()).read(apiVersion, k, namespace, name)
      if (object === null) return undefined // gone before we looked: nothing to report
      value = object
      break
    }
    case 'record':
      value = kind.value
      break
  }
  const occurrence = occurrenceOf(value, now, kind.kind === 'record')
  if (occurrence === null) return undefined
  const data = classifyOccurrence(deps.rules, {
    occurrence,
    input: { source: event.source, id: event.id, type: event.type },
    cluster: deps.cluster,
  })
  if (data === undefined) return undefined
  return toClassifiedEvent(data, event.time ?? new Date(now).toISOString())
}
