// The write path over real HTTP, on PGlite and PostgreSQL: exactly-once storage under at-least-once
// delivery, ack after commit, group commit, 503 while the database is down and nothing lost after,
// projections (pod_events_view, problems, counts) kept in the same transaction, and the dead-letter sink.
import t, { type Test } from 'tap'
import { startServices } from '../../../scripts/test-services/index.mjs'
import { toBinary, toStructured, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { openDatabase, type Database, type Queryable, type QueryResult, type Transaction } from '../../../shared/db.js'
import { alertReply, classified, recoveryReply } from './fixtures.js'
import { eachBackend, openMigrated, startPersist } from './backends.js'
import { loadMigrations } from '../../../functions/persist/index.js'
import { MAX_STORED_DEPTH } from '../../../functions/persist/record.js'
import { migrate } from '../../../shared/db.js'

// Each test opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const NOW = new Date('2026-11-27T10:00:00Z')

async function post(url: string, event: CloudEventV1, mode: 'binary' | 'structured' = 'binary'): Promise<Response> {
  if (mode === 'structured') {
    return fetch(url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: toStructured(event) })
  }
  const { headers, body } = toBinary(event)
  return fetch(url, { method: 'POST', headers, body })
}

async function count(db: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  const r = await db.query<{ n: number | string }>(sql, params)
  return Number(r.rows[0]?.n ?? 0)
}

const crashloop = (i: number, at = NOW): CloudEventV1 =>
  classified({
    namespace: 'shop',
    name: 'cart-7d9f8c6b5-x2x9q',
    reason: 'BackOff',
    message: 'Back-off restarting failed container app in pod cart-7d9f8c6b5-x2x9q_shop(0b6c3c1e)',
    severity: 'critical',
    category: 'crashloop',
    action: 'restart-pod',
    at,
    inputId: `delivery-${i}`,
  })

eachBackend(t, 'the same event delivered 10 times concurrently is stored once', async (t, backend) => {
  const { url, db, host } = await startPersist(t, backend)
  const event = crashloop(1)
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => post(url, event, i % 2 === 0 ? 'binary' : 'structured')))
  t.same(answers.map((a) => a.status), Array(10).fill(202), 'every delivery is acknowledged')
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events WHERE source = $1 AND id = $2', [event.source, event.id]), 1, 'one event row')
  t.equal(await count(db, 'SELECT count(*) AS n FROM pod_events_view'), 1, 'one pod_events_view row')
  t.equal(await count(db, 'SELECT sum(count) AS n FROM persist_event_counts'), 1, 'counted once')
  t.equal(await count(db, 'SELECT occurrences AS n FROM persist_problems'), 1, 'one occurrence of the problem')
  const metrics = await (await fetch(`${host.url}/metrics`)).text()
  t.match(metrics, /persist_duplicates_total 9\b/)
  t.match(metrics, /persist_events_stored_total\{type="dev.kubereflex.event.classified"\} 1\b/)
  const stored = await db.query<{ event: Record<string, unknown> }>('SELECT event FROM persist_events')
  t.same(stored.rows[0]?.event, JSON.parse(JSON.stringify(event)), 'the full CloudEvent is kept as jsonb')
})

eachBackend(t, 'each delivery is acknowledged only after its row is committed; concurrent ones share commits', async (t, backend) => {
  const { url, db, store } = await startPersist(t, backend, { groupCommitMs: 5 })
  const events = Array.from({ length: 60 }, (_, i) => crashloop(i, new Date(NOW.getTime() + i * 1000)))
  // A separate check right at each answer: the row must already be visible to another connection.
  const visibleAtAck = await Promise.all(
    events.map(async (e) => {
      const res = await post(url, e)
      const n = await count(db, 'SELECT count(*) AS n FROM persist_events WHERE id = $1', [e.id])
      return { status: res.status, n }
    }),
  )
  t.same(visibleAtAck.map((v) => v.status), Array(60).fill(202))
  t.same(visibleAtAck.map((v) => v.n), Array(60).fill(1), 'every acknowledged event is already committed')
  const batches = store.batchSizes
  t.equal(batches.reduce((a, b) => a + b, 0), 60, 'every event went through exactly one batch')
  t.ok(batches.length < 60 && Math.max(...batches) > 1, `concurrent deliveries were grouped (batches: ${batches.join(',')})`)
  t.equal(await count(db, 'SELECT occurrences AS n FROM persist_problems'), 60)
})

eachBackend(t, 'projections: problem view with alert and recovery outcomes, in any arrival order', async (t, backend) => {
  const { url, db } = await startPersist(t, backend)
  const first = crashloop(1, new Date(NOW.getTime() - 600_000))
  const second = crashloop(2, NOW)
  // The replies overtake the classified events they answer (different Triggers, different latencies).
  for (const e of [recoveryReply(second, 'performed', new Date(NOW.getTime() + 3000)), alertReply(second, 'sent', new Date(NOW.getTime() + 1000)), second, alertReply(first, 'suppressed', new Date(NOW.getTime() - 590_000)), first]) {
    t.equal((await post(url, e)).status, 202, e.type)
  }
  const rows = await db.query<Record<string, unknown>>(
    `SELECT namespace, kind, name, category, severity, reason, occurrences, alerts_sent, last_alert_outcome, last_recovery_outcome, last_recovery_action,
       first_seen = $1::timestamptz AS first_ok, last_seen = $2::timestamptz AS last_ok FROM persist_problems`,
    [first.time, second.time],
  )
  t.same(rows.rows, [
    {
      namespace: 'shop',
      kind: 'Pod',
      name: 'cart-7d9f8c6b5-x2x9q',
      category: 'crashloop',
      severity: 'critical',
      reason: 'BackOff',
      occurrences: 2,
      alerts_sent: 1,
      last_alert_outcome: 'sent',
      last_recovery_outcome: 'performed',
      last_recovery_action: 'restart-pod',
      first_ok: true,
      last_ok: true,
    },
  ])
  const pod = await db.query<Record<string, unknown>>('SELECT namespace, pod, reason, status FROM pod_events_view ORDER BY event_time')
  t.same(pod.rows, [
    { namespace: 'shop', pod: 'cart-7d9f8c6b5-x2x9q', reason: 'BackOff', status: 'CRITICAL' },
    { namespace: 'shop', pod: 'cart-7d9f8c6b5-x2x9q', reason: 'BackOff', status: 'CRITICAL' },
  ])
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events'), 5, 'replies are stored as events too')
})

eachBackend(t, 'a classified event without what the read model needs is rejected with 400, not retried', async (t, backend) => {
  const { url, db } = await startPersist(t, backend)
  const bad = { ...crashloop(1), data: { reason: 'BackOff' } }
  const res = await post(url, bad)
  t.equal(res.status, 400)
  t.match(await res.json(), { code: 'EVENT_DATA_INVALID', message: /object\.kind and object\.name are required/ })
  const nul = crashloop(2)
  nul.data = { ...(nul.data as Record<string, unknown>), message: 'bad \u0000 byte' }
  t.equal((await post(url, nul)).status, 400, 'a NUL character cannot be stored in jsonb: 400 instead of a poisoned batch')
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events'), 0)
})

eachBackend(t, 'data nested up to MAX_STORED_DEPTH is stored; deeper is a 400 on / and /dead-letter, never a 5xx', async (t, backend) => {
  const { url, db } = await startPersist(t, backend)
  const nest = (depth: number): unknown => {
    let v: unknown = 'leaf'
    for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { n: v }
    return v
  }
  // The event object is level 1, so `data` may nest MAX_STORED_DEPTH - 1 levels.
  const atLimit = crashloop(3)
  atLimit.data = { ...(atLimit.data as Record<string, unknown>), deep: nest(MAX_STORED_DEPTH - 3) }
  t.equal((await post(url, atLimit)).status, 202, 'data at the depth limit is stored (PostgreSQL/PGlite jsonb takes it)')
  const over = crashloop(4)
  over.data = { ...(over.data as Record<string, unknown>), deep: nest(MAX_STORED_DEPTH) }
  const res = await post(url, over)
  t.equal(res.status, 400)
  t.match(await res.json(), { code: 'EVENT_DATA_INVALID', message: /nests deeper than 256 levels/ })
  const dead = await post(`${url}/dead-letter`, { ...over, id: 'dead-deep', knativeerrorcode: '500' }, 'structured')
  t.equal(dead.status, 400, 'the dead-letter sink refuses it too, naming the problem')
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events'), 1, 'only the event at the limit is stored')
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_dead_letters'), 0)
})

/** A Database whose underlying connection can be taken away and given back, as a crashed server would. */
class Switchable implements Database {
  constructor(public current: Database) {}
  get kind(): Database['kind'] {
    return this.current.kind
  }
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    return this.current.query<T>(sql, params)
  }
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.current.transaction(fn)
  }
  close(): Promise<void> {
    return this.current.close()
  }
}

interface PostgresControl {
  readonly url: string
  stop(): Promise<void>
  start(): Promise<void>
  shutdown(): Promise<void>
}

/** A PostgreSQL server of our own (never the shared one) to stop and start, from the services layer. */
async function ownPostgres(t: Test): Promise<PostgresControl> {
  const running = await startServices(['postgres'], { reuseEnv: false, log: (l: string) => t.comment(l) })
  const pgHandle = running.services.postgres
  if (pgHandle === undefined) throw new Error('services layer started no postgres')
  return { url: pgHandle.url, stop: () => pgHandle.stop(), start: () => pgHandle.start(), shutdown: () => running.stop() }
}

eachBackend(t, 'database down mid-stream: 503 with Retry-After, then every event stored once it returns', async (t, backend) => {
  let db: Switchable
  let down: () => Promise<void>
  let up: () => Promise<void>
  if (backend.name === 'pglite') {
    const dataDir = backend.options.dataDir
    db = new Switchable(await openMigrated(backend))
    down = () => db.current.close() // the real PGlite instance goes away: every query now fails
    up = async () => {
      db.current = await openDatabase({ dataDir })
    }
  } else {
    const server = await ownPostgres(t)
    t.teardown(() => server.shutdown())
    const real = await openDatabase({ databaseUrl: server.url })
    await migrate(real, 'persist', await loadMigrations())
    db = new Switchable(real)
    down = () => server.stop()
    up = () => server.start()
  }
  const { url } = await startPersist(t, backend, { db })
  const events = Array.from({ length: 30 }, (_, i) => crashloop(i, new Date(NOW.getTime() + i * 1000)))
  const statuses: number[] = []
  for (const [i, e] of events.entries()) {
    if (i === 10) await down()
    if (i === 20) await up()
    const res = await post(url, e)
    statuses.push(res.status)
    if (res.status === 503) t.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After tells the broker when to retry')
  }
  t.same(statuses.slice(0, 10), Array(10).fill(202), 'before the outage: stored')
  t.same(statuses.slice(10, 20), Array(10).fill(503), 'during the outage: 503, so the broker retries')
  // pg's pool may hand out one stale connection right after the restart; the broker would simply retry it.
  const failed = events.filter((_, i) => statuses[i] !== 202)
  for (const e of failed) {
    let status = 0
    for (let attempt = 0; attempt < 5 && status !== 202; attempt++) status = (await post(url, e)).status
    t.equal(status, 202, `redelivery of ${e.id} is stored`)
  }
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events'), 30, 'nothing lost, nothing doubled')
  t.equal(await count(db, 'SELECT occurrences AS n FROM persist_problems'), 30)
})

eachBackend(t, 'dead-letter sink stores the failed event with Knative error extensions and counts it', async (t, backend) => {
  const { url, db } = await startPersist(t, backend)
  const failed: CloudEventV1 = {
    ...crashloop(7),
    knativeerrordest: 'http://kube-reflex-alert.kube-reflex.svc.cluster.local',
    knativeerrorcode: '500',
    knativeerrordata: 'eyJjb2RlIjoiSU5URVJOQUwifQ==',
  }
  t.equal((await post(`${url}/dead-letter`, failed)).status, 202)
  t.equal((await post(`${url}/dead-letter`, failed)).status, 202, 'a redelivered dead letter is acknowledged')
  const rows = await db.query<Record<string, unknown>>('SELECT source, id, type, error_dest, error_code, error_data FROM persist_dead_letters')
  t.same(rows.rows, [{ source: failed.source, id: failed.id, type: failed.type, error_dest: failed.knativeerrordest, error_code: '500', error_data: failed.knativeerrordata }])
  t.equal(await count(db, 'SELECT count(*) AS n FROM persist_events'), 0, 'a dead letter is not an event of the history')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /dead_lettered_events_total\{code="500"\} 2\b/)
  const bad = await fetch(`${url}/dead-letter`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(bad.status, 400, 'not a CloudEvent: 400')
  const listed = (await (await fetch(`${url}/api/v1/dead-letters?code=500`)).json()) as { items: { errorCode: string }[] }
  t.same(listed.items.map((i) => i.errorCode), ['500'])
})
