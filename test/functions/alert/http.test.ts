// alert behind the real host: binary replies, 202 for other types, 429 + Retry-After from the sink.
import t from 'tap'
import { createAlert, loadConfig } from '../../../functions/alert/index.js'
import { toBinary } from '../../../shared/cloudevent.js'
import { createHost } from '../../../shared/host.js'
import { silentLogger } from '../../../shared/logger.js'
import { classifiedEvent, clock } from './fixtures.js'
import { startReceiver } from './receivers/index.js'

void t.test('over HTTP', async (t) => {
  const slack = await startReceiver('slack')
  const c = clock(Date.now())
  const fn = await createAlert(loadConfig({ ALERT_ALLOW_HOSTS: '127.0.0.1', KUBE_REFLEX_DATA_DIR: t.testdir({}), ALERT_SLACK_WEBHOOK_URL: slack.url }), { now: c.now })
  const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log: silentLogger, mounts: [{ fn, path: '' }] })
  await host.listen()
  t.teardown(async () => {
    await host.close()
    await slack.close()
  })
  const post = (ev: ReturnType<typeof classifiedEvent>): Promise<Response> => {
    const { headers, body } = toBinary(ev)
    return fetch(host.url, { method: 'POST', headers, body })
  }
  const ev = classifiedEvent()
  slack.queue({ status: 429, headers: { 'retry-after': '4' } })
  const limited = await post(ev)
  t.equal(limited.status, 429)
  t.equal(limited.headers.get('retry-after'), '4')
  const early = await post(ev)
  t.equal(early.status, 503, 'a retry before the sink Retry-After does not call the sink')
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
  t.equal((await fetch(`${host.url}/health/readiness`)).status, 200)
})
