// Group commit: items that arrive while a batch is being written (or before the next one starts) share
// the next batch, written by one call, and each caller is answered only after that call — for a
// transaction, after its COMMIT (DESIGN.md: "Answer only after the work is durable").
//  - persist's event store (functions/persist/event-store.ts) batches on PostgreSQL and PGlite: one commit
//    (one fsync) per batch, so throughput grows with concurrency. It waits `windowMs` for more deliveries
//    when nothing is in flight, and retries a failed batch item by item to isolate a poison item.
//  - alert's decisions (functions/alert/store.ts) and auto-recover's offline decisions
//    (functions/auto-recover/state.ts) batch on PGlite only. There every statement costs 100 µs or more
//    whatever it does (BEGIN and COMMIT included) and all of them run one at a time on the one WASM
//    instance anyway, so work done together is cheaper: a whole batch of decisions takes a handful of
//    multi-row statements. They take the items of the same turn of the event loop (no window, no added
//    wait). Not on PostgreSQL with several replicas: a batch holds the row locks of all its items until
//    the end, and two replicas batching related work in different orders could deadlock.
//
// Contract for every item: its promise settles only after the batch it joined has run; a batch that
// fails rejects each of its items (nothing of it is stored; the broker redelivers them), unless `isolate`
// asks for the item-by-item retry.

export interface GroupCommitOptions<I, O> {
  /** Writes a batch (in one transaction); returns one result per item, in order. */
  readonly commit: (items: readonly I[]) => Promise<readonly O[]>
  readonly maxBatch: number
  /** How long the first item waits for more when no batch is in flight. Unset: the items of the same turn
   *  of the event loop (setImmediate), no timer. */
  readonly windowMs?: number | undefined
  /** Whether a failed batch should be retried item by item (to isolate a poison item from the others).
   *  Unset: never; the batch's error rejects every item of it. */
  readonly isolate?: ((err: unknown) => boolean) | undefined
}

const KEPT_SIZES = 1000

interface Pending<I, O> {
  readonly item: I
  readonly resolve: (o: O) => void
  readonly reject: (err: unknown) => void
}

export class GroupCommit<I, O> {
  private queue: Pending<I, O>[] = []
  private scheduled = false
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  /** Sizes of the latest batches written (at least the last KEPT_SIZES; for tests). Bounded: a long-running
   *  persist writes hundreds of batches a second, and an ever-growing list of them would be a leak. */
  readonly batchSizes: number[] = []

  constructor(private readonly options: GroupCommitOptions<I, O>) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      this.schedule()
    })
  }

  /** Resolves when everything submitted so far has been written (or has failed). */
  async drain(): Promise<void> {
    while (this.running !== undefined || this.queue.length > 0) {
      if (this.running === undefined) this.flushNow()
      await this.running
    }
  }

  private schedule(): void {
    if (this.running !== undefined) return // the batch in flight picks the queue up when it ends
    if (this.queue.length >= this.options.maxBatch) {
      this.flushNow()
      return
    }
    if (this.scheduled) return
    this.scheduled = true
    if (this.options.windowMs === undefined) setImmediate(() => this.flushNow())
    else this.timer = setTimeout(() => this.flushNow(), this.options.windowMs)
  }

  private flushNow(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.scheduled = false
    if (this.running !== undefined || this.queue.length === 0) return
    const batch = this.queue.splice(0, this.options.maxBatch)
    if (this.batchSizes.push(batch.length) >= 2 * KEPT_SIZES) this.batchSizes.splice(0, KEPT_SIZES)
    this.running = this.write(batch).finally(() => {
      this.running = undefined
      // Whatever queued up meanwhile has already waited one batch: write it at once.
      if (this.queue.length > 0) this.flushNow()
    })
  }

  private async write(batch: Pending<I, O>[]): Promise<void> {
    try {
      settle(batch, await this.options.commit(batch.map((p) => p.item)))
    } catch (err) {
      if (batch.length === 1 || this.options.isolate?.(err) !== true) {
        for (const p of batch) p.reject(err)
        return
      }
      for (const p of batch) {
        try {
          settle([p], await this.options.commit([p.item]))
        } catch (one) {
          p.reject(one)
        }
      }
    }
  }
}

function settle<I, O>(batch: readonly Pending<I, O>[], results: readonly O[]): void {
  batch.forEach((p, i) => {
    if (i < results.length) p.resolve(results[i] as O)
    else p.reject(new Error('the batch returned no result for this item'))
  })
}
