// What every notification sink offers: one message in, one delivery outcome out.
import type { DeliveryOutcome } from '../http-delivery.js'
import type { OutboundMessage } from '../message.js'
import type { SinkSpec } from '../routing.js'

export interface Sink {
  readonly name: string
  readonly type: SinkSpec['type']
  readonly rate: SinkSpec['rate']
  deliver(message: OutboundMessage, signal?: AbortSignal): Promise<DeliveryOutcome>
}

/** POSTs a JSON body (SSRF-guarded, no redirects, bounded by the timeout). */
export type Transport = (url: URL, body: string, headers: Record<string, string>, signal?: AbortSignal) => Promise<DeliveryOutcome>
