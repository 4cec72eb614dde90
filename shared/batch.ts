// Group commit for small transactions on the embedded database (PGlite): work that arrives while a
// transaction is running (or in the same turn of the event loop) is run, in arrival order, in ONE
// transaction, each piece under its own savepoint. On PGlite every BEGIN/COMMIT costs about as much as two
// statements and all statements run one at a time on the one WASM instance anyway, so sharing the
// transaction saves that cost without changing what any piece sees: the pieces run one after the other,
// each sees what the previous ones wrote, exactly as if they had been separate transactions in that order.
//
// Contract kept for every piece: its promise settles only after the COMMIT (ack after commit); its own
// failure rolls back only its own writes (ROLLBACK TO SAVEPOINT) and rejects only its own promise; a failed
// COMMIT rejects every piece of the batch (none of them is stored, as with one transaction each).
//
// Not for PostgreSQL with several replicas: a batch holds the row and advisory locks of all its pieces
// until the end, so two replicas batching related work in different orders could deadlock. Callers use it
// only when `db.kind === 'pglite'` (one process owns the database; there is nobody to wait for).
import type { Database, Transaction } from './db.js'

interface Piece {
  readonly fn: (tx: Transaction) => Promise<unknown>
  readonly resolve: (value: unknown) => void
  readonly reject: (err: unknown) => void
}

export interface TransactionBatcher {
  /** Runs `fn` inside a (possibly shared) transaction; settles after that transaction has committed. */
  run<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>
}

export function transactionBatcher(db: Database, maxBatch = 64): TransactionBatcher {
  const queue: Piece[] = []
  let draining = false

  const runBatch = async (batch: readonly Piece[]): Promise<void> => {
    if (batch.length === 1) {
      const only = batch[0]
      if (only === undefined) return
      try {
        only.resolve(await db.transaction(only.fn))
      } catch (err) {
        only.reject(err)
      }
      return
    }
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = []
    try {
      await db.transaction(async (tx) => {
        for (const [i, piece] of batch.entries()) {
          await tx.exec(`SAVEPOINT piece_${i}`)
          try {
            outcomes.push({ ok: true, value: await piece.fn(tx) })
          } catch (err) {
            await tx.exec(`ROLLBACK TO SAVEPOINT piece_${i}`)
            outcomes.push({ ok: false, err })
          }
        }
      })
    } catch (err) {
      // BEGIN, a savepoint statement or COMMIT failed: nothing of the batch is stored.
      for (const piece of batch) piece.reject(err)
      return
    }
    for (const [i, piece] of batch.entries()) {
      const o = outcomes[i]
      if (o === undefined) piece.reject(new Error('batched transaction piece did not run'))
      else if (o.ok) piece.resolve(o.value)
      else piece.reject(o.err)
    }
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
    run<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (value: unknown) => void, reject })
        // setImmediate: pieces that arrive in the same turn (a burst of deliveries) share the first batch;
        // later ones queue behind the running transaction and share the next. No timer, no added wait.
        if (!draining && queue.length === 1) setImmediate(() => void drain())
      })
    },
  }
}
