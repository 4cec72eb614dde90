// One outbound POST to a notification endpoint, with the rules of issue 5: SSRF guard (resolve, check,
// connect to the checked address), no redirect following, a hard timeout, and an outcome that says
// whether the broker should retry. Webhook URLs carry credentials: nothing here puts the URL, its path
// or its query into an error message.
import http from 'node:http'
import https from 'node:https'
import { BlockedDestinationError, checkLiteralHost, guardedLookup, type AllowList, type LookupFn } from './ssrf.js'

export interface DeliveryOptions {
  readonly allow: AllowList
  readonly timeoutMs: number
  /** Injected in tests to simulate DNS answers; the guard still checks what it returns. */
  readonly resolver?: LookupFn
  readonly signal?: AbortSignal
}

export type DeliveryOutcome =
  | { readonly kind: 'delivered'; readonly status: number; readonly body: string }
  /** The endpoint asked to slow down (429) or is failing (5xx, timeout, network): retry later. */
  | { readonly kind: 'retry'; readonly status: number | null; readonly retryAfterSeconds: number | undefined; readonly reason: string }
  /** Will not work by retrying (revoked URL, bad token, redirect, blocked destination). */
  | { readonly kind: 'rejected'; readonly status: number | null; readonly reason: string }

const MAX_BODY = 16 * 1024

/** Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Math.min(Number(v), 3600)
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.min(Math.max(0, Math.ceil((at - now) / 1000)), 3600)
}

function errorCode(err: unknown): string {
  if (err instanceof BlockedDestinationError) return err.code
  const code = err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : 'ERR_NETWORK'
}

export function postJson(url: URL, body: string, headers: Record<string, string>, options: DeliveryOptions): Promise<DeliveryOutcome> {
  try {
    checkLiteralHost(url.hostname, options.allow)
  } catch {
    return Promise.resolve({ kind: 'rejected', status: null, reason: 'destination refused by the SSRF guard' })
  }
  const transport = url.protocol === 'https:' ? https : http
  return new Promise((resolve) => {
    let settled = false
    const finish = (outcome: DeliveryOutcome): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent: false, // fresh socket per request: every connection goes through the guarded lookup
        lookup: guardedLookup(options.allow, options.resolver),
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'kube-reflex-alert', ...headers },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size <= MAX_BODY) chunks.push(c)
        })
        res.on('error', (err) => finish({ kind: 'retry', status: null, retryAfterSeconds: undefined, reason: `response failed (${errorCode(err)})` }))
        res.on('end', () => {
          const status = res.statusCode ?? 0
          const text = Buffer.concat(chunks).toString('utf8').slice(0, 512)
          const retryAfterHeader: string | undefined = res.headers['retry-after']
          if (status >= 200 && status < 300) finish({ kind: 'delivered', status, body: text })
          else if (status === 429 || status === 408 || status >= 500) {
            finish({ kind: 'retry', status, retryAfterSeconds: parseRetryAfter(retryAfterHeader), reason: `endpoint answered ${status}` })
          } else if (status >= 300 && status < 400) finish({ kind: 'rejected', status, reason: `endpoint answered ${status} (redirects are not followed)` })
          else finish({ kind: 'rejected', status, reason: `endpoint answered ${status}` })
        })
      },
    )
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }))
    }, options.timeoutMs)
    req.on('error', (err) => {
      if (err instanceof BlockedDestinationError) finish({ kind: 'rejected', status: null, reason: 'destination refused by the SSRF guard' })
      else finish({ kind: 'retry', status: null, retryAfterSeconds: undefined, reason: `endpoint unreachable (${errorCode(err)})` })
    })
    req.end(body)
  })
}
