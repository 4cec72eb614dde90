// transactionBatcher on PGlite: pieces that arrive together share one transaction, each settles only
// after the commit, a failing piece rolls back only its own writes and rejects only its own promise.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { transactionBatcher } from '../../shared/batch.js'
import { openDatabase, type Database, type Transaction } from '../../shared/db.js'

t.test('a burst shares a transaction; one failure stays its own', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-reflex-batch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db: Database = await openDatabase({ dataDir: dir })
  t.teardown(() => db.close())
  await db.query('CREATE TABLE probe (n integer PRIMARY KEY, txid bigint NOT NULL)')
  const batcher = transactionBatcher(db)
  const insert = (n: number) => async (tx: Transaction): Promise<number> => {
    const r = await tx.query<{ txid: string }>('INSERT INTO probe (n, txid) VALUES ($1, txid_current()) RETURNING txid::text AS txid', [n])
    return Number(r.rows[0]?.txid)
  }
  let committedWhenSettled = -1
  const first = batcher.run(insert(1)).then(async (v) => {
    committedWhenSettled = Number((await db.query<{ c: string }>('SELECT count(*)::text AS c FROM probe')).rows[0]?.c)
    return v
  })
  const dup = batcher.run(insert(1)) // primary key violation: only this piece fails
  const third = batcher.run(insert(3))
  const [a, b, c] = await Promise.allSettled([first, dup, third])
  t.equal(a.status, 'fulfilled')
  t.equal(b.status, 'rejected', 'the duplicate fails')
  t.equal(c.status, 'fulfilled', 'the piece after the failed one still commits')
  if (a.status === 'fulfilled' && c.status === 'fulfilled') t.equal(a.value, c.value, 'same transaction id: one shared transaction')
  t.equal(committedWhenSettled, 2, 'settled after the commit: both good rows were visible outside the transaction')
  const rows = await db.query<{ n: number }>('SELECT n FROM probe ORDER BY n')
  t.same(rows.rows.map((r) => r.n), [1, 3])
  // A later piece gets a new transaction.
  const later = await batcher.run(insert(4))
  if (a.status === 'fulfilled') t.not(later, a.value, 'work arriving later runs in a new transaction')
})
