// Local HTTP receivers that answer the way the real services do, so sinks are tested over real HTTP:
// Slack incoming webhooks ("ok" / "invalid_payload" / 404 "no_service" / 410 "channel_is_archived" /
// 429 + Retry-After), PagerDuty Events API v2 (202 {"status":"success"} / 400 "invalid event" / 429),
// Teams webhooks (202 / 400) and a generic Standard Webhooks receiver that verifies signatures with the
// official `standardwebhooks` verifier. Tests queue one-off behaviours (500, 429, slow answers).
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

export type ReceiverKind = 'slack' | 'pagerduty' | 'teams' | 'webhook'

export interface Behaviour {
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body?: string
  /** Answer only after this long (slow endpoint). */
  readonly delayMs?: number
}

export interface Recorded {
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly json: unknown
  /** What the receiver answered. */
  readonly status: number
  /** Standard Webhooks receivers only: whether the official verifier accepted the signature. */
  readonly verified: boolean | null
  readonly at: number
}

export interface Receiver {
  readonly kind: ReceiverKind
  readonly url: string
  readonly requests: Recorded[]
  /** Requests the receiver accepted (2xx). */
  accepted(): Recorded[]
  /** The next requests get these answers, in order, instead of the service's normal one. */
  queue(...behaviours: Behaviour[]): void
  /** From now on every request is refused the way a revoked URL is (Slack: 404 no_service / 410 channel_is_archived). */
  revoke(status: 404 | 410): void
  /**
   * Behave like Slack's per-webhook limit ("1 message per second, short bursts allowed"): a token bucket
   * of `burst` refilled at `perSecond`; a request without a token gets 429 + Retry-After: 1.
   */
  enforceRate(perSecond: number, burst: number): void
  close(): Promise<void>
}

export interface ReceiverOptions {
  /** Webhook receivers: the signing secret to verify with. */
  readonly secret?: string
  /** PagerDuty: the routing key the service accepts. */
  readonly routingKey?: string
  readonly path?: string
}

type Json = Record<string, unknown>
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v)

function normalAnswer(kind: ReceiverKind, json: unknown, verified: boolean | null, options: ReceiverOptions): Behaviour {
  switch (kind) {
    case 'slack': {
      // Slack needs `text` or `blocks`; it answers with plain-text error codes.
      if (!isObj(json) || (typeof json.text !== 'string' && !Array.isArray(json.blocks))) return { status: 400, body: 'invalid_payload' }
      return { status: 200, body: 'ok' }
    }
    case 'pagerduty': {
      const errors: string[] = []
      if (!isObj(json)) errors.push('Event object is invalid')
      else {
        if (json.routing_key !== options.routingKey) errors.push("'routing_key' is invalid")
        if (!['trigger', 'acknowledge', 'resolve'].includes(String(json.event_action))) errors.push("'event_action' is invalid")
        if (typeof json.dedup_key !== 'string' || json.dedup_key.length > 255) errors.push("'dedup_key' is invalid")
        if (json.event_action === 'trigger') {
          const p = json.payload
          if (!isObj(p) || typeof p.summary !== 'string' || p.summary.length > 1024 || typeof p.source !== 'string' || !['critical', 'error', 'warning', 'info'].includes(String(p.severity))) {
            errors.push("'payload' is invalid")
          }
        }
      }
      if (errors.length > 0) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }) }
      const dedup = isObj(json) ? json.dedup_key : undefined
      return { status: 202, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: dedup }) }
    }
    case 'teams': {
      const att = isObj(json) && Array.isArray(json.attachments) ? (json.attachments[0] as unknown) : undefined
      if (!isObj(att) || att.contentType !== 'application/vnd.microsoft.card.adaptive' || !isObj(att.content) || att.content.type !== 'AdaptiveCard') {
        return { status: 400, body: 'Bad payload received by generic incoming webhook.' }
      }
      return { status: 202, body: '' }
    }
    case 'webhook':
      return verified === true ? { status: 204 } : { status: 401, body: 'invalid signature' }
  }
}

export async function startReceiver(kind: ReceiverKind, options: ReceiverOptions = {}): Promise<Receiver> {
  const requests: Recorded[] = []
  const queued: Behaviour[] = []
  let revoked: 404 | 410 | undefined
  let bucket: { perSecond: number; burst: number; tokens: number; at: number } | undefined
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let json: unknown = null
      try {
        json = JSON.parse(body) as unknown
      } catch {
        json = null
      }
      let verified: boolean | null = null
      if (kind === 'webhook') {
        try {
          new Webhook(options.secret ?? '').verify(body, {
            'webhook-id': String(req.headers['webhook-id'] ?? ''),
            'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
            'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
          })
          verified = true
        } catch {
          verified = false
        }
      }
      const now = Date.now()
      let b: Behaviour
      const next = queued.shift()
      if (next !== undefined) b = next
      else if (revoked !== undefined) b = { status: revoked, body: revoked === 410 ? 'channel_is_archived' : 'no_service' }
      else {
        if (bucket !== undefined) {
          bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.at) / 1000) * bucket.perSecond)
          bucket.at = now
        }
        if (bucket !== undefined && bucket.tokens < 1) b = { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' }
        else {
          if (bucket !== undefined) bucket.tokens -= 1
          b = normalAnswer(kind, json, verified, options)
        }
      }
      requests.push({ path: req.url ?? '/', headers: req.headers, body, json, status: b.status, verified, at: now })
      const answer = (): void => {
        if (res.destroyed) return
        res.writeHead(b.status, b.headers ?? {})
        res.end(b.body ?? '')
      }
      if (b.delayMs !== undefined) setTimeout(answer, b.delayMs).unref()
      else answer()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const path = options.path ?? (kind === 'slack' ? '/services/T000/B000/XXXXSECRETXXXX' : kind === 'pagerduty' ? '/v2/enqueue' : kind === 'teams' ? '/workflows/abc/triggers/manual/paths/invoke?sig=SECRETSIG' : '/hooks/kube-reflex')
  return {
    kind,
    url: `http://127.0.0.1:${port}${path}`,
    requests,
    accepted: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    queue: (...b) => void queued.push(...b),
    revoke(status) {
      revoked = status
    },
    enforceRate(perSecond, burst) {
      bucket = { perSecond, burst, tokens: burst, at: Date.now() }
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * PagerDuty's incidents as the events the receiver accepted leave them, in order: a `trigger` opens (or
 * updates) the incident of its `dedup_key`, a `resolve` closes it. Returns the keys whose incident is open.
 */
export function openIncidents(pd: Receiver): string[] {
  const open = new Set<string>()
  for (const r of pd.accepted()) {
    const e = isObj(r.json) ? r.json : {}
    const key = String(e.dedup_key)
    if (e.event_action === 'trigger') open.add(key)
    else if (e.event_action === 'resolve') open.delete(key)
  }
  return [...open].sort()
}
