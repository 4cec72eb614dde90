// Generic webhook: a JSON body signed per the Standard Webhooks spec
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
// `webhook-id` (the notification id — stable across retries, so receivers can deduplicate),
// `webhook-timestamp` (seconds) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`).
// Signed with node:crypto (the spec's scheme is one HMAC): the reference library and its base64 and sha256
// dependencies cost an idle alert ~57 KB of bundled code loaded at start. The tests verify these
// signatures with that library.
import { createHmac } from 'node:crypto'
import type { OutboundMessage } from '../message.js'
import { signingKey } from '../routing.js'
import type { Sink, Transport } from './types.js'

export function webhookBody(m: OutboundMessage): Record<string, unknown> {
  if (m.kind === 'digest') return { type: 'alert.digest', id: m.id, timestamp: m.createdAt, alerts: m.items.map(alertJson) }
  return { type: `alert.${m.kind}`, id: m.id, timestamp: m.createdAt, alert: alertJson(m) }
}

function alertJson(m: Exclude<OutboundMessage, { kind: 'digest' }>): Record<string, unknown> {
  return {
    kind: m.kind,
    route: m.route,
    title: m.title,
    text: m.text,
    occurrences: m.occurrences,
    since: m.since,
    groupStartedAt: m.groupStartedAt,
    links: m.links,
    subject: m.subject,
  }
}

export function signedRequest(secret: string, m: OutboundMessage, now: Date): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(webhookBody(m))
  // sinkSpec (routing.ts) checked the secret's format and that its key has at least 16 bytes.
  const key = signingKey(secret)
  const timestamp = Math.floor(now.getTime() / 1000)
  const signature = `v1,${createHmac('sha256', key).update(`${m.id}.${timestamp}.${body}`).digest('base64')}`
  return { body, headers: { 'webhook-id': m.id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature } }
}

export function webhookSink(name: string, url: URL, secret: string, rate: Sink['rate'], post: Transport, now: () => number): Sink {
  return {
    name,
    type: 'webhook',
    rate,
    deliver(m, signal) {
      // Signed at send time: a retry hours later must not carry a timestamp receivers reject as stale.
      const { body, headers } = signedRequest(secret, m, new Date(now()))
      return post(url, body, headers, signal)
    },
  }
}
