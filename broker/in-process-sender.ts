// Delivery to subscribers that live in this very process (`kube-reflex dev` hosts every function behind
// one HTTP host). Over loopback HTTP one input event costs several requests (classify, then its reply to
// alert, auto-recover and persist, then their replies to persist), and node:http's per-request cost on
// both ends dominated the pipeline. Here the broker hands the event to the host's event endpoint without a
// socket — as the parsed event when its data is JSON (the handler gets what the binary-mode message would
// give it), else as that binary-mode message (headers + body) — with `Prefer: reply`: the host validates,
// runs the handler and answers exactly as it does for HTTP (status table, Retry-After, reply in binary mode,
// metrics, tracing), and the broker reads that answer as it reads an HTTP one — same retries, dead
// letters, TTL and reply handling. Every other URL (external subscribers, the dead-letter endpoint that
// is an express route) still goes over HTTP. A deviation from Knative, where every hop is HTTP: see
// README "kube-reflex dev".
import { canHandOver, freezeJson, toBinary } from '../shared/cloudevent.js'
import type { InProcessAnswer, InProcessRequest } from '../shared/host.js'
import { NetworkError, type HttpAnswer, type Sender } from './http-sender.js'

/** Finds the in-process endpoint for a URL, or undefined when the URL is not served by this process. */
export type InProcessLookup = (url: string) => ((request: InProcessRequest) => Promise<InProcessAnswer>) | undefined

/**
 * A lookup for the endpoints of a host at `baseUrl` (e.g. http://127.0.0.1:8080): a URL on that origin
 * whose path (query ignored, as the host's router ignores it) is an event endpoint of the host.
 */
export function hostLookup(baseUrl: string, endpoint: (path: string) => ((request: InProcessRequest) => Promise<InProcessAnswer>) | undefined): InProcessLookup {
  const origin = new URL(baseUrl).origin
  const cache = new Map<string, ((request: InProcessRequest) => Promise<InProcessAnswer>) | undefined>()
  return (url) => {
    if (cache.has(url)) return cache.get(url)
    let found: ((request: InProcessRequest) => Promise<InProcessAnswer>) | undefined
    try {
      const u = new URL(url)
      if (u.origin === origin) found = endpoint(u.pathname)
    } catch {
      found = undefined
    }
    cache.set(url, found)
    return found
  }
}

/** A sender that dispatches in-process when `lookup` knows the URL and falls back to `http` otherwise. */
export function inProcessSender(lookup: InProcessLookup, http: Sender): Sender {
  return {
    send(url, event, extraHeaders, timeoutMs) {
      const endpoint = lookup(url)
      if (endpoint === undefined) return http.send(url, event, extraHeaders, timeoutMs)
      let answer: Promise<HttpAnswer>
      if (canHandOver(event) && freezeJson(event.data)) {
        // JSON data goes as the parsed value the broker holds — frozen, as every subscriber of this event
        // shares it — and the host gives the handler what the binary-mode message would (every extension a
        // string): one event's several deliveries no longer write and parse its data once each. The host's
        // body-size limit is a limit on messages; an event handed over this way was accepted by the broker.
        answer = endpoint({ headers: { ...extraHeaders }, event })
      } else {
        // Bytes and text: the message the HTTP sender would put on the wire (binary mode), same data bytes.
        const { headers, body } = toBinary(event)
        answer = endpoint({ headers: { ...headers, ...extraHeaders, 'content-length': String(body.length) }, body })
      }
      if (timeoutMs === undefined) return answer
      // Like the HTTP sender's timeout: the attempt fails as a network error; the handler is not
      // interrupted (over HTTP the server would not notice a client giving up either).
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new NetworkError(`timeout after ${timeoutMs} ms`)), timeoutMs)
      })
      return Promise.race([answer, timeout]).finally(() => clearTimeout(timer))
    },
    close() {
      http.close()
    },
  }
}
