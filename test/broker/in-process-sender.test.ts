// In-process delivery (kube-reflex dev): the broker hands events to a function hosted in the same process
// through the host's own event path. Each test checks that what the broker sees (status, reply, retries,
// Retry-After, dead letters, timeouts) is what it sees over HTTP from the same host, and that URLs the
// host does not serve still go over HTTP.
import t, { type Test } from 'tap'
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { ReflexError } from '../../shared/errors.js'
import type { Host, ReflexFunction } from '../../shared/host.js'
import type { DeliveryReport } from '../../broker/broker.js'
import { httpSender, type Sender } from '../../broker/http-sender.js'
import { hostLookup, inProcessSender } from '../../broker/in-process-sender.js'
import { startHost } from '../helpers/host.js'
import { brokerYaml, event, recordingClock, startManifestBroker, startReceiver, triggerYaml, writeManifests } from './helpers.js'

type Behaviour = (e: CloudEventV1, n: number) => Promise<CloudEventV1 | undefined>

function stand(name: string, behaviour: Behaviour): ReflexFunction & { seen: CloudEventV1[] } {
  const seen: CloudEventV1[] = []
  return {
    name,
    seen,
    handle: async (e) => {
      seen.push(e)
      return behaviour(e, seen.length - 1)
    },
  }
}

const pong = (e: CloudEventV1): Promise<CloudEventV1> => Promise.resolve({ specversion: '1.0', id: `re-${e.id}`, source: '/reply', type: 'x.pong', note: 'a b', data: { got: e.data ?? null } })

/** A host with the function under /fn, and both senders: in-process first, and plain HTTP. */
async function setup(t: Test, behaviour: Behaviour): Promise<{ host: Host; fn: ReturnType<typeof stand>; local: Sender; http: Sender; url: string }> {
  const fn = stand('classify', behaviour)
  const host = await startHost(t, [{ fn, path: '/fn' }])
  const http = httpSender(4)
  const local = inProcessSender(
    hostLookup(host.url, (p) => host.inProcess(p)),
    http,
  )
  t.teardown(() => local.close())
  return { host, fn, local, http, url: `${host.url}/fn` }
}

void t.test('the same answer in-process as over HTTP: reply, 202, 400, 503 + Retry-After', async (t) => {
  const cases: [string, Behaviour, CloudEventV1, number][] = [
    ['reply', pong, { ...event('r1', 'x.ping'), knativebrokerttl: 254, data: { n: 1 } }, 200],
    ['ack', () => Promise.resolve(undefined), event('a1', 'x.ping'), 202],
    ['retry later', () => Promise.reject(new ReflexError('DOWNSTREAM_UNAVAILABLE', 'slow down', { retryAfterSeconds: 3 })), event('b1', 'x.ping'), 503],
    ['invalid', pong, { ...event('i1', 'x.ping'), time: 'yesterday' }, 400],
  ]
  for (const [name, behaviour, ev, expected] of cases) {
    const { local, http, url, fn } = await setup(t, behaviour)
    const a = await local.send(url, ev, { prefer: 'reply' }, undefined)
    const b = await http.send(url, ev, { prefer: 'reply' }, undefined)
    t.equal(a.status, expected, `${name}: status in-process`)
    t.equal(b.status, expected, `${name}: status over HTTP`)
    t.same(a.body.toString(), b.body.toString(), `${name}: body`)
    for (const h of ['content-type', 'retry-after', 'ce-id', 'ce-type', 'ce-note', 'ce-source']) t.equal(a.headers[h], b.headers[h], `${name}: ${h}`)
    t.match(a.headers['ce-traceparent'] ?? '', b.headers['ce-traceparent'] === undefined ? '' : /^00-/, `${name}: a traceparent on replies`)
    if (name === 'retry later') t.equal(a.headers['retry-after'], '3')
    if (name === 'reply') t.same(JSON.parse(a.body.toString()), { got: { n: 1 } })
    if (fn.seen.length === 2) {
      // The handler sees the event as the binary-mode message carries it: extensions are strings.
      t.same(fn.seen[0], fn.seen[1], `${name}: the handler got the same event both ways`)
      t.equal(fn.seen[0]?.knativebrokerttl ?? '254', '254')
    }
  }
})

void t.test('a URL the host does not serve as an event endpoint goes over HTTP', async (t) => {
  const { local, host } = await setup(t, pong)
  const outside = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => outside.close())
  t.equal((await local.send(outside.url, event('o1'), {}, undefined)).status, 202)
  t.equal(outside.received.length, 1, 'external subscriber reached over HTTP')
  // Same origin, not an event endpoint: express answers it (404 here) over the socket.
  t.equal((await local.send(`${host.url}/nope`, event('o2'), {}, undefined)).status, 404)
  t.equal(host.inProcess('/nope'), undefined)
})

void t.test('timeout: the attempt fails as a network error, like the HTTP sender', async (t) => {
  const { local, url } = await setup(t, () => new Promise((resolve) => setTimeout(() => resolve(undefined), 300)))
  await t.rejects(local.send(url, event('t1'), {}, 50), { name: 'NetworkError', message: /timeout after 50 ms/ })
})

void t.test('through the broker: retries with Retry-After, replies re-enter, dead letters, origin of each delivery', async (t) => {
  const fn = stand('classify', (e, n) => {
    if (e.type !== 'x.ping') return Promise.resolve(undefined)
    if (e.id === 'dead') return Promise.reject(new ReflexError('EVENT_INVALID', 'no'))
    return n === 0 ? Promise.reject(new ReflexError('DOWNSTREAM_UNAVAILABLE', 'busy', { retryAfterSeconds: 2 })) : pong(e)
  })
  const host = await startHost(t, [{ fn, path: '/fn' }])
  const dls = await startReceiver()
  t.teardown(() => dls.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), {
    a: triggerYaml('a', `${host.url}/fn`, '  filter:\n    attributes:\n      type: x.ping', `    retry: 2\n    retryAfterMax: PT10S\n    deadLetterSink:\n      uri: ${dls.url}/dead`),
    b: triggerYaml('b', `${host.url}/fn`, '  filter:\n    attributes:\n      type: x.pong'),
  })
  const clock = recordingClock()
  const reports: DeliveryReport[] = []
  const broker = await startManifestBroker(dir, files, {
    clock,
    sender: inProcessSender(
      hostLookup(host.url, (p) => host.inProcess(p)),
      httpSender(4),
    ),
    observer: { delivered: (r) => reports.push(r) },
  })
  t.teardown(() => broker.close())
  await broker.accept(event('e1', 'x.ping'))
  await broker.idle()
  t.same(clock.sleeps, [2000], 'Retry-After of the 503 honoured (the trigger sets retryAfterMax)')
  const ping = reports.find((r) => r.trigger === 'a')
  t.equal(ping?.outcome, 'reply')
  t.equal(ping?.attempts, 2)
  const back = reports.find((r) => r.trigger === 'b')
  t.equal(back?.event.id, 're-e1', 'the reply re-entered the broker and reached the second trigger')
  t.equal(back?.event.knativebrokerttl, 254, 'one hop off the TTL')
  t.equal(back?.origin, ping?.origin, 'a reply keeps the origin time of its input')
  t.type(ping?.origin, 'number')
  await broker.accept(event('dead', 'x.ping'))
  await broker.idle()
  t.equal(dls.received.length, 1, '400 is final: dead-lettered over HTTP to an external sink')
  t.equal(dls.received[0]?.event.knativeerrorcode, '400')
})

void t.test('a JSON event is handed over parsed and frozen: a handler that writes to its input fails, the next one sees it unchanged', async (t) => {
  const writer = stand('writer', (e) => {
    ;(e.data as { n: string }).n = 'changed'
    return Promise.resolve(undefined)
  })
  const reader = stand('reader', () => Promise.resolve(undefined))
  const host = await startHost(t, [
    { fn: writer, path: '/w' },
    { fn: reader, path: '/r' },
  ])
  const local = inProcessSender(
    hostLookup(host.url, (p) => host.inProcess(p)),
    httpSender(4),
  )
  t.teardown(() => local.close())
  const ev = event('f1', 'x.ping')
  const a = await local.send(`${host.url}/w`, ev, {}, undefined)
  t.equal(a.status, 500, 'the write throws (strict mode, frozen data): a failure the broker retries and reports')
  const b = await local.send(`${host.url}/r`, ev, {}, undefined)
  t.equal(b.status, 202)
  t.same(reader.seen[0]?.data, { n: 'f1' }, 'the second subscriber sees the data as sent')
  t.equal(reader.seen[0]?.data, writer.seen[0]?.data, 'one parsed form shared by both deliveries')
  t.ok(Object.isFrozen(ev.data))
})

void t.test('bytes and text still travel as the binary-mode message', async (t) => {
  const { local, url, fn } = await setup(t, () => Promise.resolve(undefined))
  const bytes = { ...event('b1', 'x.ping'), datacontenttype: 'application/octet-stream', data: Buffer.from([0, 1, 2, 255]) }
  const text = { ...event('t1', 'x.ping'), datacontenttype: 'text/plain', data: 'hello' }
  t.equal((await local.send(url, bytes, {}, undefined)).status, 202)
  t.equal((await local.send(url, text, {}, undefined)).status, 202)
  const got = fn.seen[0]?.data
  t.ok(Buffer.isBuffer(got) && got.equals(bytes.data), 'same bytes')
  t.equal(fn.seen[1]?.data, 'hello')
  t.notOk(Object.isFrozen(bytes.data), 'nothing frozen on the message path')
  // JSON data holding what JSON.parse never makes (a Date) reaches the handler as its JSON text, as over HTTP.
  const dated = { ...event('d1', 'x.ping'), data: { at: new Date(Date.UTC(2026, 10, 28)) } }
  t.equal((await local.send(url, dated, {}, undefined)).status, 202)
  t.same(fn.seen[2]?.data, { at: '2026-11-28T00:00:00.000Z' })
  t.equal((await local.send(url, dated, {}, undefined)).status, 202)
  t.same(fn.seen[3]?.data, { at: '2026-11-28T00:00:00.000Z' }, 'and again on the next delivery of the same event')
})
