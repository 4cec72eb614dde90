// One HTTP POST of a CloudEvent in binary content mode, over a keep-alive agent: the broker's only way
// to reach subscribers and the dead-letter sink, so status codes and wire format are real. Each destination
// URL has its own agent (Knative's dispatcher keeps one HTTP client per destination URL): subscribers behind
// one host and port (`dev --http-delivery`) do not share a pool, so one that hangs cannot take the
// connections another one needs.
import http from 'node:http'
import https from 'node:https'
import { toBinary, type CloudEventV1 } from '../shared/cloudevent.js'

export interface HttpAnswer {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: Buffer
}

export class NetworkError extends Error {
  override readonly name = 'NetworkError'
}

export interface Sender {
  send(url: string, event: CloudEventV1, extraHeaders: Record<string, string>, timeoutMs: number | undefined): Promise<HttpAnswer>
  close(): void
}

/** Largest response body read from a subscriber; Knative keeps at most 1 KiB of it in knativeerrordata anyway. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024

/** `maxSockets`: connections per destination URL (the broker passes its delivery slots per Trigger). */
export function httpSender(maxSockets: number): Sender {
  const agents = new Map<string, http.Agent>()
  const agentFor = (target: URL): http.Agent => {
    // The query is part of the destination; the fragment never goes on the wire.
    const key = `${target.origin}${target.pathname}${target.search}`
    let agent = agents.get(key)
    if (agent === undefined) {
      agent = target.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets }) : new http.Agent({ keepAlive: true, maxSockets })
      agents.set(key, agent)
    }
    return agent
  }
  return {
    send(url, event, extraHeaders, timeoutMs) {
      const { headers, body } = toBinary(event)
      const target = new URL(url)
      const agent = agentFor(target)
      const mod = target.protocol === 'https:' ? https : http
      return new Promise<HttpAnswer>((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined
        const req = mod.request(
          target,
          { method: 'POST', agent, headers: { ...headers, ...extraHeaders, 'content-length': String(body.length) } },
          (res) => {
            const chunks: Buffer[] = []
            let size = 0
            res.on('data', (c: Buffer) => {
              size += c.length
              if (size <= MAX_RESPONSE_BYTES) chunks.push(c)
            })
            res.on('end', () => {
              clearTimeout(timer)
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
            })
            res.on('error', (err) => {
              clearTimeout(timer)
              reject(new NetworkError(err.message))
            })
          },
        )
        if (timeoutMs !== undefined) {
          // Like Go's http.Client.Timeout: covers connecting, sending and reading the whole answer.
          timer = setTimeout(() => req.destroy(new NetworkError(`timeout after ${timeoutMs} ms`)), timeoutMs)
        }
        req.on('error', (err) => {
          clearTimeout(timer)
          reject(err instanceof NetworkError ? err : new NetworkError(err.message))
        })
        req.end(body)
      })
    },
    close() {
      for (const agent of agents.values()) agent.destroy()
      agents.clear()
    },
  }
}
