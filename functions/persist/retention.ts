// Retention: a cheap periodic prune (sliced deletes on indexed columns, see EventStore.prune). Failures are
// logged and retried on the next tick — a missed prune only delays cleanup, it never loses an event.
import type { Logger } from 'pino'
import type { EventStore } from './event-store.js'

export interface RetentionOptions {
  readonly store: EventStore
  readonly log: Logger
  readonly retentionDays: number
  readonly intervalMs: number
  readonly now: () => number
}

export class Retention {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined

  constructor(private readonly options: RetentionOptions) {}

  start(): void {
    const tick = (): void => {
      this.running ??= this.runOnce().finally(() => {
        this.running = undefined
      })
    }
    this.timer = setInterval(tick, this.options.intervalMs)
    this.timer.unref()
  }

  async runOnce(): Promise<void> {
    const { store, log, retentionDays, now } = this.options
    try {
      const result = await store.prune(new Date(now() - retentionDays * 86_400_000))
      if (result.events + result.deadLetters + result.problems + result.counts + result.outbox > 0) log.info({ ...result, retentionDays }, 'retention prune')
    } catch (err) {
      log.warn({ err }, 'retention prune failed; retrying on the next tick')
    }
  }

  /** Stops the timer and waits for a prune under way, so the database is not closed beneath it. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    await this.running
  }
}
