// `--kafka BROKERS --topic T --group G`: KafkaSource emulation with kafkajs. Records of a batch are
// accepted by the broker in order, and the batch's offsets are committed only after the broker has
// durably accepted its events: a crash before the commit replays them (at-least-once).
import type { Logger } from 'pino'
import { kafkaRecordToEvent, type KafkaSourceIdentity } from './kafka-record.js'
import type { EventSource, Ingress, SourceStats } from './source.js'

export interface KafkaSourceOptions {
  readonly brokers: readonly string[]
  readonly topic: string
  readonly group: string
  readonly log: Logger
  /** Name/namespace of the emulated KafkaSource (the shipped one: kube-reflex/kube-reflex-remote-clusters). */
  readonly identity?: KafkaSourceIdentity
  /** Read the topic from the beginning when the group has no committed offset (default: true for dev). */
  readonly fromBeginning?: boolean
  /** Called once the consumer has joined its group. */
  readonly onReady?: () => void
  /** Stop once every partition is consumed up to its end offset at start (`dev --once`). */
  readonly untilCaughtUp?: boolean
}

/**
 * A `dev --kafka` that was killed (kill -9, OOM) never leaves its group: the restarted one gets the partitions
 * only when the dead member's session expires. kafkajs's default of 30 s made that a 30–55 s stall
 * (docs/RELIABILITY.md); 10 s keeps it short and is still well above the broker's minimum (6 s by default).
 * Heartbeats go every second, and also while a batch waits for the broker (the `beat` timer of eachBatch), so a
 * slow broker does not cost the membership.
 */
export const SESSION_TIMEOUT_MS = 10_000
const HEARTBEAT_INTERVAL_MS = 1_000

export const DEFAULT_KAFKA_SOURCE: KafkaSourceIdentity = { namespace: 'kube-reflex', name: 'kube-reflex-remote-clusters' }

export function kafkaSource(options: KafkaSourceOptions): EventSource {
  const stats: SourceStats = { accepted: 0, rejected: 0 }
  const identity = options.identity ?? DEFAULT_KAFKA_SOURCE
  return {
    name: `kafka ${options.topic} (group ${options.group})`,
    stats,
    async run(ingress: Ingress, signal: AbortSignal) {
      const { Kafka, logLevel } = await import('kafkajs')
      const kafka = new Kafka({ clientId: 'kube-reflex-dev', brokers: [...options.brokers], logLevel: logLevel.NOTHING })
      const consumer = kafka.consumer({ groupId: options.group, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_INTERVAL_MS })
      // End offsets at start: with untilCaughtUp, the source is drained once every partition's commit reaches them.
      const remaining = new Map<number, bigint>()
      if (options.untilCaughtUp === true) {
        const admin = kafka.admin()
        await admin.connect()
        try {
          for (const p of await admin.fetchTopicOffsets(options.topic)) {
            if (BigInt(p.high) > BigInt(p.low)) remaining.set(p.partition, BigInt(p.high))
          }
        } finally {
          await admin.disconnect()
        }
      }
      let caughtUp: (() => void) | undefined
      const drained = new Promise<void>((resolve) => {
        caughtUp = resolve
        if (options.untilCaughtUp === true && remaining.size === 0) resolve()
      })
      await consumer.connect()
      try {
        await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning ?? true })
        const crashed = new Promise<never>((_resolve, reject) => {
          consumer.on(consumer.events.CRASH, (e) => {
            if (e.payload.restart !== true) reject(e.payload.error)
          })
        })
        consumer.on(consumer.events.GROUP_JOIN, () => options.onReady?.())
        await consumer.run({
          autoCommit: false,
          eachBatchAutoResolve: false,
          eachBatch: async (payload) => {
            const { batch } = payload
            // While the batch waits for the broker (its queue full, or a slow durable write), keep the
            // membership alive: kafkajs sends heartbeats only when asked, and at most one per interval.
            // One timer for the whole batch, not one per record.
            const beat = setInterval(() => void payload.heartbeat().catch(() => undefined), HEARTBEAT_INTERVAL_MS)
            const accepted: Promise<void>[] = []
            let last: string | undefined
            try {
              for (const message of batch.messages) {
                if (!payload.isRunning() || payload.isStale() || signal.aborted) break
                let event
                try {
                  event = kafkaRecordToEvent({ ...message, topic: batch.topic, partition: batch.partition, headers: message.headers ?? {} }, identity)
                } catch (err) {
                  stats.rejected++
                  options.log.warn({ partition: batch.partition, offset: message.offset, err: err instanceof Error ? err.message : String(err) }, 'Kafka record is not a valid CloudEvent: skipped')
                  last = message.offset
                  continue
                }
                await ingress.ready()
                accepted.push(
                  ingress.accept(event).then(
                    () => {
                      stats.accepted++
                    },
                    (err: unknown) => {
                      stats.rejected++
                      options.log.warn({ partition: batch.partition, offset: message.offset, err: err instanceof Error ? err.message : String(err) }, 'event refused by the broker')
                    },
                  ),
                )
                last = message.offset
              }
              await Promise.all(accepted) // durable in the broker's queue …
            } finally {
              clearInterval(beat)
            }
            if (last !== undefined) {
              payload.resolveOffset(last)
              // … and only then the offset: the next offset to read is last + 1.
              const next = BigInt(last) + 1n
              await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }])
              const end = remaining.get(batch.partition)
              if (end !== undefined && next >= end) {
                remaining.delete(batch.partition)
                if (remaining.size === 0) caughtUp?.()
              }
            }
            await payload.heartbeat()
          },
        })
        const stopped = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })))
        await Promise.race(options.untilCaughtUp === true ? [stopped, crashed, drained] : [stopped, crashed])
      } finally {
        await consumer.disconnect()
      }
    },
  }
}
