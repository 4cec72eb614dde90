// Group commit for small transactions on the embedded database (PGlite). On PGlite every statement costs
// 100 µs or more whatever it does (BEGIN and COMMIT included) and all statements run one at a time on the
// one WASM instance anyway, so work that arrives together is cheaper done together: itemBatcher hands the
// items that arrive in the same turn of the event loop (or while a batch is running) to one call that does
// them set-wise — alert decides a whole batch of events with a handful of multi-row statements
// (functions/alert/store.ts), auto-recover a batch of offline decisions (functions/auto-recover/state.ts).
//
// Contract kept for every item: its promise settles only after the batch has run (for a transaction: after
// its COMMIT — ack after commit); a batch that fails rejects every item of it (nothing of it is stored, the
// broker redelivers them).
//
// Not for PostgreSQL with several replicas: a batch holds the row locks of all its items until the end, so
// two replicas batching related work in different orders could deadlock. Callers batch only when
// `db.kind === 'pglite'` (one process owns the database; there is nobody to wait for).

export interface ItemBatcher<I, O> {
  /** Queues `item`; settles with its result once the batch it joined has run (and committed). */
  add(item: I): Promise<O>
}

interface Pending<I, O> {
  readonly item: I
  readonly resolve: (value: O) => void
  readonly reject: (err: unknown) => void
}

/**
 * Collects items and runs them in batches of at most `maxBatch` through `run`, which returns one result
 * per item in the same order. A batch that throws rejects each of its items with that error.
 */
export function itemBatcher<I, O>(run: (items: readonly I[]) => Promise<readonly O[]>, maxBatch = 64): ItemBatcher<I, O> {
  const queue: Pending<I, O>[] = []
  let draining = false

  const runBatch = async (batch: readonly Pending<I, O>[]): Promise<void> => {
    let results: readonly O[]
    try {
      results = await run(batch.map((p) => p.item))
    } catch (err) {
      for (const p of batch) p.reject(err)
      return
    }
    batch.forEach((p, i) => {
      if (i < results.length) p.resolve(results[i] as O)
      else p.reject(new Error('batch returned no result for an item'))
    })
  }

  const drain = async (): Promise<void> => {
    draining = true
    try {
      while (queue.length > 0) await runBatch(queue.splice(0, maxBatch))
    } finally {
      draining = false
    }
  }

  return {
    add(item: I): Promise<O> {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject })
        // setImmediate: items that arrive in the same turn (a burst of deliveries) share the first batch;
        // later ones queue behind the running batch and share the next. No timer, no added wait.
        if (!draining && queue.length === 1) setImmediate(() => void drain())
      })
    },
  }
}
