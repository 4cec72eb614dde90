// persist's event path: every `dev.kubereflex.*` event is appended to the store and acknowledged (202)
// only once the transaction holding it has committed. Duplicates are acknowledged too: at-least-once
// delivery ends here (DESIGN.md "HTTP behaviour").
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import type { FunctionContext, HandlerResult } from '../../shared/host.js'
import type { EventStore } from './event-store.js'
import type { PersistMetrics } from './metrics.js'
import { toRecord } from './record.js'

export interface PersistDeps {
  readonly store: EventStore
  /** Set once the host has given persist its registry (routes()); absent in unit tests of handle(). */
  readonly metrics: () => PersistMetrics | undefined
  readonly now: () => number
  /** Told after each commit that brought new rows, so the archive relay publishes without waiting for its timer. */
  readonly onStored?: () => void
}

export type PersistContext = FunctionContext & { readonly deps: PersistDeps }

export async function handle(event: CloudEventV1, ctx: PersistContext): Promise<HandlerResult> {
  const { deps } = ctx
  const record = toRecord(event, new Date(deps.now()))
  const isNew = await deps.store.append(record)
  const metrics = deps.metrics()
  if (isNew) {
    metrics?.stored.inc({ type: event.type })
    deps.onStored?.()
  } else {
    metrics?.duplicates.inc()
    ctx.log.debug({ source: event.source, id: event.id }, 'duplicate event, already stored')
  }
  return undefined
}
