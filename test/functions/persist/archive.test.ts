// The Kafka archive through the transactional outbox: outbox rows are written with their event (and not
// for duplicates), the relay publishes in order and marks rows sent, a crash between publish and mark
// re-publishes (a duplicate that consumers collapse on (source, id)), and against a real Kafka broker the
// records are CloudEvents in the Kafka binary binding keyed by fingerprint.
import t, { type Test } from 'tap'
import { serviceEnv } from '../../services/env.js'
import { randomBytes } from 'node:crypto'
import kafkajs from 'kafkajs'
import { CloudEvent, Kafka as CeKafka, type Message } from 'cloudevents'
import { toBinary, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { silentLogger } from '../../../shared/logger.js'
import { OutboxRelay, kafkaPublisher, toRecord } from '../../../functions/persist/index.js'
import type { OutboxMessage } from '../../../functions/persist/archive.js'
import { eachBackend, openMigrated, startPersist } from './backends.js'
import { history } from './fixtures.js'

// Each test opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const NOW = new Date('2026-11-27T12:00:00Z')

async function deliver(url: string, events: readonly CloudEventV1[]): Promise<void> {
  await Promise.all(
    events.map(async (e) => {
      const { headers, body } = toBinary(e)
      const res = await fetch(url, { method: 'POST', headers, body })
      if (res.status !== 202) throw new Error(`HTTP ${res.status}`)
    }),
  )
}

const key = (e: { source?: unknown; id?: unknown }): string => `${String(e.source)} ${String(e.id)}`

/** A topic of its own on the real Kafka broker (KAFKA_BROKERS when set, else one the services layer starts), deleted in teardown. */
async function freshTopic(t: Test, partitions: number): Promise<{ list: string[]; topic: string; kafka: kafkajs.Kafka; admin: kafkajs.Admin }> {
  const list = (await serviceEnv('kafka')).split(',')
  const topic = `kube-reflex-archive-${randomBytes(4).toString('hex')}`
  const kafka = new kafkajs.Kafka({ clientId: 'persist-archive-test', brokers: list, logLevel: kafkajs.logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true })
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  })
  return { list, topic, kafka, admin }
}

eachBackend(t, 'outbox rows are written with new events only; the relay publishes in order and marks them sent', async (t, backend) => {
  const { url, db } = await startPersist(t, backend, { outbox: true })
  const { classified, replies } = history(20, NOW)
  const events = [...classified, ...replies]
  await deliver(url, events)
  await deliver(url, events.slice(0, 10)) // redelivery: no new outbox rows
  const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NULL')
  t.equal(rows.rows[0]?.n, events.length, 'one outbox row per stored event')
  const published: OutboxMessage[] = []
  const relay = new OutboxRelay({ db, log: silentLogger, intervalMs: 60_000, batchSize: 7, publish: (m) => Promise.resolve(void published.push(...m)) })
  t.equal(await relay.drain(), events.length)
  t.same(published.map((m) => m.seq), [...published.map((m) => m.seq)].sort((a, b) => a - b), 'in outbox order')
  t.same(published.map((m) => key(m.event)).sort(), events.map(key).sort())
  t.ok(published.every((m) => m.key === m.event.fingerprint), 'key = fingerprint')
  const left = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NULL')
  t.equal(left.rows[0]?.n, 0, 'all marked sent')
  t.equal(await relay.runOnce(), 0, 'nothing left to publish')
  await relay.stop()
})

eachBackend(t, 'relay crash between publish and mark: re-published later, collapsed by (source, id) downstream', async (t, backend) => {
  const { url, db } = await startPersist(t, backend, { outbox: true })
  const { classified } = history(12, NOW)
  await deliver(url, classified)
  const published: OutboxMessage[] = []
  const publish = (m: readonly OutboxMessage[]): Promise<void> => Promise.resolve(void published.push(...m))
  const crashing = new OutboxRelay({
    db,
    log: silentLogger,
    intervalMs: 60_000,
    leaseMs: 300,
    publish,
    afterPublish: () => Promise.reject(new Error('process killed before marking')),
  })
  await t.rejects(crashing.runOnce(), /process killed/)
  t.equal(published.length, 12, 'the records reached Kafka')
  const unsent = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NULL')
  t.equal(unsent.rows[0]?.n, 12, 'but the rows are still unsent')
  const successor = new OutboxRelay({ db, log: silentLogger, intervalMs: 60_000, leaseMs: 300, publish })
  t.equal(await successor.runOnce(), 0, 'a claimed row is left alone while its lease runs')
  await new Promise((r) => setTimeout(r, 400))
  t.equal(await successor.drain(), 12, 'after the lease, the successor publishes them again')
  t.equal(published.length, 24, 'duplicates on the topic')
  t.equal(new Set(published.map((m) => key(m.event))).size, 12, 'collapsed by (source, id): every event exactly once')
  await successor.stop()
})

eachBackend(t, 'a failed publish gives the rows back for the next round', async (t, backend) => {
  const { url, db } = await startPersist(t, backend, { outbox: true })
  await deliver(url, history(5, NOW).classified)
  let fail = true
  const published: OutboxMessage[] = []
  const relay = new OutboxRelay({
    db,
    log: silentLogger,
    intervalMs: 60_000,
    publish: (m) => {
      if (fail) return Promise.reject(new Error('broker unreachable'))
      published.push(...m)
      return Promise.resolve()
    },
  })
  await t.rejects(relay.runOnce(), /broker unreachable/)
  fail = false
  t.equal(await relay.runOnce(), 5, 'retried at once, no lease to wait for')
  await relay.stop()
})

eachBackend(t, 'a row Kafka refuses for good is set aside, and the rows after it still go', async (t, backend) => {
  const { url, db } = await startPersist(t, backend, { outbox: true })
  const { classified } = history(15, NOW)
  await deliver(url, classified)
  const order = await db.query<{ id: string }>("SELECT event->>'id' AS id FROM persist_outbox ORDER BY seq")
  const ids = order.rows.map((r) => r.id)
  // With batches of 5: one refused row in the first batch, the whole second batch refused.
  const refuse = new Set([ids[2], ...ids.slice(5, 10)])
  const published: OutboxMessage[] = []
  const relay = new OutboxRelay({
    db,
    log: silentLogger,
    intervalMs: 60_000,
    batchSize: 5,
    publish: (messages) => {
      published.push(...messages.filter((m) => !refuse.has(String(m.event.id))))
      return Promise.resolve({ refused: messages.filter((m) => refuse.has(String(m.event.id))).map((m) => ({ seq: m.seq, reason: `MESSAGE_TOO_LARGE: ${String(m.event.id)}` })) })
    },
  })
  let counted = 0
  relay.onRefused((n) => (counted += n))
  t.equal(await relay.drain(), 15, 'drain goes past a batch that was refused whole')
  t.same(published.map((m) => String(m.event.id)), ids.filter((id) => !refuse.has(id)), 'every other row published, in outbox order')
  const rows = await db.query<{ id: string; sent: boolean; refused: boolean; reason: string | null }>(
    "SELECT event->>'id' AS id, sent_at IS NOT NULL AS sent, refused_at IS NOT NULL AS refused, refused_reason AS reason FROM persist_outbox ORDER BY seq",
  )
  for (const r of rows.rows) {
    if (refuse.has(r.id)) t.same([r.sent, r.refused, r.reason], [false, true, `MESSAGE_TOO_LARGE: ${r.id}`], `${r.id}: set aside with its reason`)
    else t.same([r.sent, r.refused], [true, false], `${r.id}: sent`)
  }
  t.equal(counted, refuse.size, 'counted for the metric')
  t.equal(await relay.runOnce(), 0, 'a refused row is not claimed again')
  await relay.stop()
})

eachBackend(t, 'persist_archive_refused_total counts the rows set aside', async (t, backend) => {
  const db = await openMigrated(backend)
  const relay = new OutboxRelay({
    db,
    log: silentLogger,
    intervalMs: 60_000,
    publish: (messages) => Promise.resolve({ refused: messages.map((m) => ({ seq: m.seq, reason: 'MESSAGE_TOO_LARGE: test' })) }),
  })
  const { url } = await startPersist(t, backend, { outbox: true, db, relay })
  await deliver(url, history(3, NOW).classified)
  const unsettled = async (): Promise<number> =>
    Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NULL AND refused_at IS NULL')).rows[0]?.n)
  for (let i = 0; i < 200 && (await unsettled()) > 0; i++) await new Promise((r) => setTimeout(r, 25))
  t.equal(await unsettled(), 0, 'the relay persist runs set the rows aside')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /^persist_archive_refused_total 3$/m)
})

void t.test('real Kafka: a batch larger than the broker takes goes in chunks; a record too large is set aside', async (t) => {
  const { list, topic, kafka, admin } = await freshTopic(t, 1)
  const { url, db, store } = await startPersist(t, { name: 'pglite', options: { dataDir: t.testdir() } }, { outbox: true })
  // A hundred events of ≈ 12 KB (Kubernetes objects with managedFields are that size): ≈ 1.2 MB in one
  // relay batch, more than the broker's default message.max.bytes (1 MiB) in one produce request.
  const pad = (e: CloudEventV1, bytes: number): CloudEventV1 => ({ ...e, data: { ...(e.data as Record<string, unknown>), note: 'x'.repeat(bytes) } })
  const { classified } = history(100, NOW)
  await deliver(url, classified.slice(0, 50).map((e) => pad(e, 12_000)))
  // One event larger than any record the broker takes (stored directly: persist's body limit is 1 MiB too).
  const huge = pad({ ...(classified[0] as CloudEventV1), id: 'huge-one' }, 1_100_000)
  t.ok(await store.append(toRecord(huge, NOW)), 'the huge event is stored')
  await deliver(url, classified.slice(50).map((e) => pad(e, 12_000)))
  const inOrder = (await db.query<{ id: string }>("SELECT event->>'id' AS id FROM persist_outbox ORDER BY seq")).rows.map((r) => r.id)
  t.equal(inOrder.length, 101)

  const relay = new OutboxRelay({ db, log: silentLogger, intervalMs: 60_000, publish: kafkaPublisher({ brokers: list, topic, log: silentLogger }) })
  let counted = 0
  relay.onRefused((n) => (counted += n))
  t.equal(await relay.drain(), 101, 'the relay gets through the whole outbox')
  await relay.stop()
  const refused = await db.query<{ id: string; reason: string }>("SELECT event->>'id' AS id, refused_reason AS reason FROM persist_outbox WHERE refused_at IS NOT NULL")
  t.same(refused.rows.map((r) => r.id), ['huge-one'], 'only the huge event is set aside')
  t.match(refused.rows[0]?.reason, /MESSAGE_TOO_LARGE/, 'with the broker’s reason')
  t.equal(counted, 1)
  const unsent = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NULL AND refused_at IS NULL')
  t.equal(unsent.rows[0]?.n, 0, 'nothing left unsent')

  const onTopic = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0)
  t.equal(onTopic, 100, 'the hundred others are on the topic')
  const consumer = kafka.consumer({ groupId: `${topic}-reader` })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  const seen = new Map<string, string>()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.size} of ${onTopic} records`)), 30_000)
    void consumer.run({
      eachMessage: ({ message }) => {
        seen.set(message.offset, message.headers?.ce_id?.toString() ?? '')
        if (seen.size >= onTopic) {
          clearTimeout(timer)
          resolve()
        }
        return Promise.resolve()
      },
    })
  })
  const byOffset = [...seen.entries()].sort((a, b) => Number(BigInt(a[0]) - BigInt(b[0]))).map(([, id]) => id)
  t.same(byOffset, inOrder.filter((id) => id !== 'huge-one'), 'in outbox order on the partition')
})

void t.test('real Kafka: CloudEvents binary binding, key = fingerprint, crash duplicates collapse', async (t) => {
  const { list, topic, kafka, admin } = await freshTopic(t, 3)

  const { url, db } = await startPersist(t, { name: 'pglite', options: { dataDir: t.testdir() } }, { outbox: true })
  const { classified, replies } = history(30, NOW)
  const events = [...classified, ...replies]
  await deliver(url, events)
  // First relay publishes then "dies" before marking; the second one publishes the same rows again.
  const crashing = new OutboxRelay({ db, log: silentLogger, intervalMs: 60_000, leaseMs: 200, publish: kafkaPublisher({ brokers: list, topic, log: silentLogger }), afterPublish: () => Promise.reject(new Error('killed')) })
  await t.rejects(crashing.runOnce(), /killed/)
  await crashing.stop()
  await new Promise((r) => setTimeout(r, 300))
  const relay = new OutboxRelay({ db, log: silentLogger, intervalMs: 60_000, publish: kafkaPublisher({ brokers: list, topic, log: silentLogger }) })
  await relay.drain()
  await relay.stop()
  const crashedBatch = Math.min(100, events.length)

  // Everything on the topic, read to its end offsets. Records are told apart by (partition, offset): a
  // consumer may be handed a record again (a rebalance before its offsets are committed), and the producer
  // may write one twice when it retries a send (kafkajs's idempotent producer is not used, issue 4), so
  // neither a count of deliveries nor "exactly the crashed batch twice" is what the archive promises.
  const onTopic = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(BigInt(p.high) - BigInt(p.low)), 0)
  const consumer = kafka.consumer({ groupId: `${topic}-reader` })
  await consumer.connect()
  t.teardown(() => consumer.disconnect())
  await consumer.subscribe({ topic, fromBeginning: true })
  const records = new Map<string, { partition: number; key: string; event: CloudEvent<unknown> }>()
  const expected = events.length + crashedBatch
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${records.size} of ${onTopic} records`)), 30_000)
    void consumer.run({
      eachMessage: ({ partition, message }) => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString()
        const m: Message = { headers, key: message.key?.toString(), value: message.value?.toString(), body: message.value?.toString(), timestamp: message.timestamp } as Message
        records.set(`${partition}:${message.offset}`, { partition, key: message.key?.toString() ?? '', event: CeKafka.toEvent(m) as CloudEvent<unknown> })
        if (records.size >= onTopic) {
          clearTimeout(timer)
          resolve()
        }
        return Promise.resolve()
      },
    })
  })
  const received = [...records.values()]
  t.ok(received.length >= expected, `the crashed batch is on the topic again (${received.length} records, at least ${expected})`)
  const byKey = new Map(received.map((r) => [key(r.event), r]))
  t.equal(byKey.size, events.length, 'collapsed by (source, id): every stored event exactly once')
  for (const e of events) {
    const r = byKey.get(key(e))
    if (r === undefined) {
      t.fail(`missing ${key(e)}`)
      continue
    }
    t.equal(r.key, e.fingerprint, 'record key = fingerprint')
    t.match(r.event, { type: e.type, subject: e.subject, specversion: '1.0', fingerprint: e.fingerprint })
    t.same(r.event.data, e.data, 'data round-trips')
  }
  const partitionsPerKey = new Map<string, Set<number>>()
  for (const r of received) partitionsPerKey.set(r.key, (partitionsPerKey.get(r.key) ?? new Set()).add(r.partition))
  t.ok([...partitionsPerKey.values()].every((s) => s.size === 1), "one workload's history stays in one partition")
})
