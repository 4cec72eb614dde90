// alert end to end in-process: real PGlite state, real HTTP receivers, the real SSRF-guarded transport.
import t, { type Test } from 'tap'
import { loadConfig, createAlert, type AlertFunction } from '../../../functions/alert/index.js'
import { EVENT_TYPES } from '../../../shared/contracts.js'
import { ReflexError } from '../../../shared/errors.js'
import { classifiedEvent, clock, ctx, escalationEvent, sharedDatabase, WEBHOOK_SECRET } from './fixtures.js'
import { openIncidents, startReceiver, type Receiver } from './receivers/index.js'

type Data = Record<string, unknown>
const dataOf = (e: { data?: unknown } | undefined): Data => (e?.data ?? {}) as Data

const shared = sharedDatabase(t)

async function setup(t: Test, extraEnv: Record<string, string> = {}, receivers: Receiver[] = []): Promise<{ alert: AlertFunction; c: ReturnType<typeof clock> }> {
  const { db, reset } = await shared
  await reset()
  const c = clock()
  const env = { ALERT_ALLOW_HOSTS: '127.0.0.1', ALERT_TIMEOUT_MS: '2000', ALERT_CLAIM_LEASE_MS: '5000', ...extraEnv }
  const alert = await createAlert(loadConfig(env), { now: c.now, db })
  t.teardown(async () => {
    await alert.close?.()
    for (const r of receivers) await r.close()
  })
  return { alert, c }
}


void t.test('first occurrence is sent to Slack, a redelivery is not sent again and gets the same reply', async (t) => {
  const slack = await startReceiver('slack')
  const { alert } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const ev = classifiedEvent()
  const r1 = await alert.handle(ev, ctx())
  t.equal(r1?.type, EVENT_TYPES.alertSent)
  t.equal(slack.accepted().length, 1)
  const msg = slack.accepted()[0]?.json as { text: string; blocks: { type: string }[] }
  t.match(msg.text, /critical.*BackOff.*shop\/Deployment\/checkout/)
  t.ok(msg.blocks.some((b) => b.type === 'actions'), 'runbook link button')
  const r2 = await alert.handle(ev, ctx())
  t.equal(slack.requests.length, 1, 'redelivery does not notify again')
  t.equal(r2?.id, r1?.id, 'deterministic reply id')
  t.equal(r2?.type, EVENT_TYPES.alertSent)
  t.equal(r1?.fingerprint, 'fp-shop-deployment-checkout-crashloop')
  t.same(dataOf(r1).sinks, ['slack'])
  t.equal(dataOf(r1).subject, 'shop/Deployment/checkout')
})

void t.test('repeats are grouped, then re-notified after the repeat interval, and a quiet group starts over', async (t) => {
  const slack = await startReceiver('slack')
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_REPEAT_INTERVAL: '30m', ALERT_GROUP_WINDOW: '10m' }, [slack])
  t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSent)
  for (let i = 0; i < 5; i++) {
    c.advance(5 * 60_000)
    const r = await alert.handle(classifiedEvent(), ctx())
    t.equal(r?.type, EVENT_TYPES.alertSuppressed, `occurrence ${i + 2} is grouped`)
    t.match(String(dataOf(r).suppressedReason), /^grouped/)
  }
  c.advance(5 * 60_000) // 30 min since the first notification
  const repeat = await alert.handle(classifiedEvent(), ctx())
  t.equal(repeat?.type, EVENT_TYPES.alertSent)
  t.equal(slack.accepted().length, 2)
  t.match((slack.accepted()[1]?.json as { text: string }).text, /still failing.*6 times in 30 min/)
  c.advance(11 * 60_000) // quiet for longer than the group window
  t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSent, 'a new problem after a quiet window')
  t.equal(slack.accepted().length, 3)
  t.notMatch((slack.accepted()[2]?.json as { text: string }).text, /still failing/)
})

void t.test('an escalation is not grouped away behind the problem it escalates', async (t) => {
  const slack = await startReceiver('slack')
  const { alert } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  await alert.handle(classifiedEvent(), ctx())
  const r = await alert.handle(escalationEvent(), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSent)
  t.equal(dataOf(r).kind, 'escalation')
  t.equal(slack.accepted().length, 2)
})

void t.test('Slack 429 → 429 with its Retry-After; 500 → 503; the retry sends exactly once', async (t) => {
  const slack = await startReceiver('slack')
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const ev = classifiedEvent()
  slack.queue({ status: 429, headers: { 'retry-after': '7' }, body: 'rate_limited' })
  const e1 = await alert.handle(ev, ctx()).then(() => undefined, (e: unknown) => e)
  t.ok(e1 instanceof ReflexError)
  t.equal((e1 as ReflexError).status, 429)
  t.equal((e1 as ReflexError).retryAfterSeconds, 7)
  c.advance(7_000)
  slack.queue({ status: 500, body: 'internal_error' })
  const e2 = await alert.handle(ev, ctx()).then(() => undefined, (e: unknown) => e)
  t.equal((e2 as ReflexError).status, 503)
  c.advance(10_000)
  t.equal((await alert.handle(ev, ctx()))?.type, EVENT_TYPES.alertSent)
  t.equal(slack.accepted().length, 1)
  t.equal(slack.requests.length, 3)
})

void t.test('a revoked Slack webhook (410/404) → alert.failed with the reason, 200, no endless retry', async (t) => {
  for (const status of [410, 404] as const) {
    const slack = await startReceiver('slack')
    const { alert } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
    slack.revoke(status)
    const ev = classifiedEvent()
    const r = await alert.handle(ev, ctx())
    t.equal(r?.type, EVENT_TYPES.alertFailed)
    t.match((dataOf(r).deliveries as { reason: string }[])[0]?.reason, new RegExp(`answered ${status}`))
    t.equal((await alert.handle(ev, ctx()))?.type, EVENT_TYPES.alertFailed, 'redelivery answers the same, without calling again')
    t.equal(slack.requests.length, 1)
  }
})

void t.test('a slow sink past the timeout → 503 (retry later)', async (t) => {
  const slack = await startReceiver('slack')
  const { alert } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_TIMEOUT_MS: '300', ALERT_CLAIM_LEASE_MS: '1000' }, [slack])
  slack.queue({ status: 200, body: 'ok', delayMs: 1500 })
  const e = await alert.handle(classifiedEvent(), ctx()).then(() => undefined, (err: unknown) => err)
  t.equal((e as ReflexError).status, 503)
})

void t.test('over the Slack rate, notifications fold into one digest instead of being dropped', async (t) => {
  const slack = await startReceiver('slack')
  slack.enforceRate(1, 3)
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  const types: string[] = []
  for (let i = 0; i < 6; i++) {
    // six different problems in the same second (burst of 3 allowed)
    const r = await alert.handle(classifiedEvent({ fingerprint: `fp-${i}`, workload: { kind: 'Deployment', name: `svc-${i}`, inferred: false } }), ctx())
    types.push(String(r?.type))
  }
  t.same(types.filter((x) => x === EVENT_TYPES.alertSent).length, 3, 'burst of 3 sent')
  t.same(types.filter((x) => x === EVENT_TYPES.alertSuppressed).length, 3, 'rest folded into the digest')
  c.advance(1_000)
  await new Promise((r) => setTimeout(r, 1_050)) // the receiver's own 1/s window is real time
  await alert.flush()
  const digest = slack.accepted().at(-1)?.json as { text: string; blocks: { text?: { text?: string } }[] }
  t.match(digest.text, /3 more alerts/)
  for (const svc of ['svc-3', 'svc-4', 'svc-5']) t.match(JSON.stringify(digest.blocks), svc, `digest lists ${svc}`)
  await alert.flush()
  t.equal(slack.accepted().length, 4, 'digest sent once')
  t.equal(slack.requests.filter((r) => r.status === 429).length, 0, 'Slack never had to throttle us')
})

void t.test('PagerDuty: trigger with dedup_key = fingerprint, resolve when the group goes quiet', async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: 'R0UT1NGKEY0123456789abcdefABCDEF' })
  const { alert, c } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: 'R0UT1NGKEY0123456789abcdefABCDEF', ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [pd])
  const r = await alert.handle(classifiedEvent(), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSent)
  const trigger = pd.accepted()[0]?.json as Data
  t.equal(trigger.event_action, 'trigger')
  t.equal(trigger.dedup_key, 'fp-shop-deployment-checkout-crashloop')
  t.equal((trigger.payload as Data).severity, 'critical')
  c.advance(5 * 60_000)
  await alert.flush()
  t.equal(pd.requests.length, 1, 'not resolved while within the group window')
  c.advance(6 * 60_000)
  await alert.flush()
  await alert.flush()
  t.equal(pd.accepted().length, 2)
  const resolve = pd.accepted()[1]?.json as Data
  t.same(resolve, { routing_key: 'R0UT1NGKEY0123456789abcdefABCDEF', event_action: 'resolve', dedup_key: 'fp-shop-deployment-checkout-crashloop' })
})

const PD_KEY = 'R0UT1NGKEY0123456789abcdefABCDEF'
const FP = 'fp-shop-deployment-checkout-crashloop'
const pdEvents = (pd: Receiver): Data[] => pd.accepted().map((r) => r.json as Data)

void t.test("PagerDuty: an escalation's resolve does not close the incident of the problem that is still firing", async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: PD_KEY })
  const { alert, c } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: PD_KEY, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [pd])
  t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSent)
  t.equal((await alert.handle(escalationEvent(), ctx()))?.type, EVENT_TYPES.alertSent, 'the escalation pages')
  t.same(openIncidents(pd), [FP, `${FP}#escalation`], 'the escalation is an incident of its own, not deduplicated into the problem')
  // auto-recover stops escalating; the problem keeps occurring every 5 minutes.
  for (let i = 0; i < 3; i++) {
    c.advance(5 * 60_000)
    t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSuppressed)
    await alert.flush()
  }
  t.same(pdEvents(pd).at(-1), { routing_key: PD_KEY, event_action: 'resolve', dedup_key: `${FP}#escalation` }, 'the quiet escalation is resolved')
  t.same(openIncidents(pd), [FP], "the problem's incident stays open while it fires")
  c.advance(11 * 60_000)
  await alert.flush()
  t.same(openIncidents(pd), [], 'and is resolved once the problem goes quiet')
})

void t.test('PagerDuty: a rate-limited resolve waits for a token and closes its incident — never folded into a digest (a new page)', async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: PD_KEY })
  const { alert, c } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: PD_KEY, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [pd])
  await alert.handle(classifiedEvent(), ctx())
  c.advance(11 * 60_000)
  // Ten other problems spend the burst of 10 just before the round that resolves the first one.
  const others = Array.from({ length: 10 }, (_, i) => `fp-other-${i}`)
  for (const fingerprint of others) t.equal((await alert.handle(classifiedEvent({ fingerprint }), ctx()))?.type, EVENT_TYPES.alertSent)
  await alert.flush()
  t.equal(pdEvents(pd).filter((e) => e.event_action === 'resolve').length, 0, 'no token: the resolve waits')
  c.advance(2_000)
  await alert.flush()
  await alert.flush()
  t.same(pdEvents(pd).at(-1), { routing_key: PD_KEY, event_action: 'resolve', dedup_key: FP }, 'sent as a resolve once there is a token')
  t.same(pdEvents(pd).filter((e) => String(e.dedup_key).startsWith('kube-reflex-digest-')), [], 'no digest trigger')
  t.same(openIncidents(pd), others.sort(), 'the quiet problem is closed, nothing new was opened')
  t.equal(pd.accepted().length, 12)
})

void t.test('a resolution notice queued for a digest (by an older version) is sent on its own', async (t) => {
  const slack = await startReceiver('slack')
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [slack])
  const { db } = await shared
  await alert.handle(classifiedEvent(), ctx())
  c.advance(11 * 60_000)
  slack.queue({ status: 503, body: 'service_unavailable' })
  await alert.flush()
  await db.query("UPDATE alert_notifications SET status = 'queued', next_attempt_at = NULL WHERE kind = 'resolved'")
  for (let i = 0; i < 3; i++) {
    c.advance(1_000)
    await alert.flush()
  }
  const texts = slack.accepted().map((r) => (r.json as { text: string }).text)
  t.equal(texts.length, 2)
  t.match(texts[1], /^\[resolved\] BackOff/, 'a resolution message, not a digest')
})

void t.test('PagerDuty: a resolve still being retried when the problem recurs goes out before the new trigger, never after it', async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: PD_KEY })
  const { alert, c } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: PD_KEY, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [pd])
  await alert.handle(classifiedEvent(), ctx())
  c.advance(11 * 60_000)
  pd.queue({ status: 503, body: 'service unavailable' })
  await alert.flush()
  t.equal(pd.requests.at(-1)?.status, 503, 'the resolve was refused for now (retry in 5 s)')
  c.advance(1_000)
  const recurrence = classifiedEvent()
  const e = await alert.handle(recurrence, ctx()).then(() => undefined, (err: unknown) => err)
  t.match(e, { status: 503 }, 'the new episode waits for the old one to be resolved; the broker retries')
  t.equal(pd.requests.length, 2, 'nothing sent meanwhile')
  c.advance(5_000)
  await alert.flush()
  t.equal((await alert.handle(recurrence, ctx()))?.type, EVENT_TYPES.alertSent, 'the redelivery sends the new trigger')
  t.same(pdEvents(pd).map((x) => x.event_action), ['trigger', 'resolve', 'trigger'])
  t.same(openIncidents(pd), [FP], 'the problem that is back has an open incident')
  c.advance(5 * 60_000)
  t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSuppressed, 'grouped behind that open incident')
})

void t.test('a recurrence whose previous resolve is due again sends that resolve first, then its own alert, in one go', async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: PD_KEY })
  const { alert, c } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: PD_KEY, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }, [pd])
  await alert.handle(classifiedEvent(), ctx())
  c.advance(11 * 60_000)
  pd.queue({ status: 429, headers: { 'retry-after': '2' }, body: '{"status":"throttle event"}' })
  await alert.flush()
  c.advance(2_000)
  const r = await alert.handle(classifiedEvent(), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSent)
  t.same((dataOf(r).deliveries as { outcome: string }[]).map((d) => d.outcome), ['sent'], "the reply lists this event's own delivery")
  t.same(pdEvents(pd).map((x) => x.event_action), ['trigger', 'resolve', 'trigger'])
  t.same(openIncidents(pd), [FP])
})

void t.test('scaled to zero while the problem went quiet: its next occurrence sends the old episode\'s resolve first, then the new alert', async (t) => {
  const slack = await startReceiver('slack')
  const pd = await startReceiver('pagerduty', { routingKey: PD_KEY })
  const env = { ALERT_SLACK_WEBHOOK_URL: slack.url, ALERT_PAGERDUTY_ROUTING_KEY: PD_KEY, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m' }
  const { alert, c } = await setup(t, env, [slack, pd])
  await alert.handle(classifiedEvent({ message: 'Back-off restarting failed container app (first episode)' }), ctx())
  c.advance(2 * 60_000)
  t.equal((await alert.handle(classifiedEvent(), ctx()))?.type, EVENT_TYPES.alertSuppressed)
  // No background round runs: alert is scaled to zero until the problem's next occurrence wakes it.
  c.advance(40 * 60_000)
  const r = await alert.handle(classifiedEvent({ message: 'Back-off restarting failed container app (second episode)' }), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSent)
  const texts = slack.accepted().map((x) => (x.json as { text: string }).text)
  t.equal(texts.length, 3)
  t.match(texts[1], /^\[resolved\] BackOff: shop\/Deployment\/checkout/, "the first episode's resolution, before the new alert")
  t.notMatch(texts[2], /resolved|still failing/)
  t.match(JSON.stringify(slack.accepted()[1]?.json), /No new occurrence for 40 min \(2 occurrences in total\)/)
  t.notMatch(JSON.stringify(slack.accepted()[1]?.json), /second episode/, 'about the old episode, not the occurrence that woke alert')
  t.same(pdEvents(pd).map((x) => x.event_action), ['trigger', 'resolve', 'trigger'])
  t.same(openIncidents(pd), [FP], 'the new episode has an open incident')
  await alert.flush()
  t.equal(slack.accepted().length + pd.accepted().length, 6, 'the background round sends nothing twice')
})

void t.test('PagerDuty 400 (bad routing key) → alert.failed', async (t) => {
  const pd = await startReceiver('pagerduty', { routingKey: 'the-right-key-0123456789abcdefAB' })
  const { alert } = await setup(t, { ALERT_PAGERDUTY_ROUTING_KEY: 'a-wrong-key', ALERT_PAGERDUTY_URL: pd.url }, [pd])
  const r = await alert.handle(classifiedEvent(), ctx())
  t.equal(r?.type, EVENT_TYPES.alertFailed)
  t.notMatch(JSON.stringify(r), /a-wrong-key/, 'the routing key is not in the reply')
})

void t.test('Teams and the signed webhook receive one message each; the signature verifies', async (t) => {
  const teams = await startReceiver('teams')
  const hook = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  const { alert } = await setup(t, { ALERT_TEAMS_WEBHOOK_URL: teams.url, ALERT_WEBHOOK_URL: hook.url, ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET }, [teams, hook])
  const r = await alert.handle(classifiedEvent(), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSent)
  t.same(new Set(dataOf(r).sinks as string[]), new Set(['teams', 'webhook']))
  t.equal(teams.accepted().length, 1)
  t.equal(hook.accepted().length, 1)
  t.equal(hook.requests[0]?.verified, true, 'official standardwebhooks verifier accepts the signature')
  const body = hook.requests[0]?.json as Data
  t.equal(body.type, 'alert.firing')
  t.equal(hook.requests[0]?.headers['webhook-id'], body.id)
})

void t.test('a webhook signed with another secret is refused by the receiver → alert.failed', async (t) => {
  const hook = await startReceiver('webhook', { secret: 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD' })
  const { alert } = await setup(t, { ALERT_WEBHOOK_URL: hook.url, ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET }, [hook])
  const r = await alert.handle(classifiedEvent(), ctx())
  t.equal(hook.requests[0]?.verified, false)
  t.equal(r?.type, EVENT_TYPES.alertFailed)
})

void t.test('routes file: severity/category/namespace include+exclude, per-route template, no match → suppressed', async (t) => {
  const oncall = await startReceiver('slack')
  const team = await startReceiver('slack')
  const dir = t.testdir({
    'routes.yaml': `
sinks:
  - name: oncall
    type: slack
    urlFromEnv: ONCALL_SLACK
  - name: team
    type: slack
    urlFromEnv: TEAM_SLACK
routes:
  - name: prod-critical
    match:
      severity: critical
      namespaces: { include: ["shop", "pay-*"], exclude: ["pay-sandbox"] }
    sinks: [oncall]
    template:
      title: "PROD {{reason}} {{workload}} ({{count}}x)"
    continue: true
  - name: warnings
    match: { severity: [warning], category: [probe, scheduling] }
    sinks: [team]
  - name: crit-team
    match: { severity: [critical] }
    sinks: [team]
`,
  })
  const { alert } = await setup(t, { ALERT_ROUTES_FILE: `${dir}/routes.yaml`, ONCALL_SLACK: oncall.url, TEAM_SLACK: team.url }, [oncall, team])
  await alert.handle(classifiedEvent(), ctx())
  t.equal(oncall.accepted().length, 1)
  t.match((oncall.accepted()[0]?.json as { text: string }).text, /^PROD BackOff Deployment\/checkout \(7x\)$/)
  t.equal(team.accepted().length, 1, 'continue: true lets the next matching route have it too')
  await alert.handle(classifiedEvent({ namespace: 'pay-sandbox', fingerprint: 'fp-2' }), ctx())
  t.equal(oncall.accepted().length, 1, 'excluded namespace')
  t.equal(team.accepted().length, 2)
  const r = await alert.handle(classifiedEvent({ severity: 'warning', category: 'eviction', reason: 'Evicted', fingerprint: 'fp-3' }), ctx())
  t.equal(r?.type, EVENT_TYPES.alertSuppressed)
  t.equal(dataOf(r).suppressedReason, 'no route matches this alert')
})

void t.test('bad input → 400; types alert does not handle and info events → 202', async (t) => {
  const { alert } = await setup(t)
  for (const data of [[], 'BackOff', { reason: 'BackOff', category: 'crashloop' }, { fingerprint: 'fp', category: 'not-a-category', reason: 'BackOff' }]) {
    const { fingerprint: _fp, category: _c, ...bad } = classifiedEvent()
    const e = await alert.handle({ ...bad, data }, ctx()).then(() => undefined, (err: unknown) => err)
    t.equal((e as ReflexError | undefined)?.status, 400, JSON.stringify(data))
  }
  t.equal(await alert.handle({ ...classifiedEvent(), type: 'dev.kubereflex.recovery.performed' }, ctx()), undefined)
  t.equal(await alert.handle(classifiedEvent({ severity: 'info' }), { ...ctx() }).then((r) => r), undefined)
})

void t.test('a digest whose send must be retried is sent again as it was: same items, even when more alerts queued meanwhile (chaos K2)', async (t) => {
  const slack = await startReceiver('slack')
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  for (let i = 0; i < 5; i++) await alert.handle(classifiedEvent({ fingerprint: `fp-k-${i}`, workload: { kind: 'Deployment', name: `k-${i}`, inferred: false } }), ctx())
  t.equal(slack.accepted().length, 3, 'burst sent singly, two queued for the digest')
  c.advance(1_000)
  // The sink took the digest but the answer was lost (a timeout looks the same): the digest must be retried.
  slack.queue({ status: 503, body: 'service_unavailable' })
  await alert.flush()
  const first = slack.requests.at(-1)?.body
  t.match(first, /k-3/)
  // A new alert is queued before the retry: it must not join (and re-identify) the digest being retried.
  await alert.handle(classifiedEvent({ fingerprint: 'fp-k-late', workload: { kind: 'Deployment', name: 'k-late', inferred: false } }), ctx())
  c.advance(1_000)
  await alert.flush()
  t.equal(slack.accepted().at(-1)?.body, first, 'the retried digest is byte-for-byte the first attempt (same id, same items)')
  c.advance(1_000)
  await alert.flush()
  const last = slack.accepted().at(-1)?.body ?? ''
  t.match(last, /k-late/, 'the late alert goes out in a digest of its own')
  t.notMatch(last, /k-3|k-4/, 'without the items already sent')
})

void t.test('a digest the sink refuses for now goes back to the queue and is sent on a later round', async (t) => {
  const slack = await startReceiver('slack')
  const { alert, c } = await setup(t, { ALERT_SLACK_WEBHOOK_URL: slack.url }, [slack])
  for (let i = 0; i < 5; i++) await alert.handle(classifiedEvent({ fingerprint: `fp-d-${i}`, workload: { kind: 'Deployment', name: `d-${i}`, inferred: false } }), ctx())
  t.equal(slack.accepted().length, 3)
  c.advance(1_000)
  slack.queue({ status: 500, body: 'internal_error' })
  await alert.flush()
  t.equal(slack.accepted().length, 3, 'digest not accepted')
  c.advance(1_000)
  await alert.flush()
  t.equal(slack.accepted().length, 4)
  t.match((slack.accepted()[3]?.json as { text: string }).text, /^2 more alerts/)
  c.advance(5_000)
  await alert.flush()
  t.equal(slack.requests.length, 5, 'nothing left to send')
  slack.revoke(410)
  await alert.handle(classifiedEvent({ fingerprint: 'fp-d-x1' }), ctx())
  await alert.handle(classifiedEvent({ fingerprint: 'fp-d-x2' }), ctx())
  await alert.handle(classifiedEvent({ fingerprint: 'fp-d-x3' }), ctx())
  await alert.handle(classifiedEvent({ fingerprint: 'fp-d-x4' }), ctx())
  const before = slack.requests.length
  c.advance(1_000)
  await alert.flush()
  c.advance(1_000)
  await alert.flush()
  t.equal(slack.requests.length, before + 1, 'a refused digest is not retried forever')
})
