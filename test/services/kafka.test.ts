// The layer's Kafka: starts (KRaft, one node), does a real produce/consume round trip through
// an auto-created topic, restarts on the same port keeping its log, and stops leaving nothing.
import t from 'tap'
import { existsSync } from 'node:fs'
import { Kafka, logLevel } from 'kafkajs'
import { startServices } from '../../scripts/test-services/index.mjs'
import { processGone } from './process-gone.js'

async function roundTrip(brokers: string, topic: string, value: string, fromBeginning: boolean): Promise<string[]> {
  const kafka = new Kafka({ clientId: 'services-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ allowAutoTopicCreation: true })
  await producer.connect()
  try {
    await producer.send({ topic, messages: [{ key: 'k', value }] })
  } finally {
    await producer.disconnect()
  }
  const consumer = kafka.consumer({ groupId: `services-test-${topic}-${Date.now()}` })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning })
    const received: string[] = []
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message on ${topic} within 30 s`)), 30_000)
      consumer
        .run({
          eachMessage: async ({ message }) => {
            received.push(message.value?.toString() ?? '')
            if (received.includes(value)) {
              clearTimeout(timer)
              resolve()
            }
            return Promise.resolve()
          },
        })
        .catch(reject)
    })
    return received
  } finally {
    await consumer.disconnect()
  }
}

void t.test('kafka starts, round-trips a message, restarts with its log, stops cleanly', async (t) => {
  const running = await startServices(['kafka'], { reuseEnv: false, log: (line) => t.comment(line) })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await running.stop()
  })
  const kafka = running.services.kafka
  if (kafka === undefined) throw new Error('no kafka handle')
  const brokers = running.env.KAFKA_BROKERS
  t.equal(brokers, kafka.brokers)
  t.match(brokers, /^127\.0\.0\.1:\d+$/)

  const first = await roundTrip(brokers ?? '', 'services-test-a', 'hello-before-restart', true)
  t.same(first, ['hello-before-restart'], 'produced message consumed from an auto-created topic')

  const firstPid = kafka.pid
  const port = kafka.port
  if (firstPid === undefined) throw new Error('no pid')
  await kafka.stop()
  t.ok(await processGone(firstPid), 'broker JVM gone after stop()')

  await kafka.start()
  t.equal(kafka.port, port, 'restart keeps the broker port')
  const second = await roundTrip(brokers ?? '', 'services-test-a', 'hello-after-restart', true)
  t.same(second, ['hello-before-restart', 'hello-after-restart'], 'the log written before the restart is still there')

  const secondPid = kafka.pid
  if (secondPid === undefined) throw new Error('no pid')
  await running.stop()
  stopped = true
  t.ok(await processGone(secondPid), 'no process left after stop()')
  t.notOk(existsSync(running.sessionDir), 'run directory removed')
})
