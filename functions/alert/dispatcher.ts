// Sends what the store decided: claim a notification, spend a rate-limit token (or fold an alert into the
// sink's digest; a resolution notice waits for a token), deliver, record the outcome. Also the background
// work: digests and resolution notices.
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import type { DeliveryOutcome } from './http-delivery.js'
import type { AlertMetrics } from './metrics.js'
import type { Route } from './routing.js'
import type { Sink } from './sinks/index.js'
import type { AlertStore, MessageBuilder, NotificationRow } from './store.js'

export type DeliveryState = 'sent' | 'failed' | 'queued' | 'retry' | 'in-progress'

export interface DeliveryResult {
  readonly id: string
  readonly sink: string
  readonly route: string
  readonly outcome: DeliveryState
  readonly reason: string | null
  /** For retry: the sink's HTTP status (429 → the function answers 429) and its Retry-After. */
  readonly status: number | null
  readonly retryAfterSeconds: number | undefined
}

export interface DispatcherOptions {
  readonly leaseMs: number
  readonly now: () => number
  /** Fallback pause before retrying a sink that gave no Retry-After. */
  readonly defaultRetrySeconds?: number
}

export class Dispatcher {
  private readonly defaultRetry: number

  constructor(
    private readonly store: AlertStore,
    private readonly sinks: ReadonlyMap<string, Sink>,
    private readonly metrics: AlertMetrics,
    private readonly log: Logger,
    private readonly options: DispatcherOptions,
  ) {
    this.defaultRetry = options.defaultRetrySeconds ?? 5
  }

  private result(row: Pick<NotificationRow, 'id' | 'sink' | 'route'>, outcome: DeliveryState, reason: string | null, status: number | null = null, retryAfterSeconds?: number): DeliveryResult {
    return { id: row.id, sink: row.sink, route: row.route, outcome, reason, status, retryAfterSeconds }
  }

  /** What a notification's stored state means for the event being answered. */
  private fromState(row: NotificationRow, now: number): DeliveryResult | 'claimable' {
    switch (row.status) {
      case 'sent':
        return this.result(row, 'sent', null)
      case 'failed':
        return this.result(row, 'failed', row.lastError)
      case 'queued':
      case 'digesting':
      case 'digested':
        return this.result(row, 'queued', 'rate limit reached: folded into the next digest')
      case 'sending':
        if (row.leaseUntil !== null && row.leaseUntil >= now) return this.result(row, 'in-progress', 'being sent by another replica', null, Math.ceil((row.leaseUntil - now) / 1000))
        return 'claimable'
      case 'pending':
        // Still waiting after a temporary failure: answered as the failure was (429 if the sink asked to slow
        // down), with the time left, without calling the sink.
        if (row.nextAttemptAt !== null && row.nextAttemptAt > now) return this.result(row, 'retry', row.lastError, row.lastStatus, Math.ceil((row.nextAttemptAt - now) / 1000))
        return 'claimable'
    }
  }

  /** Delivers one notification unless someone else already did (or is doing) it. Never sends twice on purpose. */
  async deliver(id: string, signal?: AbortSignal): Promise<DeliveryResult> {
    const owner = randomUUID()
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.options.now()
      const row = await this.store.claim(id, owner, now, this.options.leaseMs)
      if (row !== null) return this.send(row, owner, signal)
      const [current] = await this.store.get([id])
      if (current === undefined) return { id, sink: 'unknown', route: 'unknown', outcome: 'failed', reason: 'notification not found', status: null, retryAfterSeconds: undefined }
      const state = this.fromState(current, now)
      if (state !== 'claimable') return state
      // Due but not claimed: another replica took it meanwhile, or the previous episode's resolution goes first.
      const waiting = await this.resolveFirst(current, signal)
      if (waiting !== null) return waiting
    }
    const [current] = await this.store.get([id])
    return { id, sink: current?.sink ?? 'unknown', route: current?.route ?? 'unknown', outcome: 'in-progress', reason: 'contended', status: null, retryAfterSeconds: 1 }
  }

  /**
   * Sends the unsettled resolution notices of earlier episodes that hold an alert back (AlertStore.claim),
   * in order. Returns the alert's answer while one of them cannot go now (retry later, or another replica is
   * sending it), null when none is left in the way.
   */
  private async resolveFirst(row: NotificationRow, signal?: AbortSignal): Promise<DeliveryResult | null> {
    for (const id of await this.store.earlierResolutions(row.id)) {
      const r = await this.deliver(id, signal)
      if (r.outcome === 'retry' || r.outcome === 'in-progress') {
        return this.result(row, r.outcome, `the resolution notice of the previous episode goes first: ${r.reason ?? 'not sent yet'}`, r.status, r.retryAfterSeconds)
      }
    }
    return null
  }

  private async send(row: NotificationRow, owner: string, signal?: AbortSignal): Promise<DeliveryResult> {
    const sink = this.sinks.get(row.sink)
    if (sink === undefined) {
      const reason = `sink '${row.sink}' is no longer configured`
      await this.store.markFailed(row.id, reason)
      this.metrics.notifications.inc({ sink: row.sink, outcome: 'failed' })
      return this.result(row, 'failed', reason)
    }
    if (sink.rate !== null && row.payload.kind !== 'digest' && !(await this.store.takeToken(sink.name, sink.rate, this.options.now()))) {
      if (row.payload.kind === 'resolved') return this.awaitToken(row, owner, sink.rate.perSecond)
      await this.store.queueForDigest(row.id)
      this.metrics.notifications.inc({ sink: sink.name, outcome: 'suppressed' })
      this.log.info({ sink: sink.name, notification: row.id }, 'sink rate limit reached: notification folded into the next digest')
      return this.result(row, 'queued', 'rate limit reached: folded into the next digest')
    }
    const outcome = await this.attempt(sink, row, signal)
    const now = this.options.now()
    switch (outcome.kind) {
      case 'delivered':
        await this.store.markSent(row.id, now)
        this.metrics.notifications.inc({ sink: sink.name, outcome: 'sent' })
        this.log.debug({ sink: sink.name, notification: row.id, status: outcome.status }, 'notification sent')
        return this.result(row, 'sent', null, outcome.status)
      case 'rejected':
        await this.store.markFailed(row.id, outcome.reason)
        this.metrics.notifications.inc({ sink: sink.name, outcome: 'failed' })
        this.log.warn({ sink: sink.name, notification: row.id, status: outcome.status, reason: outcome.reason }, 'sink rejected the notification')
        return this.result(row, 'failed', outcome.reason, outcome.status)
      case 'retry': {
        const after = outcome.retryAfterSeconds ?? this.defaultRetry
        await this.store.release(row.id, owner, outcome.reason, now + after * 1000, outcome.status)
        this.log.warn({ sink: sink.name, notification: row.id, status: outcome.status, reason: outcome.reason, retryAfterSeconds: after }, 'sink temporarily unavailable')
        return this.result(row, 'retry', outcome.reason, outcome.status, after)
      }
    }
  }

  /**
   * A resolution notice is never folded into a digest: a digest tells of more alerts (on PagerDuty it is a
   * `trigger` of an incident of its own), so a folded resolve paged anew while the incident it was to
   * close stayed open. Without a token it stays pending and the next round after a token is due sends it.
   */
  private async awaitToken(row: NotificationRow, owner: string, perSecond: number): Promise<DeliveryResult> {
    const waitMs = Math.ceil(1000 / perSecond)
    const reason = 'rate limit reached: the resolution notice waits for a token'
    await this.store.release(row.id, owner, reason, this.options.now() + waitMs, null)
    this.log.info({ sink: row.sink, notification: row.id }, 'sink rate limit reached: resolution notice delayed')
    return this.result(row, 'retry', reason, null, Math.ceil(waitMs / 1000))
  }

  private async attempt(sink: Sink, row: NotificationRow, signal?: AbortSignal): Promise<DeliveryOutcome> {
    try {
      return await sink.deliver(row.payload, signal)
    } catch (err) {
      // A sink bug must not lose the notification: treat it as temporary and keep the outbox row.
      this.log.error({ err, sink: sink.name, notification: row.id }, 'sink threw')
      return { kind: 'retry', status: null, retryAfterSeconds: undefined, reason: 'sink error' }
    }
  }

  /** Sends one digest per rate-limited sink that has queued notifications and a token. */
  async flushDigests(signal?: AbortSignal): Promise<number> {
    let sent = 0
    for (const sink of this.sinks.values()) {
      if (sink.rate === null) continue
      const owner = randomUUID()
      const digest = await this.store.claimDigest(sink.name, sink.rate, owner, this.options.now(), this.options.leaseMs)
      if (digest === null) continue
      const outcome = await this.attempt(sink, { id: digest.id, sink: sink.name, route: '', kind: 'digest', status: 'sending', payload: digest, leaseUntil: null, nextAttemptAt: null, lastError: null, lastStatus: null }, signal)
      const now = this.options.now()
      if (outcome.kind === 'delivered') {
        await this.store.settleDigest(digest.id, 'sent', now, null)
        this.metrics.notifications.inc({ sink: sink.name, outcome: 'sent' })
        this.log.info({ sink: sink.name, digest: digest.id, items: digest.items.length }, 'digest sent')
        sent++
      } else if (outcome.kind === 'retry') {
        await this.store.settleDigest(digest.id, 'retry', now, outcome.reason)
        this.log.warn({ sink: sink.name, digest: digest.id, reason: outcome.reason }, 'digest not sent, will retry')
      } else {
        await this.store.settleDigest(digest.id, 'failed', now, outcome.reason)
        this.metrics.notifications.inc({ sink: sink.name, outcome: 'failed' })
        this.log.warn({ sink: sink.name, digest: digest.id, reason: outcome.reason }, 'sink rejected the digest')
      }
    }
    return sent
  }

  /** Records and sends resolution notices for quiet groups of routes that ask for them. */
  async sweepResolutions(routes: readonly Route[], build: MessageBuilder, signal?: AbortSignal): Promise<number> {
    const now = this.options.now()
    const ids: string[] = []
    for (const route of routes) if (route.sendResolved) ids.push(...(await this.store.resolveQuietGroups(route, now, build)))
    ids.push(...(await this.store.dueResolutions(now)))
    let sent = 0
    for (const id of new Set(ids)) if ((await this.deliver(id, signal)).outcome === 'sent') sent++
    return sent
  }
}
