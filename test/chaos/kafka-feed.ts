// The producer side of the Kafka chaos fault: writes the numbered stream (duplicates included) to a topic
// at a steady rate, as CloudEvents in structured mode (what a shipping cluster's producer would send,
// DESIGN.md "KafkaSource: records that are CloudEvents … pass through unchanged"). While the broker is
// down, sends fail; the feeder keeps the line and retries until the broker acknowledges it, so every
// line is produced at least once (a send that failed after the broker wrote it gives one more copy of
// the same CloudEvent id — one more duplicate, which the pipeline must absorb like the others).
import { Kafka, logLevel, type Producer } from 'kafkajs'

export interface KafkaFeed {
  /** Lines acknowledged by the broker so far. */
  readonly produced: () => number
  /** Sends that failed and were retried (the broker was down or unreachable). */
  readonly failedSends: () => number
  /** Resolves once every line is acknowledged (or the feed was stopped). */
  readonly done: Promise<void>
  stop(): Promise<void>
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Creates the topic (one partition) up front so the consumer can subscribe before the first record. */
export async function createTopic(brokers: string, topic: string): Promise<void> {
  const admin = new Kafka({ clientId: 'kube-reflex-chaos-admin', brokers: [brokers], logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })
  } finally {
    await admin.disconnect()
  }
}

export function startKafkaFeed(o: { brokers: string; topic: string; lines: readonly string[]; linesPerSecond: number; log: (l: string) => void }): KafkaFeed {
  let produced = 0
  let failedSends = 0
  let stopped = false
  const kafka = new Kafka({
    clientId: 'kube-reflex-chaos-feed',
    brokers: [o.brokers],
    logLevel: logLevel.NOTHING,
    // Fail fast and let the loop below retry: a kafkajs retry storm would hide how long the outage was.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
    connectionTimeout: 1000,
    requestTimeout: 5000,
  })
  let producer: Producer | undefined
  const run = async (): Promise<void> => {
    const started = Date.now()
    let next = 0
    while (next < o.lines.length && !stopped) {
      // Steady rate: everything due by now goes out in one batch (small batches, like a real producer's linger).
      const due = Math.min(o.lines.length, Math.floor(((Date.now() - started) / 1000) * o.linesPerSecond) + 1)
      if (due <= next) {
        await sleep(20)
        continue
      }
      const batch = o.lines.slice(next, due)
      try {
        if (producer === undefined) {
          const p = kafka.producer({ allowAutoTopicCreation: false, idempotent: false })
          await p.connect()
          producer = p
        }
        await producer.send({ topic: o.topic, acks: -1, messages: batch.map((value) => ({ value, headers: { 'content-type': 'application/cloudevents+json' } })) })
        produced += batch.length
        next = due
      } catch (err) {
        failedSends++
        if (failedSends === 1 || failedSends % 20 === 0) o.log(`kafka feed: send failed (${failedSends}): ${err instanceof Error ? err.message : String(err)}`)
        const p = producer
        producer = undefined
        await p?.disconnect().catch(() => undefined)
        await sleep(300)
      }
    }
  }
  const done = run().finally(async () => {
    await producer?.disconnect().catch(() => undefined)
  })
  return {
    produced: () => produced,
    failedSends: () => failedSends,
    done,
    async stop() {
      stopped = true
      await done.catch(() => undefined)
    },
  }
}
