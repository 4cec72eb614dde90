// alert behind the real host: binary replies, 202 for other types, 429 + Retry-After from the sink.
import t, { type Test } from 'tap'
import { createAlert, loadConfig, type AlertFunction } from '../../../functions/alert/index.js'
import { toBinary, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { startHost } from '../../helpers/host.js'
import { classifiedEvent, clock, sharedDatabase } from './fixtures.js'
import { startReceiver, type Receiver } from './receivers/index.js'

const shared = sharedDatabase(t)

interface Served {
  readonly fn: AlertFunction
  readonly c: ReturnType<typeof clock>
  readonly url: string
  readonly post: (ev: CloudEventV1) => Promise<Response>
}

/** alert on its real host, with a controllable clock; the file's database, emptied first. */
async function serve(t: Test, env: Record<string, string>, receivers: Receiver[]): Promise<Served> {
  const { db, reset } = await shared
  await reset()
  const c = clock(Date.now())
  const fn = await createAlert(loadConfig({ ALERT_ALLOW_HOSTS: '127.0.0.1', ...env }), { now: c.now, db })
  t.teardown(async () => {
    await fn.close()
    for (const r of receivers) await r.close()
  })
  const host = await startHost(t, fn)
  return {
    fn,
    c,
    url: host.url,
    post: (ev) => {
      const { headers, body } = toBinary(ev)
      return fetch(host.url, { method: 'POST', headers, body })
    },
  }
}

void t.test('over HTTP', async (t) => {
  const slack = await startReceiver('slack')
  const { c, post, url } = await serve(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const ev = classifiedEvent()
  slack.queue({ status: 429, headers: { 'retry-after': '4' } })
  const limited = await post(ev)
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '4')
  const early = await post(ev)
  t.equal(early.status, 429, 'a retry before the sink Retry-After does not call the sink, and still says slow down')
  t.equal(slack.requests.length, 1)
  c.advance(4_000)
  slack.queue({ status: 503 })
  const down = await post(ev)
  t.equal(down.status, 503)
  t.match(await down.json(), { code: 'DOWNSTREAM_UNAVAILABLE', message: 'temporarily unavailable, retry later' })
  t.equal(slack.accepted().length, 0)
  c.advance(5_000) // the 503 asked for a pause (default 5 s without Retry-After)
  const ok = await post(ev)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('ce-type'), 'dev.kubereflex.alert.sent')
  t.equal(ok.headers.get('ce-source'), '/kube-reflex/alert')
  t.equal(ok.headers.get('ce-fingerprint'), 'fp-shop-deployment-checkout-crashloop')
  t.match(await ok.json(), { fingerprint: 'fp-shop-deployment-checkout-crashloop', sinks: ['slack'], subject: 'shop/Deployment/checkout' })
  t.equal(slack.accepted().length, 1)
  const other = await post({ ...classifiedEvent(), type: 'dev.kubereflex.recovery.planned' })
  t.equal(other.status, 202)
  const bad = await post({ ...classifiedEvent(), data: { nothing: true } })
  t.equal(bad.status, 400)
  t.equal((await fetch(`${url}/health/readiness`)).status, 200)
})

// DESIGN.md "HTTP behaviour": 429 with Retry-After when a downstream asked to slow down. The sink's request
// still holds for a redelivery that comes before its Retry-After has passed (alert does not call it then),
// so that redelivery is answered the same way, with the time that is left.
void t.test('a redelivery before the sink Retry-After has passed → 429 with the time left, the sink not called', async (t) => {
  const slack = await startReceiver('slack')
  const { c, post } = await serve(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const ev = classifiedEvent()
  slack.queue({ status: 429, headers: { 'retry-after': '10' }, body: 'rate_limited' })
  const first = await post(ev)
  t.equal(first.status, 429)
  t.equal(first.headers.get('retry-after'), '10')
  t.match(await first.json(), { code: 'DOWNSTREAM_RATE_LIMITED' })

  c.advance(2_500)
  const soon = await post(ev)
  t.equal(soon.status, 429, 'the sink asked to slow down and its wait is not over')
  t.equal(soon.headers.get('retry-after'), '8', '7.5 s left, in whole seconds rounded up')
  t.match(await soon.json(), { code: 'DOWNSTREAM_RATE_LIMITED' })

  c.advance(7_499)
  const last = await post(ev)
  t.equal(last.status, 429)
  t.equal(last.headers.get('retry-after'), '1', '1 ms left is still at least 1 s')
  await last.arrayBuffer()
  t.equal(slack.requests.length, 1, 'no redelivery reached the sink before its Retry-After')

  c.advance(1)
  const ok = await post(ev)
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('ce-type'), 'dev.kubereflex.alert.sent')
  t.equal(slack.requests.length, 2)
  t.equal(slack.accepted().length, 1)
})

void t.test('a redelivery while a failing sink (5xx) is paused → 503 with the time left, not 429', async (t) => {
  const slack = await startReceiver('slack')
  const { c, post } = await serve(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const ev = classifiedEvent()
  slack.queue({ status: 503, headers: { 'retry-after': '6' }, body: 'service_unavailable' })
  const first = await post(ev)
  t.equal(first.status, 503)
  t.equal(first.headers.get('retry-after'), '6')
  c.advance(2_000)
  const soon = await post(ev)
  t.equal(soon.status, 503, 'the sink is failing: it did not ask to slow down')
  t.equal(soon.headers.get('retry-after'), '4')
  t.match(await soon.json(), { code: 'DOWNSTREAM_UNAVAILABLE' })
  t.equal(slack.requests.length, 1)
})

void t.test('a recurrence held behind a resolve the sink throttled → 429 with the time left', async (t) => {
  const slack = await startReceiver('slack')
  const { fn, c, post } = await serve(t, { ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [slack])
  t.equal((await post(classifiedEvent())).status, 200)
  c.advance(11 * 60_000)
  slack.queue({ status: 429, headers: { 'retry-after': '5' }, body: 'rate_limited' })
  await fn.flush() // the background round's resolve is throttled
  t.equal(slack.requests.at(-1)?.status, 429)
  c.advance(1_000)
  const recurrence = classifiedEvent()
  const held = await post(recurrence)
  t.equal(held.status, 429, "the new alert waits for the old episode's resolve, which waits for the sink")
  t.equal(held.headers.get('retry-after'), '4')
  t.equal(slack.requests.length, 2, 'nothing sent meanwhile')
  c.advance(4_000)
  const ok = await post(recurrence)
  t.equal(ok.status, 200)
  const texts = slack.accepted().map((r) => (r.json as { text: string }).text)
  t.equal(texts.length, 3)
  t.match(texts[1], /^\[resolved\]/, 'the resolve goes first')
})
