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

/** A record the Kafka broker refused for good (it can never be accepted as it is), and why. */
export interface Refused {
  readonly seq: number
  readonly reason: string
}

/**
 * Publishes the messages in order. Resolves when every message is on the topic or refused for good (listed
 * in `refused`); throws when any may still go later (the relay then gives the whole batch back).
 */
export type Publish = ((messages: readonly OutboxMessage[]) => Promise<{ readonly refused?: readonly Refused[] } | void>) & { close?: () => Promise<void> }

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
  private refusedListener: ((n: number) => void) | undefined

  constructor(private readonly options: OutboxRelayOptions) {}

  /** Called with the number of rows set aside as refused, after each batch that had some (metrics). */
  onRefused(listener: (n: number) => void): void {
    this.refusedListener = listener
  }

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

  /** Publishes until no unsent row is left; returns how many rows were published or set aside as refused. */
  async drain(): Promise<number> {
    let total = 0
    for (;;) {
      const n = await this.runOnce()
      total += n
      if (n === 0 || this.stopped) return total
    }
  }

  /**
   * One claim → publish → mark round. Returns the number of rows handled: published, or set aside because
   * the broker refused them for good (a record larger than its `message.max.bytes`). Such a row is marked
   * `refused_at`/`refused_reason` and logged, and the rows after it go on: one oversized event must not stop
   * the archive. The event itself stays in the store.
   */
  async runOnce(): Promise<number> {
    const { db, publish } = this.options
    const batch = this.options.batchSize ?? 100
    const leaseSeconds = (this.options.leaseMs ?? 30_000) / 1000
    // Claiming with a lease (not a transaction held across the Kafka call): the embedded PGlite serializes
    // transactions, so a long one would stall event ingestion while Kafka is slow.
    const claimed = await db.query<{ seq: string | number; key: string | null; event: Record<string, unknown> | string }>(
      `UPDATE persist_outbox SET claimed_until = now() + make_interval(secs => $2)
       WHERE seq IN (SELECT seq FROM persist_outbox
                     WHERE sent_at IS NULL AND refused_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                     ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING seq, key, event`,
      [batch, leaseSeconds],
    )
    if (claimed.rows.length === 0) return 0
    const messages: OutboxMessage[] = claimed.rows
      .map((r) => ({ seq: Number(r.seq), key: r.key, event: typeof r.event === 'string' ? (JSON.parse(r.event) as Record<string, unknown>) : r.event }))
      .sort((a, b) => a.seq - b.seq)
    const seqs = messages.map((m) => m.seq)
    let refused: readonly Refused[]
    try {
      refused = (await publish(messages))?.refused ?? []
    } catch (err) {
      // Give the rows back at once so the next tick retries them in order.
      await db.query('UPDATE persist_outbox SET claimed_until = NULL WHERE seq = ANY($1::bigint[])', [seqs]).catch(() => undefined)
      throw err
    }
    await this.options.afterPublish?.(messages)
    if (refused.length > 0) {
      for (const r of refused) {
        const event = messages.find((m) => m.seq === r.seq)?.event
        this.options.log.error(
          { seq: r.seq, source: event?.source, id: event?.id, type: event?.type, reason: r.reason },
          'archive: Kafka refused this record for good; it is set aside (persist_outbox.refused_at) and the archive goes on. The event stays in the store',
        )
      }
      await db.query(
        `UPDATE persist_outbox SET refused_at = now(), refused_reason = r.reason, claimed_until = NULL
         FROM unnest($1::bigint[], $2::text[]) AS r(seq, reason) WHERE persist_outbox.seq = r.seq`,
        [refused.map((r) => r.seq), refused.map((r) => r.reason)],
      )
      this.refusedListener?.(refused.length)
    }
    const refusedSeqs = new Set(refused.map((r) => r.seq))
    const sent = seqs.filter((seq) => !refusedSeqs.has(seq))
    if (sent.length > 0) await db.query('UPDATE persist_outbox SET sent_at = now(), claimed_until = NULL WHERE seq = ANY($1::bigint[])', [sent])
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
 * How many bytes of records one produce request carries at most (estimated: key, value and headers). A
 * broker refuses a whole batch larger than its `message.max.bytes` (1 MiB by default), and a hundred
 * Kubernetes objects with their managedFields easily pass that: so the relay's batch goes out in chunks.
 */
const MAX_SEND_BYTES = 512 * 1024

/** Kafka's answer for a record (or batch) larger than the broker or topic accepts. */
function isTooLarge(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const { type, code } = e as { type?: unknown; code?: unknown }
    if (type === 'MESSAGE_TOO_LARGE' || type === 'RECORD_LIST_TOO_LARGE' || code === 10 || code === 18) return true
    e = (e as { cause?: unknown; originalError?: unknown }).cause ?? (e as { originalError?: unknown }).originalError
  }
  return false
}

type KafkaRecord = { key: string | null; value: Buffer | string | null; headers: Record<string, string>; timestamp?: string }

function recordBytes(r: KafkaRecord): number {
  let n = 64 + (r.key === null ? 0 : Buffer.byteLength(r.key)) + (r.value === null ? 0 : typeof r.value === 'string' ? Buffer.byteLength(r.value) : r.value.length)
  for (const k in r.headers) n += k.length + Buffer.byteLength(r.headers[k] ?? '')
  return n
}

/** Consecutive chunks of at most `max` bytes each (a record larger than that is a chunk of its own). */
function chunkBySize<T>(items: readonly T[], size: (item: T) => number, max: number): T[][] {
  const chunks: T[][] = []
  let chunk: T[] = []
  let bytes = 0
  for (const item of items) {
    const n = size(item)
    if (chunk.length > 0 && bytes + n > max) {
      chunks.push(chunk)
      chunk = []
      bytes = 0
    }
    chunk.push(item)
    bytes += n
  }
  if (chunk.length > 0) chunks.push(chunk)
  return chunks
}

/**
 * Publishes outbox rows with kafkajs in the CloudEvents Kafka binary binding (`Kafka.binary` from the SDK,
 * Kafka protocol binding §3.2): attributes as `ce_*` headers, data as the value, key = the fingerprint
 * (`partitionkey`, §3.1), so one workload's history stays ordered in one partition. Records go out in order,
 * in produce requests of at most MAX_SEND_BYTES; a record the broker refuses as too large is reported as
 * refused (the relay sets it aside) and the ones after it still go.
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
    const records = messages.map((m): KafkaRecord & { seq: number } => {
      const attrs: Record<string, unknown> = { ...m.event }
      if (m.key !== null) attrs.partitionkey = m.key
      const message = Kafka.binary(new CloudEvent(attrs, false))
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(message.headers)) if (v !== undefined && v !== null) headers[k] = String(v)
      const data: unknown = message.value
      const value = data === undefined || data === null ? null : data instanceof Uint8Array ? Buffer.from(data) : typeof data === 'string' ? data : JSON.stringify(data)
      return { seq: m.seq, key: m.key, value, headers, ...(typeof message.timestamp === 'string' ? { timestamp: message.timestamp } : {}) }
    })
    const send = (chunk: readonly (KafkaRecord & { seq: number })[]): Promise<unknown> =>
      p.send({ topic: options.topic, acks: -1, messages: chunk.map(({ seq: _seq, ...record }) => record) })
    const refused: Refused[] = []
    const refuse = (record: KafkaRecord & { seq: number }, why: unknown): void => {
      const { type, message } = why as { type?: unknown; message?: unknown }
      refused.push({ seq: record.seq, reason: `${typeof type === 'string' ? type : 'MESSAGE_TOO_LARGE'}: ${String(message)} (record of ≈ ${recordBytes(record)} bytes)` })
    }
    for (const chunk of chunkBySize(records, recordBytes, MAX_SEND_BYTES)) {
      try {
        await send(chunk)
      } catch (err) {
        if (!isTooLarge(err)) throw err
        const [only] = chunk
        if (chunk.length === 1 && only !== undefined) {
          refuse(only, err)
          continue
        }
        // One of them is too large for this broker (or its limit is below our chunk size): one by one.
        for (const record of chunk) {
          try {
            await send([record])
          } catch (single) {
            if (!isTooLarge(single)) throw single
            refuse(record, single)
          }
        }
      }
    }
    return { refused }
  }
  publish.close = async () => {
    const p = producer
    producer = undefined
    if (p !== undefined) await (await p.catch(() => undefined))?.disconnect()
  }
  return publish
}
