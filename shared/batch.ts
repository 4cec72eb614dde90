// Group commit for small transactions on the embedded database (PGlite). On PGlite every statement costs
// 100 µs or more whatever it does (BEGIN, COMMIT and SAVEPOINT included) and all statements run one at a
// time on the one WASM instance anyway, so work that arrives together is cheaper done together:
//  - itemBatcher: items that arrive in the same turn of the event loop (or while a batch is running) are
//    handed to one call that does them set-wise (alert decides a whole batch of events with a handful of
//    multi-row statements, functions/alert/store.ts).
//  - transactionBatcher: callbacks that arrive together run, in arrival order, in ONE transaction; each
//    sees what the previous ones wrote, exactly as if they had been separate transactions in that order.
//
// Contract kept for every item or piece: its promise settles only after the COMMIT (ack after commit). In
// the transaction batcher a piece that fails rolls the shared transaction back, and then every piece of the
// batch runs again in a transaction of its own, so the failure stays the failing piece's own (the others
// commit, as with one transaction each) — hence pieces must do nothing outside the database (they may run
// twice). This replaces a savepoint per piece, which cost a statement per piece on the common path.
//
// Not for PostgreSQL with several replicas: a batch holds the row and advisory locks of all its pieces
// until the end, so two replicas batching related work in different orders could deadlock. Callers use them
// only when `db.kind === 'pglite'` (one process owns the database; there is nobody to wait for).
import type { Database, Transaction } from './db.js'

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

export interface TransactionBatcher {
  /** Runs `fn` inside a (possibly shared) transaction; settles after that transaction has committed. `fn` may run twice. */
  run<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>
}

type Piece = (tx: Transaction) => Promise<unknown>

/** Thrown inside the shared transaction to roll it back when one of its pieces failed. */
class PieceFailed extends Error {
  constructor() {
    super('a batched transaction piece failed')
  }
}

export function transactionBatcher(db: Database, maxBatch = 64): TransactionBatcher {
  const alone = async (fns: readonly Piece[]): Promise<PromiseSettledResult<unknown>[]> => {
    const settled: PromiseSettledResult<unknown>[] = []
    for (const fn of fns) {
      try {
        settled.push({ status: 'fulfilled', value: await db.transaction(fn) })
      } catch (reason) {
        settled.push({ status: 'rejected', reason })
      }
    }
    return settled
  }
  const together = async (fns: readonly Piece[]): Promise<PromiseSettledResult<unknown>[]> => {
    if (fns.length === 1) return alone(fns)
    const values: unknown[] = []
    try {
      await db.transaction(async (tx) => {
        for (const fn of fns) {
          try {
            values.push(await fn(tx))
          } catch {
            throw new PieceFailed()
          }
        }
      })
    } catch {
      // A piece failed (the shared transaction is rolled back: nothing of the batch is stored) or BEGIN/COMMIT
      // did: each piece runs again on its own, so each settles by its own outcome.
      return alone(fns)
    }
    return values.map((value) => ({ status: 'fulfilled', value }))
  }
  const batcher = itemBatcher<Piece, PromiseSettledResult<unknown>>(together, maxBatch)
  return {
    async run<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      const r = await batcher.add(fn)
      if (r.status === 'rejected') throw r.reason
      return r.value as T
    },
  }
}
