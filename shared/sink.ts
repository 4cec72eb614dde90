// Sending a CloudEvent to a sink (K_SINK, a Broker ingress) in binary mode, as Knative sources do.
import { toBinary, type CloudEventV1 } from './cloudevent.js'
import { ReflexError } from './errors.js'

export type SendEvent = (event: CloudEventV1, signal?: AbortSignal) => Promise<void>

export function httpSink(url: URL, timeoutMs = 10_000): SendEvent {
  return async (event, signal) => {
    const { headers, body } = toBinary(event)
    const timeout = AbortSignal.timeout(timeoutMs)
    let res: Response
    try {
      res = await fetch(url, {
        method: 'POST',
        headers,
        body,
        redirect: 'error',
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })
      await res.body?.cancel()
    } catch (err) {
      throw new ReflexError('SINK_UNAVAILABLE', 'event sink unreachable', { status: 503, cause: err, retryAfterSeconds: 5 })
    }
    if (res.status === 429 || res.status >= 500) {
      throw new ReflexError('SINK_UNAVAILABLE', `event sink answered ${res.status}`, { status: 503, retryAfterSeconds: 5 })
    }
    if (res.status >= 300) throw new ReflexError('SINK_REJECTED', `event sink answered ${res.status}`, { status: 500 })
  }
}
