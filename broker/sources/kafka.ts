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
}

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
      const consumer = kafka.consumer({ groupId: options.group })
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
            const accepted: Promise<void>[] = []
            let last: string | undefined
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
            if (last !== undefined) {
              payload.resolveOffset(last)
              // … and only then the offset: the next offset to read is last + 1.
              await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }])
            }
            await payload.heartbeat()
          },
        })
        await Promise.race([new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }))), crashed])
      } finally {
        await consumer.disconnect()
      }
    },
  }
}
