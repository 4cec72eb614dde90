// The local broker: Knative's Broker data plane on one machine. Ingress (validate, knativearrivaltime,
// knativebrokerttl), a durable queue, fan-out to every Trigger whose filter passes, delivery over HTTP in
// binary mode with `Prefer: reply`, retries per the delivery spec, dead-lettering with the knativeerror*
// extensions, and replies that re-enter the ingress (knative/eventing pkg/broker/ingress and filter).
import type { Logger } from 'pino'
import { setTimeout as delay } from 'node:timers/promises'
import { Registry } from 'prom-client'
import { invalidEvent, parseHttpEvent, validateAttributes, type CloudEventV1 } from '../shared/cloudevent.js'
import { ReflexError } from '../shared/errors.js'
import { EventLog, type PendingEvent } from './event-log.js'
import { compileTriggerFilter } from './filters.js'
import { DEFAULT_ATTEMPT_TIMEOUT_MS, effectiveDelivery, isRetryable, retryPolicy, type Destination, type RetryPolicy } from './delivery.js'
import { httpSender, NetworkError, type HttpAnswer, type Sender } from './http-sender.js'
import type { BrokerManifest, TriggerManifest } from './manifests.js'
import { brokerMetrics, type BrokerMetrics } from './metrics.js'

/** knative/eventing pkg/broker: the TTL a Broker gives an event that has none (config-br-defaults). */
export const DEFAULT_TTL = 255
/** attributes.KnativeErrorDataExtensionMaxLength: knativeerrordata holds at most this many base64 characters. */
export const ERROR_DATA_MAX_LENGTH = 1024

export interface Clock {
  now(): number
  /** Resolves after `ms`, or as soon as `signal` aborts (the broker is closing). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // An abort clears the timer (timers/promises), so a long backoff does not keep a stopping process alive.
  sleep: (ms, signal) => delay(ms, undefined, { signal }).catch(() => undefined),
}

export type DeliveryOutcome = 'ack' | 'reply' | 'dead-lettered' | 'failed'

export interface DeliveryReport {
  readonly trigger: string
  readonly event: CloudEventV1
  readonly outcome: DeliveryOutcome
  /** Last HTTP status from the subscriber (0 for a network error). */
  readonly status: number
  readonly attempts: number
  readonly reply?: CloudEventV1
  /**
   * When the source input this event descends from (itself, or the input a chain of replies started
   * from) was handed to `accept`, in the broker clock's milliseconds. Unknown (undefined) for events a
   * previous run left in the queue.
   */
  readonly origin?: number
}

export interface BrokerObserver {
  accepted?(event: CloudEventV1, origin: 'source' | 'reply'): void
  delivered?(report: DeliveryReport): void
  dropped?(event: CloudEventV1, reason: string): void
}

export interface BrokerOptions {
  readonly broker: BrokerManifest
  readonly triggers: readonly TriggerManifest[]
  /** Address of a Destination (ref resolved to a local URL, relative uri joined); undefined = not running here. */
  readonly resolve: (destination: Destination) => string | undefined
  readonly dataDir: string
  readonly log: Logger
  /** Delivery slots of each Trigger (default 64): a subscriber that hangs can fill its own only. */
  readonly concurrency?: number
  /** Per-attempt timeout of a delivery that sets no `timeout` (default DEFAULT_ATTEMPT_TIMEOUT_MS, 300 s). */
  readonly attemptTimeoutMs?: number
  /** Back-pressure: accept() waits while this many events are queued (default 10,000). */
  readonly maxQueued?: number
  readonly clock?: Clock
  readonly sender?: Sender
  readonly registry?: Registry
  readonly observer?: BrokerObserver
  /** fdatasync the queue (default true). */
  readonly fsync?: boolean
}

/** A delivery given up because the broker is stopping: it is not marked done, so the next run makes it again. */
class Abandoned extends Error {
  override readonly name = 'Abandoned'
}

/**
 * A Trigger as the broker dispatches it: on its own, as Knative dispatches every subscription, with its own
 * queue and its own delivery slots, so a subscriber that hangs or fails holds up none of the others.
 */
interface Subscription {
  readonly name: string
  readonly url: string
  readonly matches: (event: CloudEventV1) => boolean
  readonly retry: RetryPolicy
  readonly deadLetterUrl: string | undefined
  readonly queue: JobQueue
  /** Retries whose backoff is over: taken before new work, as they were accepted earlier. */
  readonly due: JobQueue
  /** Deliveries of this Trigger holding a slot (at most `concurrency`). */
  inFlight: number
}

/** Where a delivery goes once its subscriber failed for good. */
interface DeadLetter {
  readonly url: string
  /** The event with the knativeerror* extensions. */
  readonly event: CloudEventV1
  /** The subscriber's last status and its number of attempts, for the report. */
  readonly status: number
  readonly attempts: number
}

interface Job {
  readonly seq: number
  readonly event: CloudEventV1
  readonly sub: Subscription
  readonly origin: number | undefined
  /** Attempts made so far at the current destination: the subscriber, then its dead-letter sink. */
  attempts: number
  /** Set once the subscriber failed for good: the job then goes to the dead-letter sink. */
  deadLetter?: DeadLetter
}

/** One HTTP attempt as the retry logic sees it; status 0 is a network error or timeout. */
interface Attempt {
  readonly status: number
  readonly body: Buffer
  readonly retryAfter: string | undefined
  readonly reply?: CloudEventV1
}

/** A FIFO that drops its consumed head in batches rather than shifting the array on every take. */
class JobQueue {
  private items: Job[] = []
  private head = 0

  push(job: Job): void {
    this.items.push(job)
  }

  shift(): Job | undefined {
    const job = this.items[this.head]
    if (job === undefined) return undefined
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head)
      this.head = 0
    }
    return job
  }

  clear(): void {
    this.items = []
    this.head = 0
  }
}

interface Live {
  readonly event: CloudEventV1
  remaining: number
}

function header(answer: HttpAnswer, name: string): string | undefined {
  const v = answer.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Is this answer a CloudEvent (binary: ce-specversion; structured: application/cloudevents*)? */
function carriesEvent(answer: HttpAnswer): boolean {
  if (header(answer, 'ce-specversion') !== undefined) return true
  return (header(answer, 'content-type') ?? '').toLowerCase().startsWith('application/cloudevents')
}

function ttlOf(event: CloudEventV1): number | undefined {
  const v = event.knativebrokerttl
  if (v === undefined) return undefined
  const n = typeof v === 'number' ? v : Number(v)
  return Number.isInteger(n) ? n : undefined
}

export class LocalBroker {
  private readonly subs: Subscription[]
  private readonly live = new Map<number, Live>()
  /** Deliveries holding a slot, all Triggers together. */
  private inFlight = 0
  /** Deliveries waiting out a retry backoff; they hold no delivery slot. */
  private waiting = 0
  private readonly idleWaiters: (() => void)[] = []
  private readonly spaceWaiters: (() => void)[] = []
  private closing = false
  /** Aborted by close(): cancels every retry backoff. */
  private readonly stopping = new AbortController()
  readonly metrics: BrokerMetrics
  readonly registry: Registry
  private readonly clock: Clock
  private readonly sender: Sender
  private readonly concurrency: number
  private readonly maxQueued: number

  private constructor(
    private readonly options: BrokerOptions,
    private readonly log: EventLog,
    readonly cursors: ReadonlyMap<string, number>,
  ) {
    this.clock = options.clock ?? systemClock
    this.concurrency = options.concurrency ?? 64
    this.maxQueued = options.maxQueued ?? 10_000
    this.sender = options.sender ?? httpSender(this.concurrency)
    this.registry = options.registry ?? new Registry()
    this.metrics = brokerMetrics(this.registry, () => this.log.depth, () => this.inFlight + this.waiting)
    this.subs = []
    for (const t of options.triggers) {
      if (t.broker !== options.broker.name) continue
      const url = options.resolve(t.subscriber)
      if (url === undefined) {
        options.log.warn({ trigger: t.name }, 'trigger subscriber is not running here: trigger skipped')
        continue
      }
      const delivery = effectiveDelivery(options.broker.delivery, t.delivery)
      const dls = delivery?.deadLetterSink === undefined ? undefined : options.resolve(delivery.deadLetterSink)
      if (delivery?.deadLetterSink !== undefined && dls === undefined) options.log.warn({ trigger: t.name }, 'dead-letter sink is not running here: failed events will be dropped')
      const retry = retryPolicy(delivery, () => this.clock.now(), options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS)
      this.subs.push({ name: t.name, url, matches: compileTriggerFilter(t.spec), retry, deadLetterUrl: dls, queue: new JobQueue(), due: new JobQueue(), inFlight: 0 })
    }
  }

  /** Opens the durable queue in `dataDir`, resumes what a previous run left, and starts delivering. */
  static async start(options: BrokerOptions): Promise<LocalBroker> {
    const recovered = await EventLog.open(options.dataDir, { ...(options.fsync === undefined ? {} : { fsync: options.fsync }) })
    if (recovered.corrupt > 0) options.log.warn({ records: recovered.corrupt }, 'broker queue had unreadable records; they were skipped')
    const broker = new LocalBroker(options, recovered.log, recovered.cursors)
    if (recovered.pending.length > 0) options.log.info({ events: recovered.pending.length }, 'resuming deliveries left by the previous run')
    for (const p of recovered.pending) broker.schedule(p)
    broker.pump()
    return broker
  }

  /** Trigger names that have a running subscriber. */
  get subscriptions(): readonly string[] {
    return this.subs.map((s) => s.name)
  }

  get depth(): number {
    return this.log.depth
  }

  /** Back-pressure: resolves when the queue has room. Sources await it before each `accept`. */
  async ready(): Promise<void> {
    while (this.log.depth >= this.maxQueued && !this.closing) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve))
    }
  }

  /**
   * Broker ingress for a source: validates the event, stamps knativearrivaltime and the TTL, and
   * resolves once the event is durably queued (only then may the source acknowledge upstream).
   * Everything up to the durable write happens synchronously, so events are queued in call order.
   * Throws ReflexError 400 for an invalid event or an exhausted TTL, like the ingress answering 400.
   */
  async accept(event: CloudEventV1, cursor?: { source: string; position: number }): Promise<void> {
    if (this.closing) throw new ReflexError('SHUTTING_DOWN', 'broker is shutting down')
    const origin = this.clock.now()
    const problems = validateAttributes(event)
    if (problems.length > 0) {
      this.metrics.dropped.inc({ reason: 'invalid' })
      throw invalidEvent(problems)
    }
    const stamped = this.ingress(event)
    if (stamped === undefined) {
      this.metrics.dropped.inc({ reason: 'ttl' })
      this.options.observer?.dropped?.(event, 'ttl')
      throw new ReflexError('EVENT_INVALID', 'event dropped: knativebrokerttl exhausted')
    }
    const { seq, durable } = this.log.append(stamped, cursor)
    this.metrics.accepted.inc({ origin: 'source' })
    this.options.observer?.accepted?.(stamped, 'source')
    this.schedule({ seq, event: stamped, delivered: new Set() }, origin)
    this.pump()
    await durable
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.log.depth === 0 && this.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /**
   * Stops taking events and closes the queue. Retries waiting for their backoff are dropped at once and
   * requests still running after `graceMs` are abandoned, all unfinished: the queue still holds them, so
   * the next start delivers them again (at-least-once).
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true
    this.stopping.abort()
    for (const w of this.spaceWaiters.splice(0)) w()
    for (const sub of this.subs) {
      sub.queue.clear()
      sub.due.clear()
    }
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs)
        }),
      ])
      clearTimeout(timer)
    }
    await this.log.close()
    this.sender.close()
  }

  /** TTL and arrival time as the Broker ingress sets them; undefined when the TTL is exhausted. */
  private ingress(event: CloudEventV1): CloudEventV1 | undefined {
    const previous = ttlOf(event)
    // TTLDefaulter: an event without TTL gets the default; one that has it (a reply) loses one hop.
    const ttl = previous === undefined ? DEFAULT_TTL : previous - 1
    if (ttl <= 0) return undefined
    return { ...event, knativebrokerttl: ttl, knativearrivaltime: new Date(this.clock.now()).toISOString() }
  }

  private schedule(p: PendingEvent, origin?: number): void {
    const subs = this.subs.filter((s) => !p.delivered.has(s.name) && this.safeMatch(s, p.event))
    if (subs.length === 0) {
      this.log.delivered(p.seq, '', true)
      this.wakeSpace()
      return
    }
    this.live.set(p.seq, { event: p.event, remaining: subs.length })
    for (const sub of subs) sub.queue.push({ seq: p.seq, event: p.event, sub, origin, attempts: 0 })
  }

  private safeMatch(sub: Subscription, event: CloudEventV1): boolean {
    try {
      return sub.matches(event)
    } catch (err) {
      this.options.log.warn({ err, trigger: sub.name }, 'trigger filter failed on an event: not delivered')
      return false
    }
  }

  /** Starts what each Trigger has room for; Triggers share no slots. */
  private pump(): void {
    for (const sub of this.subs) {
      while (sub.inFlight < this.concurrency && !this.closing) {
        const job = sub.due.shift() ?? sub.queue.shift()
        if (job === undefined) break
        sub.inFlight++
        this.inFlight++
        this.deliver(job).then(
          (settled) => (settled ? this.finish(job) : this.release(job)),
          (err: unknown) => {
            if (!(err instanceof Abandoned)) this.options.log.error({ err, trigger: job.sub.name }, 'delivery crashed')
            this.finish(job)
          },
        )
      }
    }
    this.checkIdle()
  }

  /** A delivery gave its slot back to wait for a retry; it is not done, so nothing is recorded. */
  private release(job: Job): void {
    job.sub.inFlight--
    this.inFlight--
    this.pump()
  }

  /**
   * Waits out a retry's backoff without a delivery slot: the Trigger's other events keep being delivered
   * meanwhile (go-retryablehttp waits in the request's own goroutine, not in a shared pool). The event stays
   * unfinished in the queue meanwhile, so a restart delivers it again.
   */
  private retryLater(job: Job, ms: number): void {
    this.waiting++
    const requeue = (): void => {
      this.waiting--
      if (this.closing) return // never send once close began
      job.sub.due.push(job)
      this.pump()
    }
    this.clock.sleep(ms, this.stopping.signal).then(requeue, requeue)
  }

  private finish(job: Job): void {
    job.sub.inFlight--
    this.inFlight--
    const live = this.live.get(job.seq)
    if (live !== undefined && !this.closing) {
      live.remaining--
      if (live.remaining === 0) this.live.delete(job.seq)
      this.log.delivered(job.seq, job.sub.name, live.remaining === 0)
      if (live.remaining === 0) this.wakeSpace()
    }
    this.pump()
  }

  private wakeSpace(): void {
    if (this.log.depth < this.maxQueued) for (const w of this.spaceWaiters.splice(0)) w()
    this.checkIdle()
  }

  private checkIdle(): void {
    if ((this.log.depth === 0 || this.closing) && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  /**
   * filter_handler + the channel dispatcher: send, then reply or dead-letter, one attempt after another
   * until the delivery is settled (true) or must wait for a retry's backoff (false, see retryLater).
   */
  private async deliver(job: Job): Promise<boolean> {
    const { sub, event } = job
    const ttl = ttlOf(event) ?? DEFAULT_TTL
    const report = (outcome: DeliveryOutcome, status: number, attempts: number, reply?: CloudEventV1): void => {
      this.metrics.deliveries.inc({ trigger: sub.name, outcome })
      const arrival = typeof event.knativearrivaltime === 'string' ? Date.parse(event.knativearrivaltime) : NaN
      if (!Number.isNaN(arrival)) this.metrics.lag.observe({ trigger: sub.name }, Math.max(0, this.clock.now() - arrival) / 1000)
      this.options.observer?.delivered?.({
        trigger: sub.name,
        event,
        outcome,
        status,
        attempts,
        ...(reply === undefined ? {} : { reply }),
        ...(job.origin === undefined ? {} : { origin: job.origin }),
      })
    }
    for (;;) {
      const dead = job.deadLetter
      let answer: Attempt
      if (dead === undefined) {
        // The filter removes the Broker's TTL before the subscriber sees the event (filter_handler.go).
        const outgoing: CloudEventV1 = { ...event }
        delete outgoing.knativebrokerttl
        answer = await this.attempt(sub.name, sub.url, outgoing, sub.retry.timeoutMs, { prefer: 'reply' }, true)
      } else {
        answer = await this.attempt(sub.name, dead.url, dead.event, sub.retry.timeoutMs, {}, false)
      }
      if (this.closing) throw new Abandoned()
      job.attempts++
      const { status } = answer
      if (status >= 200 && status < 300) {
        if (dead !== undefined) {
          this.options.log.warn({ trigger: sub.name, id: event.id, type: event.type, status: dead.status }, 'delivery failed: event sent to the dead-letter sink')
          report('dead-lettered', dead.status, dead.attempts)
          return true
        }
        if (answer.reply === undefined) {
          report('ack', status, job.attempts)
          return true
        }
        // The filter reattaches the same TTL to the reply; the ingress then takes one hop off it.
        const back = this.ingress({ ...answer.reply, knativebrokerttl: ttl })
        if (back === undefined) {
          this.metrics.dropped.inc({ reason: 'ttl' })
          this.options.log.warn({ trigger: sub.name, type: answer.reply.type, id: answer.reply.id }, 'reply dropped: knativebrokerttl exhausted (event loop?)')
          this.options.observer?.dropped?.(answer.reply, 'ttl')
        } else {
          const { seq } = this.log.append(back)
          this.metrics.accepted.inc({ origin: 'reply' })
          this.options.observer?.accepted?.(back, 'reply')
          this.schedule({ seq, event: back, delivered: new Set() }, job.origin)
        }
        report('reply', status, job.attempts, answer.reply)
        return true
      }
      if (isRetryable(status) && job.attempts <= sub.retry.retries) {
        // go-retryablehttp counts retries from 0: the wait before retry n is backoff(n).
        this.retryLater(job, sub.retry.backoffMs(job.attempts - 1, { status, retryAfter: answer.retryAfter }))
        return false
      }
      // A network error is recorded as 500, as executeRequest does.
      const final = status === 0 ? 500 : status
      if (dead !== undefined) {
        this.options.log.error({ trigger: sub.name, id: event.id, type: event.type, status: dead.status, deadLetterStatus: final }, 'delivery and dead-lettering both failed: event dropped')
        report('failed', dead.status, dead.attempts)
        return true
      }
      if (sub.deadLetterUrl === undefined) {
        this.options.log.error({ trigger: sub.name, id: event.id, type: event.type, status: final }, 'delivery failed and the trigger has no dead-letter sink: event dropped')
        report('failed', final, job.attempts)
        return true
      }
      // dispatchExecutionInfoTransformers: where it failed, the last status, and the answer body (base64,
      // cut to 1024 characters).
      const deadEvent: CloudEventV1 = {
        ...event,
        knativeerrordest: sub.url,
        knativeerrorcode: final,
        knativeerrordata: answer.body.toString('base64').slice(0, ERROR_DATA_MAX_LENGTH),
      }
      if (deadEvent.knativeerrordata === '') delete deadEvent.knativeerrordata
      job.deadLetter = { url: sub.deadLetterUrl, event: deadEvent, status: final, attempts: job.attempts }
      job.attempts = 0
    }
  }

  /** One HTTP attempt; an answer that should carry a reply and carries something else counts as 502. */
  private async attempt(
    trigger: string,
    url: string,
    event: CloudEventV1,
    timeoutMs: number,
    headers: Record<string, string>,
    expectReply: boolean,
  ): Promise<Attempt> {
    const started = performance.now()
    let result: Attempt
    try {
      const answer = await this.sender.send(url, event, headers, timeoutMs)
      let status = answer.status
      let reply: CloudEventV1 | undefined
      if (status >= 200 && status < 300 && expectReply) {
        if (carriesEvent(answer)) {
          try {
            reply = parseHttpEvent(answer.headers, answer.body)
          } catch {
            status = 502 // malformed event in the answer: the filter answers 502 Bad Gateway
          }
        } else if (answer.body.length > 0) {
          status = 502 // "a non-empty response not recognized as CloudEvent"
        }
      }
      result = { status, body: answer.body, retryAfter: header(answer, 'retry-after'), ...(reply === undefined ? {} : { reply }) }
    } catch (err) {
      if (!(err instanceof NetworkError)) throw err
      result = { status: 0, body: Buffer.from(`dispatch error: ${err.message}`), retryAfter: undefined }
    }
    this.metrics.attempts.inc({ trigger, status: String(result.status) })
    this.metrics.attemptDuration.observe({ trigger }, (performance.now() - started) / 1000)
    return result
  }
}
