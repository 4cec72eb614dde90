import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { systemClock, type DeliveryReport, type LocalBroker } from '../../broker/broker.js'
import { httpSender, type Sender } from '../../broker/http-sender.js'
import { brokerYaml, event, heldClock, recordingClock, startManifestBroker, startReceiver, startSilentServer, type TestReceiver, triggerYaml, waitFor, writeManifests } from './helpers.js'

const typeFilter = (type: string): string => `  filter:\n    attributes:\n      type: ${type}`

async function setup(
  t: Test,
  brokerDelivery: string,
  triggers: (urls: { sub: string; dls: string }) => Record<string, string>,
  answer: TestReceiver['answer'],
): Promise<{ broker: LocalBroker; sub: TestReceiver; dls: TestReceiver; clock: ReturnType<typeof recordingClock>; reports: DeliveryReport[]; dir: string }> {
  const sub = await startReceiver(answer)
  const dls = await startReceiver()
  t.teardown(() => sub.close())
  t.teardown(() => dls.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(brokerDelivery), triggers({ sub: sub.url, dls: dls.url }))
  const clock = recordingClock()
  const reports: DeliveryReport[] = []
  const broker = await startManifestBroker(dir, files, {
    clock,
    observer: { delivered: (r) => reports.push(r) },
  })
  t.teardown(() => broker.close())
  return { broker, sub, dls, clock, reports, dir }
}

// First in the file, while no other test has timers of its own.
void t.test('the system clock: an abort ends a sleep at once and clears its timer', async (t) => {
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const stop = new AbortController()
  const sleeping = systemClock.sleep(60_000, stop.signal)
  t.equal(timers(), before + 1)
  stop.abort()
  t.equal(timers(), before, 'no timer left behind to keep a stopping process alive')
  const ended = await Promise.race([sleeping.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))])
  t.ok(ended, 'the sleep ended with the abort')
  await systemClock.sleep(60_000, stop.signal) // already aborted: returns at once
  await systemClock.sleep(1)
})

void t.test('exponential backoff, then the dead-letter sink with the knativeerror* extensions', async (t) => {
  const { broker, sub, dls, clock, reports } = await setup(
    t,
    '',
    (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test'), `    retry: 3\n    backoffPolicy: exponential\n    backoffDelay: PT1S\n    deadLetterSink:\n      uri: ${u.dls}/dead`) }),
    () => ({ status: 500, body: 'boom' }),
  )
  await broker.accept(event('e1', 'x.test'))
  await broker.idle()
  t.equal(sub.received.length, 4, 'one attempt plus 3 retries')
  t.same(clock.sleeps, [1000, 2000, 4000], 'delay * 2^n, n from 0')
  t.equal(dls.received.length, 1)
  const dead = dls.received[0]
  t.equal(dead?.event.id, 'e1')
  t.equal(dead?.event.knativeerrordest, sub.url)
  t.equal(dead?.event.knativeerrorcode, '500')
  t.equal(dead?.event.knativeerrordata, Buffer.from('boom').toString('base64'))
  t.equal(dead?.headers['ce-knativeerrorcode'], '500', 'binary mode to the sink')
  t.equal(reports[0]?.outcome, 'dead-lettered')
})

void t.test('a trigger waiting out its retry backoff holds no delivery slot: the other triggers keep receiving', async (t) => {
  const failing = await startReceiver(() => ({ status: 503 }))
  const healthy = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => failing.close())
  t.teardown(() => healthy.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), {
    a: triggerYaml('a', failing.url, typeFilter('x.test'), `    retry: 3\n    backoffPolicy: exponential\n    backoffDelay: PT1S`),
    b: triggerYaml('b', healthy.url, typeFilter('x.test')),
  })
  const clock = heldClock()
  const reports: DeliveryReport[] = []
  const broker = await startManifestBroker(dir, files, { clock, concurrency: 2, observer: { delivered: (r) => reports.push(r) } })
  t.teardown(() => broker.close())
  const ids = Array.from({ length: 10 }, (_, i) => `e${i}`)
  for (const id of ids) await broker.accept(event(id, 'x.test'))
  // Every backoff of `a` is held open: with each one keeping a slot, `b` stopped after its first event.
  await waitFor(() => healthy.received.length === ids.length)
  t.same(healthy.received.map((r) => r.event.id).sort(), ids, 'b received every event while a was backing off')
  t.same(failing.received.map((r) => r.event.id).sort(), ids, 'a: one attempt per event so far')
  await waitFor(() => clock.held === ids.length)
  t.equal(broker.depth, ids.length, 'the events a has not finished stay queued')
  clock.release()
  await broker.idle()
  t.equal(failing.received.length, ids.length * 4, 'a: one attempt and 3 retries per event')
  t.same(clock.sleeps.sort((x, y) => x - y), [...ids.map(() => 1000), ...ids.map(() => 2000), ...ids.map(() => 4000)], 'each retry waited its own backoff')
  t.same(
    reports.filter((r) => r.trigger === 'a').map((r) => [r.outcome, r.attempts, r.status]),
    ids.map(() => ['failed', 4, 503]),
  )
  t.equal(broker.depth, 0)
})

void t.test('close() cancels a retry backoff and sends nothing after it; the event stays queued for the next start', async (t) => {
  const sub = await startReceiver(() => ({ status: 503 }))
  t.teardown(() => sub.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), { a: triggerYaml('a', sub.url, typeFilter('x.test'), `    retry: 3\n    backoffPolicy: exponential\n    backoffDelay: PT1S`) })
  const clock = heldClock()
  const http = httpSender(4)
  let sends = 0
  const sender: Sender = {
    send: (...args) => {
      sends++
      return http.send(...args)
    },
    close: () => http.close(),
  }
  const first = await startManifestBroker(dir, files, { clock, sender })
  await first.accept(event('e1', 'x.test'))
  await waitFor(() => clock.held === 1)
  await first.close()
  t.equal(clock.signals[0]?.aborted, true, 'the backoff was cancelled by close()')
  clock.release() // as if its timer fired anyway
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(sends, 1, 'no request after close() began')
  t.equal(first.depth, 1, 'the event is still queued, unfinished')
  sub.answer = () => ({ status: 202 })
  const second = await startManifestBroker(dir, files, { clock: recordingClock() })
  t.teardown(() => second.close())
  await second.idle()
  t.same(
    sub.received.map((r) => r.event.id),
    ['e1', 'e1'],
    'the next start delivers it again (at-least-once)',
  )
})

void t.test('a subscriber that fails twice then accepts: retried with linear backoff, no dead letter', async (t) => {
  const { broker, sub, dls, clock, reports } = await setup(
    t,
    `    retry: 5\n    backoffPolicy: linear\n    backoffDelay: PT0.2S`,
    (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test')) }),
    (_e, n) => (n < 2 ? { status: 503 } : { status: 202 }),
  )
  await broker.accept(event('e1', 'x.test'))
  await broker.idle()
  t.equal(sub.received.length, 3)
  t.same(clock.sleeps, [0, 200], 'linear: delay * n, n from 0 (Broker delivery applies: the Trigger has none)')
  t.equal(dls.received.length, 0)
  t.equal(reports[0]?.outcome, 'ack')
  t.equal(reports[0]?.attempts, 3)
})

void t.test('429 with Retry-After: ignored without retryAfterMax, else waited for up to it; 400 is final and dead-lettered at once', async (t) => {
  const refused = new Set<string>()
  const { broker, sub, dls, clock } = await setup(
    t,
    '',
    (u) => ({
      a: triggerYaml('a', u.sub, typeFilter('x.test'), `    retry: 4\n    backoffPolicy: exponential\n    backoffDelay: PT0.1S\n    deadLetterSink:\n      uri: ${u.dls}`),
      b: triggerYaml('b', u.sub, typeFilter('x.capped'), `    retry: 4\n    backoffPolicy: exponential\n    backoffDelay: PT0.1S\n    retryAfterMax: PT5S`),
    }),
    (e) => {
      if (e.id === 'bad') return { status: 400, body: '{"code":"EVENT_INVALID"}' }
      if (refused.has(e.id)) return { status: 202 }
      refused.add(e.id)
      return { status: 429, headers: { 'retry-after': e.id === 'short' ? '2' : '7' } }
    },
  )
  await broker.accept(event('slow', 'x.test'))
  await broker.idle()
  t.same(clock.sleeps.splice(0), [100], 'no retryAfterMax: the backoff (0.1 s), not the Retry-After (7 s), as Knative while delivery-retryafter is off')
  await broker.accept(event('long', 'x.capped'))
  await broker.idle()
  t.same(clock.sleeps.splice(0), [5000], 'Retry-After (7 s) capped at retryAfterMax (5 s)')
  await broker.accept(event('short', 'x.capped'))
  await broker.idle()
  t.same(clock.sleeps.splice(0), [2000], 'Retry-After (2 s) beats the backoff (0.1 s)')
  await broker.accept(event('bad', 'x.test'))
  await broker.idle()
  t.equal(sub.received.filter((r) => r.event.id === 'bad').length, 1, '400 is not retried')
  t.equal(dls.received[0]?.event.knativeerrorcode, '400')
  t.equal(Buffer.from(String(dls.received[0]?.event.knativeerrordata), 'base64').toString(), '{"code":"EVENT_INVALID"}')
})

void t.test('Knative retryable set: 404, 408, 409 and network errors retry; 401, 403, 413 do not', async (t) => {
  const codes = [404, 408, 409, 401, 403, 413]
  const { broker, sub } = await setup(
    t,
    '',
    (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test'), `    retry: 1`) }),
    (e) => ({ status: Number(e.id) }),
  )
  for (const c of codes) await broker.accept(event(String(c), 'x.test'))
  await broker.idle()
  for (const c of codes) {
    const attempts = sub.received.filter((r) => r.event.id === String(c)).length
    t.equal(attempts, c === 404 || c === 408 || c === 409 ? 2 : 1, `status ${c}`)
  }
})

void t.test('network error and timeout: retried, dead-lettered as 500 with the dispatch error', async (t) => {
  const { broker, dls, reports } = await setup(
    t,
    '',
    (u) => ({
      gone: triggerYaml('gone', 'http://127.0.0.1:1/', typeFilter('x.gone'), `    retry: 2\n    deadLetterSink:\n      uri: ${u.dls}`),
      slow: triggerYaml('slow', u.sub, typeFilter('x.slow'), `    retry: 0\n    timeout: PT0.1S\n    deadLetterSink:\n      uri: ${u.dls}`),
    }),
    () => ({ status: 202, delayMs: 1000 }),
  )
  await broker.accept(event('n1', 'x.gone'))
  await broker.accept(event('s1', 'x.slow'))
  await broker.idle()
  const gone = reports.find((r) => r.trigger === 'gone')
  t.equal(gone?.attempts, 3)
  const byId = new Map(dls.received.map((r) => [r.event.id, r.event]))
  t.equal(byId.get('n1')?.knativeerrorcode, '500')
  t.match(Buffer.from(String(byId.get('s1')?.knativeerrordata), 'base64').toString(), /^dispatch error: timeout/)
})

void t.test('a subscriber that never answers: its attempts fail after the default timeout, are retried and dead-lettered; other triggers are not stalled', async (t) => {
  const silent = await startSilentServer()
  const healthy = await startReceiver(() => ({ status: 202 }))
  const dls = await startReceiver(() => ({ status: 202 }))
  t.teardown(() => silent.close())
  t.teardown(() => healthy.close())
  t.teardown(() => dls.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), {
    // No delivery.timeout: the broker's default bound applies (5 s here instead of 300 s, so the test is short).
    a: triggerYaml('a', silent.url, typeFilter('x.test'), `    retry: 1\n    deadLetterSink:\n      uri: ${dls.url}`),
    b: triggerYaml('b', healthy.url, ''),
  })
  const reports: DeliveryReport[] = []
  // Two delivery slots: as many as `a` has hanging requests.
  const broker = await startManifestBroker(dir, files, { concurrency: 2, attemptTimeoutMs: 5000, observer: { delivered: (r) => reports.push(r) } })
  t.teardown(() => broker.close(50))
  for (const id of ['e1', 'e2']) await broker.accept(event(id, 'x.test'))
  for (const id of ['f1', 'f2', 'f3']) await broker.accept(event(id, 'y.test'))
  await waitFor(() => healthy.received.length === 5 && silent.received.length >= 2)
  t.same(healthy.received.map((r) => r.event.id).sort(), ['e1', 'e2', 'f1', 'f2', 'f3'], 'b received every event while both requests to a were hanging')
  t.equal(silent.received.length, 2, "a's first attempts had not timed out yet")
  t.same(reports.filter((r) => r.trigger === 'a'), [], 'nothing settled for a yet')
  await broker.idle()
  t.same(silent.received.map((r) => r.event.id).sort(), ['e1', 'e1', 'e2', 'e2'], 'each attempt timed out and was retried once (retry: 1)')
  t.same(
    reports.filter((r) => r.trigger === 'a').map((r) => [r.event.id, r.outcome, r.attempts, r.status]).sort(),
    [['e1', 'dead-lettered', 2, 500], ['e2', 'dead-lettered', 2, 500]],
  )
  t.same(dls.received.map((r) => r.event.knativeerrorcode), ['500', '500'], 'dead-lettered as a network error, as delivery.timeout is')
  for (const r of dls.received) t.match(Buffer.from(String(r.event.knativeerrordata), 'base64').toString(), /^dispatch error: timeout after 5000 ms/)
  t.equal(broker.depth, 0)
})

void t.test('a hanging path does not take the connections of another subscriber on the same host and port', async (t) => {
  // As `dev --http-delivery` has it: every function behind one host, one path each.
  const hanging: string[] = []
  const answered: string[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const id = String(req.headers['ce-id'])
      if (req.url === '/hang') hanging.push(id)
      else {
        answered.push(id)
        res.statusCode = 202
        res.end()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), { a: triggerYaml('a', `${base}/hang`, typeFilter('x.test')), b: triggerYaml('b', `${base}/ok`, '') })
  const broker = await startManifestBroker(dir, files, { concurrency: 2 })
  t.teardown(() => broker.close(50))
  for (const id of ['e1', 'e2']) await broker.accept(event(id, 'x.test'))
  for (const id of ['f1', 'f2', 'f3']) await broker.accept(event(id, 'y.test'))
  await waitFor(() => answered.length === 5 && hanging.length === 2)
  t.same(answered.sort(), ['e1', 'e2', 'f1', 'f2', 'f3'], 'b received every event while both of its connections to /hang were held')
})

void t.test('per-attempt timeout: delivery.timeout when set, else the default of 300 s (also for PT0S)', async (t) => {
  const seen = new Map<string, number | undefined>()
  const sender: Sender = {
    send: (url, _event, _headers, timeoutMs) => {
      seen.set(url, timeoutMs)
      return Promise.resolve({ status: 202, headers: {}, body: Buffer.alloc(0) })
    },
    close: () => undefined,
  }
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), {
    unset: triggerYaml('unset', 'http://127.0.0.1:9/unset', typeFilter('x.test')),
    set: triggerYaml('set', 'http://127.0.0.1:9/set', typeFilter('x.test'), `    timeout: PT5S`),
    zero: triggerYaml('zero', 'http://127.0.0.1:9/zero', typeFilter('x.test'), `    timeout: PT0S`),
  })
  const broker = await startManifestBroker(dir, files, { sender })
  t.teardown(() => broker.close())
  await broker.accept(event('e1', 'x.test'))
  await broker.idle()
  t.equal(seen.get('http://127.0.0.1:9/unset'), 300_000, 'no delivery.timeout: the default bound')
  t.equal(seen.get('http://127.0.0.1:9/set'), 5000)
  t.equal(seen.get('http://127.0.0.1:9/zero'), 300_000, 'PT0S means no timeout of its own in Knative: the default bound')
})

void t.test('binary mode, Prefer: reply, knativearrivaltime, no TTL to the subscriber; replies re-enter the broker', async (t) => {
  const { broker, sub, reports } = await setup(
    t,
    '',
    (u) => ({
      first: triggerYaml('first', `${u.sub}/first`, typeFilter('x.in')),
      second: triggerYaml('second', `${u.sub}/second`, typeFilter('x.out')),
    }),
    (e) =>
      e.type === 'x.in'
        ? { status: 200, headers: { 'ce-specversion': '1.0', 'ce-id': `r-${e.id}`, 'ce-source': '/fn', 'ce-type': 'x.out', 'content-type': 'application/json' }, body: '{"ok":true}' }
        : { status: 202 },
  )
  await broker.accept(event('e1', 'x.in'))
  await broker.idle()
  t.equal(sub.received.length, 2)
  const [first, second] = sub.received
  t.equal(first?.headers.prefer, 'reply')
  t.equal(first?.headers['ce-id'], 'e1', 'binary mode')
  t.ok(first?.headers['ce-knativearrivaltime'], 'arrival time stamped by the ingress')
  t.equal(first?.headers['ce-knativebrokerttl'], undefined, 'the filter strips the TTL')
  t.equal(second?.event.id, 'r-e1', 'the reply was routed by the other trigger')
  t.same(second?.event.data, { ok: true })
  t.same(
    reports.map((r) => [r.trigger, r.outcome]),
    [
      ['first', 'reply'],
      ['second', 'ack'],
    ],
  )
})

void t.test('TTL: a reply loop ends when knativebrokerttl is used up; an event arriving without TTL gets 255', async (t) => {
  const { broker, sub } = await setup(
    t,
    '',
    (u) => ({ loop: triggerYaml('loop', u.sub, typeFilter('x.loop')) }),
    (e) => ({ status: 200, headers: { 'ce-specversion': '1.0', 'ce-id': `${e.id}+`, 'ce-source': '/fn', 'ce-type': 'x.loop' } }),
  )
  await broker.accept(event('l', 'x.loop', { knativebrokerttl: 4 }))
  await broker.idle()
  // 4 → ingress 3 (deliver), reply 3 → 2 (deliver), 2 → 1 (deliver), 1 → 0 dropped.
  t.same(
    sub.received.map((r) => r.event.id),
    ['l', 'l+', 'l++'],
  )
  await t.rejects(broker.accept(event('dead', 'x.loop', { knativebrokerttl: 1 })), { code: 'EVENT_INVALID' }, 'TTL 1 at the ingress becomes 0: refused')
})

void t.test('200 with a body that is not a CloudEvent is a failure (502) and is retried', async (t) => {
  const { broker, sub, dls } = await setup(
    t,
    '',
    (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test'), `    retry: 1\n    deadLetterSink:\n      uri: ${u.dls}`) }),
    () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'hello' }),
  )
  await broker.accept(event('e', 'x.test'))
  await broker.idle()
  t.equal(sub.received.length, 2)
  t.equal(dls.received[0]?.event.knativeerrorcode, '502')
})

void t.test('invalid events are refused at the ingress', async (t) => {
  const { broker } = await setup(t, '', (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test')) }), () => ({ status: 202 }))
  await t.rejects(broker.accept({ ...event('x'), id: '' }), { code: 'EVENT_INVALID' })
})

void t.test('a Trigger delivery without deadLetterSink does not inherit the Broker sink (Knative)', async (t) => {
  const { broker, dls, reports } = await setup(
    t,
    `    retry: 5\n    deadLetterSink:\n      uri: http://127.0.0.1:9/unused`,
    (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test'), `    retry: 0`) }),
    () => ({ status: 500 }),
  )
  await broker.accept(event('e', 'x.test'))
  await broker.idle()
  t.equal(dls.received.length, 0)
  t.equal(reports[0]?.outcome, 'failed')
  t.equal(reports[0]?.attempts, 1, "the Trigger's retry: 0 wins over the Broker's 5")
})

void t.test('broker metrics: deliveries by trigger and outcome, queue depth, lag', async (t) => {
  const { broker } = await setup(t, '', (u) => ({ a: triggerYaml('a', u.sub, typeFilter('x.test')) }), () => ({ status: 202 }))
  await broker.accept(event('e1', 'x.test'))
  await broker.accept(event('e2', 'x.test'))
  await broker.idle()
  const text = await broker.registry.metrics()
  t.match(text, /broker_deliveries_total\{trigger="a",outcome="ack"\} 2/)
  t.match(text, /broker_events_accepted_total\{origin="source"\} 2/)
  t.match(text, /broker_queue_depth 0/)
  t.match(text, /broker_delivery_lag_seconds_count\{trigger="a"\} 2/)
  t.match(text, /broker_delivery_attempts_total\{trigger="a",status="202"\} 2/)
})
