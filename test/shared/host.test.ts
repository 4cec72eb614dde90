// The shared host over real HTTP: content modes, the Knative status table, health, metrics, tracing,
// shutdown. The function under test is a small stand-in whose behaviour each test chooses.
import { getEventListeners } from 'node:events'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { ReflexError } from '../../shared/errors.js'
import type { ReflexFunction } from '../../shared/host.js'
import { binaryHeaders, startHost } from '../helpers/host.js'

const base = { specversion: '1.0', id: 'e-1', source: '/test', type: 'com.example.ping' }

function echo(behaviour: (e: CloudEventV1) => Promise<CloudEventV1 | undefined>): ReflexFunction & { seen: CloudEventV1[] } {
  const seen: CloudEventV1[] = []
  return {
    name: 'classify',
    seen,
    handle: async (e) => {
      seen.push(e)
      return behaviour(e)
    },
  }
}

const reply = (e: CloudEventV1): Promise<CloudEventV1> =>
  Promise.resolve({ specversion: '1.0', id: `re-${e.id}`, source: '/reply', type: 'com.example.pong', datacontenttype: 'application/json', note: 'hello world %', data: { got: e.data ?? null } })

t.test('binary mode in, binary mode reply out', async (t) => {
  const fn = echo(reply)
  const host = await startHost(t, fn)
  const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, ext1: 'a%20b' }), body: JSON.stringify({ n: 1 }) })
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-id'), 're-e-1')
  t.equal(res.headers.get('ce-type'), 'com.example.pong')
  t.equal(res.headers.get('ce-note'), 'hello%20world%20%25', 'percent-encoded per HTTP binding 3.1.3.2')
  t.match(res.headers.get('ce-traceparent'), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/)
  t.match(res.headers.get('content-type'), /application\/json/)
  t.same(await res.json(), { got: { n: 1 } })
  t.equal(fn.seen[0]?.ext1, 'a b', 'percent-decoded extension')
})

t.test('a reply with non-ASCII data is sent with its exact byte length, not chunked; in-process gets the same', async (t) => {
  const unicode = (e: CloudEventV1): Promise<CloudEventV1> =>
    Promise.resolve({ specversion: '1.0', id: `re-${e.id}`, source: '/reply', type: 'com.example.pong', datacontenttype: 'application/json', data: { text: 'Grüße 🚀 from ünïcode' } })
  const fn = echo(unicode)
  const host = await startHost(t, fn)
  const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: '{}' })
  const bytes = Buffer.from(await res.arrayBuffer())
  t.equal(res.status, 200)
  t.equal(res.headers.get('transfer-encoding'), null)
  t.equal(res.headers.get('content-length'), String(bytes.length))
  t.same(JSON.parse(bytes.toString('utf8')), { text: 'Grüße 🚀 from ünïcode' })
  const deliver = host.inProcess('/')
  if (deliver === undefined) throw new Error('no in-process route')
  const answer = await deliver({ headers: binaryHeaders(base), body: Buffer.from('{}') })
  t.equal(answer.status, 200)
  t.equal(answer.headers['ce-id'], 're-e-1')
  t.equal(answer.headers['content-length'], String(answer.body.length))
  t.same(JSON.parse(answer.body.toString('utf8')), { text: 'Grüße 🚀 from ünïcode' })
})

t.test('structured mode in', async (t) => {
  const fn = echo(reply)
  const host = await startHost(t, fn)
  const res = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, body: JSON.stringify({ ...base, data: { n: 2 } }) })
  t.equal(res.status, 200)
  t.same(await res.json(), { got: { n: 2 } })
  const b64 = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ ...base, data_base64: Buffer.from('raw').toString('base64') }) })
  t.equal(b64.status, 200)
  t.ok(Buffer.isBuffer(fn.seen[1]?.data), 'data_base64 becomes bytes')
})

t.test('no reply → 202 without body', async (t) => {
  const host = await startHost(t, echo(async () => undefined))
  const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: '{}' })
  t.equal(res.status, 202)
  t.equal(await res.text(), '')
})

t.test('malformed events → 400 with every problem, and the handler is never called', async (t) => {
  const fn = echo(reply)
  const host = await startHost(t, fn)
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['missing id', { specversion: '1.0', source: '/s', type: 't' }, '{}', /id is required/],
    ['empty id', { ...base, id: '' }, '{}', /id must not be empty/],
    ['missing source', { specversion: '1.0', id: '1', type: 't' }, '{}', /source is required/],
    ['missing type', { specversion: '1.0', id: '1', source: '/s' }, '{}', /type is required/],
    ['missing specversion', { id: '1', source: '/s', type: 't' }, '{}', /specversion is required/],
    ['wrong specversion', { ...base, specversion: '0.3' }, '{}', /specversion must be '1.0'/],
    ['bad time', { ...base, time: 'yesterday' }, '{}', /time must be an RFC 3339/],
    ['bad time (no zone)', { ...base, time: '2026-11-28T08:00:00' }, '{}', /time must be an RFC 3339/],
    ['bad extension name', { ...base, 'my-ext': 'x' }, '{}', /my-ext extension names/],
    ['control characters', { ...base, source: '/s%01x' }, '{}', /source contains control characters/],
    ['bad percent-encoding', { ...base, source: '%E0%A4%A' }, '{}', /percent-encoding/],
    ['non-JSON data', base, '{not json', /not valid JSON/],
  ]
  for (const [name, attrs, body, expected] of cases) {
    const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders(attrs), body })
    t.equal(res.status, 400, name)
    const json = (await res.json()) as { message: string; code: string }
    t.match(json.message, expected, name)
    t.match(json.code, /^EVENT_(DATA_)?INVALID$/)
  }
  const several = await fetch(host.url, { method: 'POST', headers: binaryHeaders({ specversion: '1.0', time: 'x' }), body: '{}' })
  const body = (await several.json()) as { problems: unknown[] }
  t.equal(body.problems.length, 4, 'id, source, type and time are all reported')
  const structured: [string, string][] = [
    ['data and data_base64', JSON.stringify({ ...base, data: {}, data_base64: 'eA==' })],
    ['not an object', '[1,2]'],
    ['not JSON', '{"specversion":'],
    ['numeric id', JSON.stringify({ ...base, id: 7 })],
  ]
  for (const [name, b] of structured) {
    const res = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: b })
    t.equal(res.status, 400, name)
  }
  const batch = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]' })
  t.equal(batch.status, 400, 'batch mode is refused')
  const none = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(none.status, 400, 'a plain JSON POST is not an event')
  t.equal(fn.seen.length, 0)
})

t.test('prototype keys in a structured event stay data', async (t) => {
  const fn = echo(async () => undefined)
  const host = await startHost(t, fn)
  const res = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: `{"specversion":"1.0","id":"1","source":"/s","type":"t","__proto__":{"polluted":"yes"}}` })
  t.equal(res.status, 400, '__proto__ is not a valid extension name')
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('events of 64 KiB are accepted; bodies over the limit get 413', async (t) => {
  const fn = echo(async () => undefined)
  const host = await startHost(t, fn, { bodyLimitBytes: 128 * 1024 })
  const big = JSON.stringify({ blob: 'x'.repeat(64 * 1024) })
  t.equal((await fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: big })).status, 202)
  const huge = JSON.stringify({ blob: 'x'.repeat(200 * 1024) })
  t.equal((await fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: huge })).status, 413)
  // Chunked upload without content-length is cut off too.
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < 20; i++) c.enqueue(new TextEncoder().encode('x'.repeat(16 * 1024)))
      c.close()
    },
  })
  const init: RequestInit & { duplex: string } = { method: 'POST', headers: binaryHeaders(base), body: stream, duplex: 'half' }
  const chunked = await fetch(host.url, init)
  t.equal(chunked.status, 413)
  t.equal(fn.seen.length, 1)
})

t.test('temporary failures: 503 and 429 with Retry-After; internal errors leak nothing', async (t) => {
  let mode = 'unavailable'
  const host = await startHost(
    t,
    echo(async () => {
      if (mode === 'unavailable') throw new ReflexError('DOWNSTREAM_UNAVAILABLE', 'db at 10.0.0.5:5432 refused: SQLSTATE 57P03', { retryAfterSeconds: 3 })
      if (mode === 'slow-down') throw new ReflexError('DOWNSTREAM_RATE_LIMITED', 'slack said 429', { retryAfterSeconds: 30 })
      throw new Error('TypeError at /app/secret/path.js:12 password=hunter2')
    }),
  )
  const send = () => fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: '{}' })
  let res = await send()
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '3')
  let text = await res.text()
  t.notMatch(text, /SQLSTATE|10\.0\.0\.5|57P03/)
  mode = 'slow-down'
  res = await send()
  t.equal(res.status, 429)
  t.equal(res.headers.get('retry-after'), '30')
  mode = 'crash'
  res = await send()
  t.equal(res.status, 500)
  text = await res.text()
  t.notMatch(text, /hunter2|secret|TypeError|\.js/)
  t.same(JSON.parse(text), { code: 'INTERNAL', message: 'internal error' })
})

t.test('health and metrics', async (t) => {
  let ready = true
  const fn: ReflexFunction = { name: 'persist', handle: async () => undefined, ready: async () => ready }
  const host = await startHost(t, fn)
  t.equal((await fetch(`${host.url}/health/liveness`)).status, 200)
  t.equal((await fetch(`${host.url}/health/readiness`)).status, 200)
  ready = false
  t.equal((await fetch(`${host.url}/health/readiness`)).status, 503)
  await fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, time: new Date(Date.now() - 1500).toISOString() }), body: '{}' })
  await fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, id: '' }), body: '{}' })
  const text = await (await fetch(`${host.url}/metrics`)).text()
  t.match(text, /events_received_total\{function="persist",type="com.example.ping"\} 1/)
  t.match(text, /event_processing_failures_total\{function="persist",code="EVENT_INVALID"\} 1/)
  t.match(text, /event_processing_duration_seconds_count\{function="persist",type="com.example.ping",outcome="ack"\} 1/)
  t.match(text, /event_lag_seconds_bucket\{le="5",function="persist"\} 1/)
  t.match(text, /event_lag_seconds_bucket\{le="1",function="persist"\} 0/)
})

t.test('the incoming traceparent parents the reply (extension first, then HTTP header)', async (t) => {
  const host = await startHost(t, echo(reply))
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
  const viaExt = await fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, traceparent: parent }), body: '{}' })
  t.match(viaExt.headers.get('ce-traceparent'), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/)
  const viaHeader = await fetch(host.url, { method: 'POST', headers: { ...binaryHeaders(base), traceparent: parent }, body: '{}' })
  t.match(viaHeader.headers.get('ce-traceparent'), /^00-4bf92f3577b34da6a3ce929d0e0e4736-/)
  const fresh = await fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, traceparent: 'garbage' }), body: '{}' })
  t.notMatch(fresh.headers.get('ce-traceparent'), /4bf92f3577b34da6a3ce929d0e0e4736/)
})

t.test('serve all: functions on their own paths', async (t) => {
  const a = echo(async () => undefined)
  const b = echo(reply)
  const host = await startHost(t, [
    { fn: { ...a, name: 'classify' }, path: '/classify' },
    { fn: { ...b, name: 'alert' }, path: '/alert' },
  ])
  t.equal((await fetch(`${host.url}/classify`, { method: 'POST', headers: binaryHeaders(base), body: '{}' })).status, 202)
  t.equal((await fetch(`${host.url}/alert`, { method: 'POST', headers: binaryHeaders(base), body: '{}' })).status, 200)
  t.equal((await fetch(`${host.url}/nowhere`, { method: 'POST', headers: binaryHeaders(base), body: '{}' })).status, 404)
})

t.test('graceful shutdown finishes in-flight events and refuses new ones', async (t) => {
  let release: () => void = () => undefined
  const gate = new Promise<void>((r) => {
    release = r
  })
  let finished = false
  const host = await startHost(
    t,
    echo(async () => {
      await gate
      finished = true
      return undefined
    }),
  )
  const inFlight = fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: '{}' })
  await new Promise((r) => setTimeout(r, 50))
  const closing = host.close()
  await new Promise((r) => setTimeout(r, 20))
  release()
  const res = await inFlight
  t.equal(res.status, 202)
  await closing
  t.ok(finished)
  await t.rejects(fetch(host.url, { method: 'POST', headers: binaryHeaders(base), body: '{}' }), 'no longer listening')
})

t.test('30 events in flight each sending a request on the shutdown signal: no MaxListeners warning, no listener left', async (t) => {
  // What alert does: every webhook send passes ctx.signal to http.request, which listens on it while the
  // request runs. The signal is the host's, shared by every event in flight.
  const warnings: string[] = []
  const onWarning = (w: Error): void => {
    warnings.push(`${w.name}: ${w.message}`)
  }
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  let arrived = 0
  let release: () => void = () => undefined
  const allArrived = new Promise<void>((r) => {
    release = r
  })
  const upstream = createServer((req, res) => {
    req.resume()
    if (++arrived === 30) release()
    // Answer only once all 30 are open at the same time.
    void allArrived.then(() => res.end('ok'))
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  t.teardown(() => upstream.close())
  const port = (upstream.address() as AddressInfo).port
  let signal: AbortSignal | undefined
  const host = await startHost(t, {
    name: 'alert',
    handle: (_e, ctx) => {
      signal = ctx.signal
      return new Promise<undefined>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', agent: false, signal: ctx.signal }, (res) => {
          res.resume()
          res.on('end', () => resolve(undefined))
        })
        req.on('error', reject)
        req.end('{}')
      })
    },
  })
  const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => fetch(host.url, { method: 'POST', headers: binaryHeaders({ ...base, id: `e-${i}` }), body: '{}' })))
  t.same(answers.map((r) => r.status), Array.from({ length: 30 }, () => 202), 'all 30 answered')
  t.equal(arrived, 30, 'the 30 requests were open at the same time')
  await new Promise((r) => setImmediate(r)) // process warnings are emitted on the next tick
  t.same(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning')), [], 'no MaxListenersExceededWarning')
  if (signal === undefined) throw new Error('the handler never ran')
  t.equal(getEventListeners(signal, 'abort').length, 0, 'every request took its listener away when it ended (no leak)')
})

t.test('ce- headers in any case, repeated ones joined and a repeated content-type ignored, as node:http reads them', async (t) => {
  const { connect } = await import('node:net')
  const fn = echo(() => Promise.resolve(undefined))
  const host = await startHost(t, fn)
  const { hostname, port } = new URL(host.url)
  const body = '{"n":1}'
  const request = [
    'POST / HTTP/1.1',
    `Host: ${hostname}:${port}`,
    'CE-SpecVersion: 1.0',
    'Ce-Id: e-9',
    'ce-source: /test',
    'ce-type: com.example.ping',
    'ce-list: a',
    'CE-List: b',
    'Content-Type: application/json',
    'content-type: text/plain',
    'TraceParent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    `Content-Length: ${body.length}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n')
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(request))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
  t.match(answer, /^HTTP\/1\.1 202 /)
  const seen = fn.seen[0]
  t.equal(seen?.id, 'e-9')
  t.equal(seen?.specversion, '1.0')
  t.equal(seen?.list, 'a, b', 'repeated extension headers are joined like node:http joins them')
  t.equal(seen?.datacontenttype, 'application/json', 'the first content-type wins, like node:http')
  t.same(seen?.data, { n: 1 })
})
