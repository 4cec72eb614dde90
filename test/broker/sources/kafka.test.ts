// Against a real Kafka broker: KAFKA_BROKERS, or one started for this test by the services layer.
import t from 'tap'
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs'
import { silentLogger } from '../../../shared/logger.js'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { SESSION_TIMEOUT_MS, kafkaSource } from '../../../broker/sources/kafka.js'
import type { Ingress } from '../../../broker/sources/source.js'
import { serviceEnv } from '../../services/env.js'


async function waitFor(cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A fresh one-partition topic and group on the real broker, an admin client and a producer, all torn down after. */
async function freshTopic(t: Test): Promise<{ list: string[]; kafka: Kafka; admin: Admin; producer: Producer; topic: string; group: string }> {
  const list = (await serviceEnv('kafka')).split(',')
  const kafka = new Kafka({ clientId: 'broker-test', brokers: list, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const topic = `kube-reflex-test-${randomUUID()}`
  const group = `g-${randomUUID()}`
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
  t.teardown(() => admin.deleteTopics({ topics: [topic] }))
  const producer = kafka.producer()
  await producer.connect()
  t.teardown(() => producer.disconnect())
  return { list, kafka, admin, producer, topic, group }
}

void t.test('KafkaSource emulation against a real Kafka broker', async (t) => {
  const { list, admin, producer, topic, group } = await freshTopic(t)
  const k8sEvent = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'api.1', namespace: 'shop' }, reason: 'BackOff', message: 'Back-off restarting failed container api', type: 'Warning' }
  await producer.send({
    topic,
    messages: [
      { key: 'shop/api', value: JSON.stringify(k8sEvent), headers: { cluster: 'eu-1' } },
      { value: '{"n":2}', headers: { ce_specversion: '1.0', ce_id: 'bin-1', ce_source: '/remote', ce_type: 'dev.knative.apiserver.resource.update', 'content-type': 'application/json' } },
      { value: JSON.stringify({ specversion: '1.0', id: 'str-1', source: '/remote', type: 'dev.knative.kafka.event', data: { n: 3 } }), headers: { 'content-type': 'application/cloudevents+json' } },
    ],
  })

  const events: CloudEventV1[] = []
  let release: (() => void) | undefined
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  const ingress: Ingress = {
    cursors: new Map(),
    ready: () => Promise.resolve(),
    accept: async (e) => {
      events.push(e)
      await gate // the broker has not made it durable yet
    },
  }
  const stop = new AbortController()
  const src = kafkaSource({ brokers: list, topic, group, log: silentLogger })
  const running = src.run(ingress, stop.signal)
  const committed = async (): Promise<string | undefined> => {
    const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    return offsets[0]?.partitions[0]?.offset
  }
  await waitFor(() => events.length === 3)
  await new Promise((r) => setTimeout(r, 500))
  t.equal(await committed(), '-1', 'nothing committed while the broker has not accepted')
  release?.()
  await waitFor(async () => (await committed()) === '3')
  t.pass('offset 3 committed once all three were accepted')
  stop.abort()
  await running

  t.match(events[0], {
    type: 'dev.knative.kafka.event',
    id: 'partition:0/offset:0',
    subject: 'partition:0#0',
    source: `/apis/v1/namespaces/kube-reflex/kafkasources/kube-reflex-remote-clusters#${topic}`,
    key: 'shop/api',
    partitionkey: 'shop/api',
    kafkaheadercluster: 'eu-1',
  })
  t.same(events[0]?.data, k8sEvent)
  t.match(events[1], { id: 'bin-1', source: '/remote', type: 'dev.knative.apiserver.resource.update', data: { n: 2 } })
  t.same(events[2], { specversion: '1.0', id: 'str-1', source: '/remote', type: 'dev.knative.kafka.event', data: { n: 3 } })
  t.same(src.stats, { accepted: 3, rejected: 0 })
})

void t.test('a member killed without leaving its group: the next one gets the partition once the 10 s session expires, not 30 s later', async (t) => {
  const { list, producer, topic, group } = await freshTopic(t)

  // The first member, in a process of its own, joins and is killed with SIGKILL: what `kill -9` of
  // `kube-reflex dev --kafka` does. It sends no LeaveGroup, so the coordinator still counts it.
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'kafka-member.ts'), list.join(','), topic, group], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  await waitFor(() => out.includes('joined'), 60_000)
  child.kill('SIGKILL')
  await once(child, 'exit')
  const killedAt = Date.now()

  await producer.send({ topic, messages: [{ value: JSON.stringify({ specversion: '1.0', id: 'after-kill', source: '/remote', type: 'dev.knative.kafka.event' }), headers: { 'content-type': 'application/cloudevents+json' } }] })
  const got: CloudEventV1[] = []
  const stop = new AbortController()
  const src = kafkaSource({ brokers: list, topic, group, log: silentLogger })
  const running = src.run({ cursors: new Map(), ready: () => Promise.resolve(), accept: async (e) => void got.push(e) }, stop.signal)
  await waitFor(() => got.length === 1, 60_000)
  const seconds = (Date.now() - killedAt) / 1000
  stop.abort()
  await running
  t.equal(got[0]?.id, 'after-kill', 'the event written after the kill is consumed by the new member')
  // The coordinator gives the partition away when the dead member's session expires: ≈ 10 s with
  // SESSION_TIMEOUT_MS, ≥ 30 s with kafkajs's own default. 22 s leaves room for a loaded machine.
  t.ok(seconds < 22, `the new member consumed ${seconds.toFixed(1)} s after the kill (session timeout ${SESSION_TIMEOUT_MS / 1000} s)`)
})

void t.test('a batch that waits for the broker longer than the session keeps its membership: accepted once, committed once', async (t) => {
  const { list, admin, producer, topic, group } = await freshTopic(t)
  await producer.send({ topic, messages: [{ value: JSON.stringify({ specversion: '1.0', id: 'slow-1', source: '/remote', type: 'dev.knative.kafka.event' }), headers: { 'content-type': 'application/cloudevents+json' } }] })

  // The broker takes 1.5 × the session timeout to make the event durable (its disk or its queue is slow).
  const holdMs = SESSION_TIMEOUT_MS * 1.5
  const accepted: string[] = []
  let joins = 0
  const stop = new AbortController()
  const src = kafkaSource({ brokers: list, topic, group, log: silentLogger, onReady: () => joins++ })
  const running = src.run(
    {
      cursors: new Map(),
      ready: () => Promise.resolve(),
      accept: async (e) => {
        accepted.push(e.id)
        await new Promise((r) => setTimeout(r, holdMs))
      },
    },
    stop.signal,
  )
  const committed = async (): Promise<string | undefined> => (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions[0]?.offset
  await waitFor(async () => (await committed()) === '1', holdMs + 30_000)
  await new Promise((r) => setTimeout(r, 2_000)) // a lost membership would show as a second delivery now
  stop.abort()
  await running
  t.same(accepted, ['slow-1'], 'delivered to the broker once: the member was not thrown out while it waited')
  t.equal(joins, 1, 'one group join, no rebalance')
})
