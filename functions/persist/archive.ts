// The Kafka archive through a transactional outbox: the outbox row is written in the event's own
// transaction (store-write.ts), and this relay publishes unsent rows, then marks them sent. A crash between
// publish and mark re-publishes those rows later — a duplicate that consumers collapse on (source, id).
// kafkajs's experimental idempotent producer is deliberately not used (issue 4).
import type { Logger } from 'pino'
import type { Database } from '../../shared/db.js'

export interface OutboxMessage {
  readonly seq: number
  readonly key: string | null
  /** The CloudEvent in the JSON event format, as stored. */
  readonly event: Record<string, unknown>
}

export type Publish = ((messages: readonly OutboxMessage[]) => Promise<void>) & { close?: () => Promise<void> }

export interface OutboxRelayOptions {
  readonly db: Database
  readonly log: Logger
  readonly publish: Publish
  readonly intervalMs: number
  readonly batchSize?: number
  /** How long a claimed row is reserved for this relay (another replica takes it over after). */
  readonly leaseMs?: number
  /** Test seam: runs after publish and before the rows are marked sent (simulates a crash there). */
  readonly afterPublish?: (messages: readonly OutboxMessage[]) => Promise<void>
}

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<number> | undefined
  private again = false
  private stopped = false

  constructor(private readonly options: OutboxRelayOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), this.options.intervalMs)
    this.timer.unref()
  }

  /** Publish soon (after a commit that wrote outbox rows); coalesces with a run already under way. */
  poke(): void {
    if (this.stopped) return
    if (this.running !== undefined) {
      this.again = true
      return
    }
    this.running = this.drain()
      .catch((err: unknown) => {
        this.options.log.warn({ err }, 'archive relay: publishing failed; retrying on the next tick')
        return 0
      })
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.poke()
        }
      })
  }

  /** Publishes until no unsent row is left; returns how many rows were published. */
  async drain(): Promise<number> {
    let total = 0
    for (;;) {
      const n = await this.runOnce()
      total += n
      if (n === 0 || this.stopped) return total
    }
  }

  /** One claim → publish → mark round. Returns the number of rows published. */
  async runOnce(): Promise<number> {
    const { db, publish } = this.options
    const batch = this.options.batchSize ?? 100
    const leaseSeconds = (this.options.leaseMs ?? 30_000) / 1000
    // Claiming with a lease (not a transaction held across the Kafka call): the embedded PGlite serializes
    // transactions, so a long one would stall event ingestion while Kafka is slow.
    const claimed = await db.query<{ seq: string | number; key: string | null; event: Record<string, unknown> | string }>(
      `UPDATE persist_outbox SET claimed_until = now() + make_interval(secs => $2)
       WHERE seq IN (SELECT seq FROM persist_outbox
                     WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                     ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING seq, key, event`,
      [batch, leaseSeconds],
    )
    if (claimed.rows.length === 0) return 0
    const messages: OutboxMessage[] = claimed.rows
      .map((r) => ({ seq: Number(r.seq), key: r.key, event: typeof r.event === 'string' ? (JSON.parse(r.event) as Record<string, unknown>) : r.event }))
      .sort((a, b) => a.seq - b.seq)
    const seqs = messages.map((m) => m.seq)
    try {
      await publish(messages)
    } catch (err) {
      // Give the rows back at once so the next tick retries them in order.
      await db.query('UPDATE persist_outbox SET claimed_until = NULL WHERE seq = ANY($1::bigint[])', [seqs]).catch(() => undefined)
      throw err
    }
    await this.options.afterPublish?.(messages)
    await db.query('UPDATE persist_outbox SET sent_at = now(), claimed_until = NULL WHERE seq = ANY($1::bigint[])', [seqs])
    return messages.length
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.running
    await this.options.publish.close?.()
  }
}

export interface KafkaPublisherOptions {
  readonly brokers: readonly string[]
  readonly topic: string
  readonly log: Logger
  readonly clientId?: string
}

/**
 * Publishes outbox rows with kafkajs in the CloudEvents Kafka binary binding (`Kafka.binary` from the SDK,
 * Kafka protocol binding §3.2): attributes as `ce_*` headers, data as the value, key = the fingerprint
 * (`partitionkey`, §3.1), so one workload's history stays ordered in one partition.
 */
export function kafkaPublisher(options: KafkaPublisherOptions): Publish {
  type Producer = import('kafkajs').Producer
  let producer: Promise<Producer> | undefined
  const connect = async (): Promise<Producer> => {
    const { Kafka, logLevel } = (await import('kafkajs')).default
    const kafka = new Kafka({ clientId: options.clientId ?? 'kube-reflex-persist', brokers: [...options.brokers], logLevel: logLevel.NOTHING })
    const p = kafka.producer({ allowAutoTopicCreation: true })
    await p.connect()
    return p
  }
  const publish: Publish = async (messages) => {
    producer ??= connect().catch((err: unknown) => {
      producer = undefined
      throw err
    })
    const p = await producer
    const { CloudEvent, Kafka } = await import('cloudevents')
    const records = messages.map((m) => {
      const attrs: Record<string, unknown> = { ...m.event }
      if (m.key !== null) attrs.partitionkey = m.key
      const message = Kafka.binary(new CloudEvent(attrs, false))
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(message.headers)) if (v !== undefined && v !== null) headers[k] = String(v)
      const data: unknown = message.value
      const value = data === undefined || data === null ? null : data instanceof Uint8Array ? Buffer.from(data) : typeof data === 'string' ? data : JSON.stringify(data)
      return { key: m.key, value, headers, ...(typeof message.timestamp === 'string' ? { timestamp: message.timestamp } : {}) }
    })
    await p.send({ topic: options.topic, acks: -1, messages: records })
  }
  publish.close = async () => {
    const p = producer
    producer = undefined
    if (p !== undefined) await (await p.catch(() => undefined))?.disconnect()
  }
  return publish
}
