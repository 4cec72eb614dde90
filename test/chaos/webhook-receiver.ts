// The outside witness for alerts: a generic webhook receiver (alert's `webhook` sink, Standard Webhooks
// headers) that logs every request and, while a fault is switched on, answers 429 (with Retry-After),
// 500, or not at all until the sender's timeout. Accepted notifications are what counts; a request that
// was answered with an error was not delivered.
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

export type ReceiverFault = 'none' | '429' | '500' | 'timeout'

export interface Notification {
  /** Standard Webhooks `webhook-id`: the notification id, stable across retries. */
  readonly webhookId: string
  /** For a single alert: its message id; for a digest: one entry per item. */
  readonly items: readonly { readonly id: string; readonly kind: string; readonly fingerprint: string; readonly subjectKind: string }[]
  readonly at: number
}

export interface WebhookReceiver {
  readonly url: string
  fault: ReceiverFault
  /** Requests answered 2xx. */
  readonly accepted: Notification[]
  /** Requests answered with a fault, by fault. */
  readonly refused: Record<Exclude<ReceiverFault, 'none'>, number>
  readonly malformed: number
  close(): Promise<void>
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

function itemOf(alert: unknown, id: unknown): Notification['items'][number] | undefined {
  if (!isObj(alert) || typeof id !== 'string') return undefined
  const subject = alert.subject
  if (!isObj(subject) || typeof subject.fingerprint !== 'string') return undefined
  return { id, kind: typeof alert.kind === 'string' ? alert.kind : '?', fingerprint: subject.fingerprint, subjectKind: typeof subject.kind === 'string' ? subject.kind : '?' }
}

/** Reads the webhook body (webhookBody in functions/alert/sinks/webhook.ts): single alerts and digests. */
export function parseNotification(webhookId: string, body: string, at: number): Notification | undefined {
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch {
    return undefined
  }
  if (!isObj(value)) return undefined
  const items: Notification['items'][number][] = []
  if (value.type === 'alert.digest' && Array.isArray(value.alerts)) {
    // Digest items carry no id of their own (webhookBody drops it): the digest id + fingerprint names them.
    for (const a of value.alerts) {
      const fp = isObj(a) && isObj(a.subject) ? a.subject.fingerprint : undefined
      const item = typeof value.id === 'string' && typeof fp === 'string' ? itemOf(a, `${value.id}/${fp}`) : undefined
      if (item === undefined) return undefined
      items.push(item)
    }
  } else {
    const item = itemOf(value.alert, value.id)
    if (item === undefined) return undefined
    items.push(item)
  }
  return { webhookId, items, at }
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const accepted: Notification[] = []
  const refused = { '429': 0, '500': 0, timeout: 0 }
  const hanging = new Set<http.ServerResponse>()
  let malformed = 0
  const state: { fault: ReceiverFault } = { fault: 'none' }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const fault = state.fault
      if (fault === '429') {
        refused['429']++
        res.writeHead(429, { 'retry-after': '1' }).end()
        return
      }
      if (fault === '500') {
        refused['500']++
        res.writeHead(500).end('{"error":"receiver down for maintenance"}')
        return
      }
      if (fault === 'timeout') {
        // Never answer: the sender's ALERT_TIMEOUT_MS must fire. Closed when the fault ends.
        refused.timeout++
        hanging.add(res)
        return
      }
      const id = req.headers['webhook-id']
      const n = typeof id === 'string' ? parseNotification(id, Buffer.concat(chunks).toString('utf8'), Date.now()) : undefined
      if (n === undefined) {
        malformed++
        res.writeHead(400).end()
        return
      }
      accepted.push(n)
      res.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hooks/kube-reflex`,
    get fault() {
      return state.fault
    },
    set fault(f: ReceiverFault) {
      state.fault = f
      if (f !== 'timeout') {
        for (const res of hanging) res.destroy()
        hanging.clear()
      }
    },
    accepted,
    refused,
    get malformed() {
      return malformed
    },
    async close() {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
