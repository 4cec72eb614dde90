// postJson over real sockets: SSRF guard at connect time, no redirects, timeout, status mapping.
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { parseRetryAfter, postJson } from '../../../functions/alert/http-delivery.js'
import { parseAllowList, type LookupFn } from '../../../functions/alert/ssrf.js'
import { startReceiver } from './receivers/index.js'

const allow127 = parseAllowList('127.0.0.1').allow
const none = parseAllowList('').allow

void t.test('a receiver on 127.0.0.1 is reachable only when 127.0.0.1 is allowed', async (t) => {
  const slack = await startReceiver('slack')
  t.teardown(() => slack.close())
  const body = JSON.stringify({ text: 'hi' })
  const refused = await postJson(new URL(slack.url), body, {}, { allow: none, timeoutMs: 2000 })
  t.match(refused, { kind: 'rejected', reason: /SSRF/ })
  t.equal(slack.requests.length, 0, 'nothing reached the receiver')
  const viaName = await postJson(new URL(slack.url.replace('127.0.0.1', 'localhost')), body, {}, { allow: none, timeoutMs: 2000 })
  t.match(viaName, { kind: 'rejected', reason: /SSRF/ }, 'localhost is refused by name too')
  const ok = await postJson(new URL(slack.url), body, {}, { allow: allow127, timeoutMs: 2000 })
  t.match(ok, { kind: 'delivered', status: 200, body: 'ok' })
})

void t.test('a name resolving to ::1 or 169.254.169.254 is refused before connecting', async (t) => {
  const slack = await startReceiver('slack')
  t.teardown(() => slack.close())
  const port = new URL(slack.url).port
  const answers: Record<string, { address: string; family: number }> = {
    'hooks.example': { address: '127.0.0.1', family: 4 },
    'meta.example': { address: '169.254.169.254', family: 4 },
    'six.example': { address: '::1', family: 6 },
  }
  const resolver: LookupFn = (host, _o, cb) => {
    const a = answers[host]
    if (a === undefined) cb(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), [])
    else cb(null, [a])
  }
  for (const host of Object.keys(answers)) {
    const r = await postJson(new URL(`http://${host}:${port}/x`), '{}', {}, { allow: none, timeoutMs: 2000, resolver })
    t.match(r, { kind: 'rejected', reason: /SSRF/ }, host)
  }
  t.equal(slack.requests.length, 0)
  const viaAllowedName = await postJson(new URL(`http://hooks.example:${port}/x`), JSON.stringify({ text: 'a' }), {}, { allow: parseAllowList('hooks.example').allow, timeoutMs: 2000, resolver })
  t.match(viaAllowedName, { kind: 'delivered' }, 'connects to the checked address when the host is allowed')
})

void t.test('redirects are not followed; 4xx rejected; 429/5xx retry with Retry-After', async (t) => {
  const target = await startReceiver('slack')
  const slack = await startReceiver('slack')
  t.teardown(async () => {
    await target.close()
    await slack.close()
  })
  const post = (): ReturnType<typeof postJson> => postJson(new URL(slack.url), JSON.stringify({ text: 'x' }), {}, { allow: allow127, timeoutMs: 2000 })
  slack.queue({ status: 302, headers: { location: target.url } })
  t.match(await post(), { kind: 'rejected', status: 302, reason: /redirects are not followed/ })
  t.equal(target.requests.length, 0, 'redirect target never called')
  slack.queue({ status: 429, headers: { 'retry-after': '30' } })
  t.match(await post(), { kind: 'retry', status: 429, retryAfterSeconds: 30 })
  slack.queue({ status: 503 })
  t.match(await post(), { kind: 'retry', status: 503, retryAfterSeconds: undefined })
  slack.queue({ status: 403, body: 'invalid_token' })
  t.match(await post(), { kind: 'rejected', status: 403 })
  slack.queue({ status: 200, body: 'ok', delayMs: 1000 })
  const started = Date.now()
  t.match(await postJson(new URL(slack.url), '{}', {}, { allow: allow127, timeoutMs: 200 }), { kind: 'retry', reason: /ETIMEDOUT/ })
  t.ok(Date.now() - started < 900, 'gave up at the timeout')
})

void t.test('an unreachable endpoint is a temporary failure', async (t) => {
  const server = http.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise<void>((r) => server.close(() => r()))
  t.match(await postJson(new URL(`http://127.0.0.1:${port}/`), '{}', {}, { allow: allow127, timeoutMs: 1000 }), { kind: 'retry', reason: /ECONNREFUSED/ })
})

void t.test('Retry-After: seconds or HTTP-date, capped', (t) => {
  t.equal(parseRetryAfter('12'), 12)
  t.equal(parseRetryAfter('999999'), 3600)
  t.equal(parseRetryAfter(new Date(Date.now() + 20_000).toUTCString()), 20)
  t.equal(parseRetryAfter('soon'), undefined)
  t.equal(parseRetryAfter(undefined), undefined)
  t.end()
})
