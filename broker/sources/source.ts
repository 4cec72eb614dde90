// What every event source gives the local broker: it pushes events into `accept` (which resolves once
// the event is durable) and acknowledges upstream only after that.
import type { CloudEventV1 } from '../../shared/cloudevent.js'

export interface Ingress {
  /** Back-pressure: resolves when the broker can take another event. */
  ready(): Promise<void>
  accept(event: CloudEventV1, cursor?: { source: string; position: number }): Promise<void>
  /** Where a previous run of this source stopped (replay line), if it left a cursor. */
  readonly cursors: ReadonlyMap<string, number>
}

export interface SourceStats {
  /** Records read and accepted by the broker. */
  accepted: number
  /** Records that could not be turned into a valid CloudEvent or were refused by the broker. */
  rejected: number
}

export interface EventSource {
  readonly name: string
  readonly stats: SourceStats
  /** Runs until the input is exhausted (replay) or `signal` aborts (live sources). */
  run(ingress: Ingress, signal: AbortSignal): Promise<void>
}
