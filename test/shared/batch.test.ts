// shared/batch.ts on PGlite: work that arrives together is done together, each piece settles only after the
// commit, and a failing piece fails alone (the shared transaction is rolled back and the pieces run again one
// by one).
import t, { type Test } from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { itemBatcher, transactionBatcher } from '../../shared/batch.js'
import { openDatabase, type Database, type Transaction } from '../../shared/db.js'

async function probeDb(t: Test): Promise<Database> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-reflex-batch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const db: Database = await openDatabase({ dataDir: dir })
  t.teardown(() => db.close())
  await db.query('CREATE TABLE probe (n integer PRIMARY KEY, txid bigint NOT NULL)')
  return db
}

const insert = (n: number) => async (tx: Transaction): Promise<number> => {
  const r = await tx.query<{ txid: string }>('INSERT INTO probe (n, txid) VALUES ($1, txid_current()) RETURNING txid::text AS txid', [n])
  return Number(r.rows[0]?.txid)
}

const count = async (db: Database): Promise<number> => Number((await db.query<{ c: string }>('SELECT count(*)::text AS c FROM probe')).rows[0]?.c)

t.test('a burst shares one transaction and settles after its commit', async (t) => {
  const db = await probeDb(t)
  const batcher = transactionBatcher(db)
  let committedWhenSettled = -1
  const first = batcher.run(insert(1)).then(async (v) => {
    committedWhenSettled = await count(db)
    return v
  })
  const [a, b, c] = await Promise.all([first, batcher.run(insert(2)), batcher.run(insert(3))])
  t.equal(a, b, 'same transaction id')
  t.equal(b, c, 'same transaction id')
  t.equal(committedWhenSettled, 3, 'settled after the commit: every row of the batch was visible outside the transaction')
  const later = await batcher.run(insert(4))
  t.not(later, a, 'work arriving later runs in a new transaction')
})

t.test('one failure stays its own', async (t) => {
  const db = await probeDb(t)
  const batcher = transactionBatcher(db)
  let runs = 0
  const counted = (n: number) => (tx: Transaction) => {
    runs++
    return insert(n)(tx)
  }
  const [a, dup, c] = await Promise.allSettled([batcher.run(counted(1)), batcher.run(counted(1)), batcher.run(counted(3))])
  t.equal(a.status, 'fulfilled')
  t.equal(dup.status, 'rejected', 'the duplicate fails')
  t.equal(c.status, 'fulfilled', 'the piece after the failed one still commits')
  t.equal(runs, 5, 'the shared attempt stopped at the failing piece (2 runs); then each piece ran alone (3)')
  if (a.status === 'fulfilled' && c.status === 'fulfilled') t.not(a.value, c.value, 'after a failure each piece had its own transaction')
  const rows = await db.query<{ n: number }>('SELECT n FROM probe ORDER BY n')
  t.same(rows.rows.map((r) => r.n), [1, 3], 'the rolled-back shared attempt left nothing behind')
})

t.test('itemBatcher: one call per burst, results in order, a failed call rejects its items', async (t) => {
  const calls: number[][] = []
  const batcher = itemBatcher<number, string>(async (items) => {
    calls.push([...items])
    await new Promise((r) => setTimeout(r, 5))
    if (items.includes(13)) throw new Error('unlucky batch')
    return items.map((i) => `#${i}`)
  }, 3)
  const burst = await Promise.all([1, 2, 3, 4].map((i) => batcher.add(i)))
  t.same(burst, ['#1', '#2', '#3', '#4'])
  t.same(calls, [[1, 2, 3], [4]], 'at most maxBatch items per call, in arrival order')
  const bad = await Promise.allSettled([batcher.add(12), batcher.add(13)])
  t.same(bad.map((r) => r.status), ['rejected', 'rejected'], 'both items of the failed call are rejected')
  t.same(await batcher.add(5), '#5', 'the next batch runs normally')
})
