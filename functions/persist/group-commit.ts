// Group commit: deliveries that arrive while a transaction is being written (or within `windowMs` of the
// first one) share the next transaction, and each caller is answered only after that transaction commits.
// Throughput then grows with concurrency — one commit (one fsync) per batch — while the ack-after-commit
// rule of DESIGN.md ("Answer only after the work is durable") holds for every single event.

export interface GroupCommitOptions<I, O> {
  /** Writes a batch in one transaction; returns one result per item, in order. */
  readonly commit: (items: readonly I[]) => Promise<O[]>
  /** Whether a failed batch should be retried item by item (to isolate a poison item from the others). */
  readonly isolate: (err: unknown) => boolean
  readonly windowMs: number
  readonly maxBatch: number
}

const KEPT_SIZES = 1000

interface Pending<I, O> {
  readonly item: I
  readonly resolve: (o: O) => void
  readonly reject: (err: unknown) => void
}

export class GroupCommit<I, O> {
  private queue: Pending<I, O>[] = []
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
    this.timer ??= setTimeout(() => this.flushNow(), this.options.windowMs)
  }

  private flushNow(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (this.running !== undefined || this.queue.length === 0) return
    const batch = this.queue.splice(0, this.options.maxBatch)
    if (this.batchSizes.push(batch.length) >= 2 * KEPT_SIZES) this.batchSizes.splice(0, KEPT_SIZES)
    this.running = this.write(batch).finally(() => {
      this.running = undefined
      // Whatever queued up meanwhile has already waited one transaction: write it at once.
      if (this.queue.length > 0) this.flushNow()
    })
  }

  private async write(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await this.options.commit(batch.map((p) => p.item))
      batch.forEach((p, i) => p.resolve(results[i] as O))
    } catch (err) {
      if (batch.length === 1 || !this.options.isolate(err)) {
        for (const p of batch) p.reject(err)
        return
      }
      for (const p of batch) {
        try {
          const [result] = await this.options.commit([p.item])
          p.resolve(result as O)
        } catch (one) {
          p.reject(one)
        }
      }
    }
  }
}
