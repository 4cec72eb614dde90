// The Kafka archive through the transactional outbox: outbox rows are written with their event (and not
// for duplicates), the relay publishes in order and marks rows sent, a crash between publish and mark
// re-publishes (a duplicate that consumers collapse on (source, id)), and against a real Kafka broker the
// records are CloudEvents in the Kafka binary binding keyed by fingerprint.
import t from 'tap'
import { serviceEnv } from '../../services/env.js'
import { randomBytes } from 'node:crypto'
import kafkajs from 'kafkajs'
import { CloudEvent, Kafka as CeKafka, type Message } from 'cloudevents'
import { toBinary, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { silentLogger } from '../../../shared/logger.js'
import { OutboxRelay, kafkaPublisher } from '../../../functions/persist/index.js'
import type { OutboxMessage } from '../../../functions/persist/archive.js'
import { eachBackend, startPersist } from './backends.js'
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

void t.test('real Kafka: CloudEvents binary binding, key = fingerprint, crash duplicates collapse', async (t) => {
  // KAFKA_BROKERS when set, else a broker started for this file by the services layer.
  const list = (await serviceEnv('kafka')).split(',')
  const topic = `kube-reflex-archive-${randomBytes(4).toString('hex')}`
  const kafka = new kafkajs.Kafka({ clientId: 'persist-archive-test', brokers: list, logLevel: kafkajs.logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })
  t.teardown(async () => {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await admin.disconnect()
  })

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
