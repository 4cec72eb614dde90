// Scale-out and restarts: two alert instances over the same database handle the same events at the same
// time and exactly one notification goes out per problem; state survives closing and reopening the store.
// Runs against PGlite (two instances in one process sharing it) and against a real PostgreSQL server (DATABASE_URL, else started by the test-services layer), in a schema of its own, as
// real PostgreSQL server (two instances, each with its own connection pool).
import t, { type Test } from 'tap'
import { isolatedDatabaseUrl } from '../../helpers/pg-schema.js'
import { createAlert, loadConfig, type AlertFunction } from '../../../functions/alert/index.js'
import { EVENT_TYPES } from '../../../shared/contracts.js'
import { openDatabase, type Database } from '../../../shared/db.js'
import { buildMessage } from '../../../functions/alert/message.js'
import { AlertStore } from '../../../functions/alert/store.js'
import { subjectOf } from '../../../functions/alert/subject.js'
import { classifiedEvent, clock, ctx, WEBHOOK_SECRET } from './fixtures.js'
import { openIncidents, startReceiver, type Receiver } from './receivers/index.js'

function env(hook: Receiver, extra: Record<string, string> = {}): Record<string, string> {
  // Generous claim wait: on a loaded test machine the replica holding a claim may need seconds.
  return { ALERT_ALLOW_HOSTS: '127.0.0.1', ALERT_WEBHOOK_URL: hook.url, ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET, ALERT_CLAIM_WAIT_MS: '60000', ALERT_CLAIM_LEASE_MS: '120000', ...extra }
}

async function concurrentReplicas(t: Test, dbA: Database, dbB: Database): Promise<void> {
  await dbA.query('DROP TABLE IF EXISTS alert_events, alert_groups, alert_notifications, alert_sink_budget').catch(() => undefined)
  await dbA.query("DELETE FROM kube_reflex_migrations WHERE component = 'alert'").catch(() => undefined)
  const hook = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  t.teardown(() => hook.close())
  const config = loadConfig(env(hook))
  // Both start (and migrate) together, as two replicas rolling out at once do.
  const [a, b] = await Promise.all([createAlert(config, { db: dbA }), createAlert(config, { db: dbB })])
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  const problems = 8
  const events = Array.from({ length: problems }, (_, i) => classifiedEvent({ fingerprint: `fp-replica-${i}`, workload: { kind: 'Deployment', name: `svc-${i}`, inferred: false } }))
  // Same events to both replicas at once, plus a redelivery of each to each replica.
  const replies = await Promise.all(events.flatMap((ev) => [a.handle(ev, ctx()), b.handle(ev, ctx()), a.handle(ev, ctx()), b.handle(ev, ctx())]))
  t.equal(hook.accepted().length, problems, 'exactly one notification per problem')
  t.equal(hook.requests.length, problems, 'and no extra attempts')
  t.equal(new Set(hook.requests.map((r) => r.headers['webhook-id'])).size, problems)
  t.ok(hook.requests.every((r) => r.verified === true))
  for (let i = 0; i < problems; i++) {
    const four = replies.slice(i * 4, i * 4 + 4)
    t.equal(new Set(four.map((r) => r?.id)).size, 1, `problem ${i}: the same reply id from every replica`)
    t.ok(four.every((r) => r?.type === EVENT_TYPES.alertSent), `problem ${i}: every answer says sent`)
  }
  // Different occurrences of one problem hitting both replicas at once: one notification, the rest grouped.
  const burst = Array.from({ length: 6 }, () => classifiedEvent({ fingerprint: 'fp-burst' }))
  const burstReplies = await Promise.all(burst.map((ev, i) => (i % 2 === 0 ? a : b).handle(ev, ctx())))
  t.equal(burstReplies.filter((r) => r?.type === EVENT_TYPES.alertSent).length, 1)
  t.equal(burstReplies.filter((r) => r?.type === EVENT_TYPES.alertSuppressed).length, 5)
  t.equal(hook.accepted().length, problems + 1)
}

void t.test('two replicas on one PGlite database', async (t) => {
  const db = await openDatabase({ dataDir: t.testdir({}) })
  t.teardown(() => db.close())
  await concurrentReplicas(t, db, db)
})

/**
 * Two replicas' handles on the real server (DATABASE_URL, else started by the services layer), in a schema
 * of this test's own. Two handles on one URL share one pool in-process; the second pool needs a distinct key.
 */
async function postgresReplicas(t: Test): Promise<[Database, Database]> {
  const url = await isolatedDatabaseUrl(t)
  const a = await openDatabase({ databaseUrl: url })
  const b = await openDatabase({ databaseUrl: `${url}${url.includes('?') ? '&' : '?'}application_name=alert-replica-b` })
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  return [a, b]
}

void t.test('two replicas on one PostgreSQL server', async (t) => {
  await concurrentReplicas(t, ...(await postgresReplicas(t)))
})

void t.test('state survives a restart: no second notification, grouping continues', async (t) => {
  const dir = t.testdir({})
  const hook = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  t.teardown(() => hook.close())
  const config = loadConfig({ ...env(hook), KUBE_REFLEX_DATA_DIR: dir })
  const ev = classifiedEvent({ fingerprint: 'fp-restart' })
  let alert: AlertFunction = await createAlert(config)
  t.equal((await alert.handle(ev, ctx()))?.type, EVENT_TYPES.alertSent)
  await alert.close()
  alert = await createAlert(config) // reopens the PGlite directory from disk
  t.teardown(() => alert.close())
  t.equal((await alert.handle(ev, ctx()))?.type, EVENT_TYPES.alertSent, 'a redelivery after the restart answers from the stored state')
  t.equal((await alert.handle(classifiedEvent({ fingerprint: 'fp-restart' }), ctx()))?.type, EVENT_TYPES.alertSuppressed, 'still grouped after the restart')
  t.equal(hook.requests.length, 1)
})

void t.test('a claim whose replica died is taken over after its lease', async (t) => {
  const db = await openDatabase({ dataDir: t.testdir({}) })
  t.teardown(() => db.close())
  const hook = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  t.teardown(() => hook.close())
  let now = Date.now()
  const config = loadConfig({ ...env(hook), ALERT_CLAIM_LEASE_MS: '30000', ALERT_CLAIM_WAIT_MS: '0' })
  const alert = await createAlert(config, { db, now: () => now })
  t.teardown(() => alert.close())
  const ev = classifiedEvent({ fingerprint: 'fp-crash' })
  // A replica that took the decision and claimed the notification, then died before sending.
  const store = await AlertStore.open(db)
  const subject = subjectOf(ev)
  if (subject === undefined || subject === 'not-alertable') throw new Error('fixture is alertable')
  const decision = await store.decide({ source: ev.source, id: ev.id }, subject, config.routing.routes, now, (b) => buildMessage({ ...b, dashboard: undefined, now }))
  const id = decision.decisions[0]?.notifications[0]?.id ?? ''
  t.ok(await store.claim(id, 'dead-replica', now, 30_000), 'the dead replica held the claim')
  const busy = await alert.handle(ev, ctx()).catch((e: unknown) => e)
  t.match(busy, { status: 503, code: 'DOWNSTREAM_UNAVAILABLE' }, 'while the lease runs, the broker is asked to retry')
  t.ok(((busy as { retryAfterSeconds?: number }).retryAfterSeconds ?? 0) >= 29, 'after about the lease')
  t.equal(hook.requests.length, 0)
  now += 31_000
  t.equal((await alert.handle(ev, ctx()))?.type, EVENT_TYPES.alertSent, 'the redelivery after the lease takes over and sends')
  t.equal(hook.requests.length, 1)
  t.equal(hook.requests[0]?.headers['webhook-id'], id)
})

/**
 * Replica A is sending the resolve of a quiet problem (PagerDuty is slow, then refuses it for now) when the
 * problem recurs on replica B: B's trigger must not go out while that resolve is unsettled, or the resolve's
 * retry would close the incident the trigger re-opened.
 */
async function resolveBeforeRecurrence(t: Test, dbA: Database, dbB: Database): Promise<void> {
  const key = 'R0UT1NGKEY0123456789abcdefABCDEF'
  const pd = await startReceiver('pagerduty', { routingKey: key })
  t.teardown(() => pd.close())
  const c = clock()
  const config = loadConfig({
    ALERT_ALLOW_HOSTS: '127.0.0.1', ALERT_PAGERDUTY_ROUTING_KEY: key, ALERT_PAGERDUTY_URL: pd.url, ALERT_SEND_RESOLVED: 'true', ALERT_GROUP_WINDOW: '10m',
    ALERT_TIMEOUT_MS: '5000', ALERT_CLAIM_LEASE_MS: '30000', ALERT_CLAIM_WAIT_MS: '60000',
  })
  const a = await createAlert(config, { db: dbA, now: c.now })
  const b = await createAlert(config, { db: dbB, now: c.now })
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  const fingerprint = 'fp-replica-recurs'
  t.equal((await a.handle(classifiedEvent({ fingerprint }), ctx()))?.type, EVENT_TYPES.alertSent)
  c.advance(11 * 60_000)
  pd.queue({ status: 503, body: 'service unavailable', delayMs: 1_000 })
  const flushing = a.flush()
  while (pd.requests.length < 2) await new Promise((r) => setTimeout(r, 10)) // A's resolve is in flight
  const recurrence = classifiedEvent({ fingerprint })
  const onB = await b.handle(recurrence, ctx()).then(() => undefined, (e: unknown) => e)
  await flushing
  t.match(onB, { status: 503 }, 'B answers 503: the resolve goes first')
  t.equal(pd.requests.length, 2, 'no trigger while the resolve was in flight')
  c.advance(5_000)
  await b.flush() // any replica's round retries the resolve
  t.equal((await a.handle(recurrence, ctx()))?.type, EVENT_TYPES.alertSent, "the broker's redelivery sends the trigger")
  t.same(pd.accepted().map((r) => (r.json as { event_action: string }).event_action), ['trigger', 'resolve', 'trigger'])
  t.same(openIncidents(pd), [fingerprint])
}

void t.test('a resolve in flight on one replica goes out before the recurrence another replica handles (PGlite)', async (t) => {
  const db = await openDatabase({ dataDir: t.testdir({}) })
  t.teardown(() => db.close())
  await resolveBeforeRecurrence(t, db, db)
})

void t.test('a resolve in flight on one replica goes out before the recurrence another replica handles (PostgreSQL)', async (t) => {
  await resolveBeforeRecurrence(t, ...(await postgresReplicas(t)))
})
