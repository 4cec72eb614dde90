// Named statements on PGlite (shared/pglite-prepared.ts): the same rows and counts as PGlite's own
// query(), inside and outside transactions; a statement of its own never slips into somebody else's open
// transaction; a schema change that invalidates a prepared plan is recovered from; a name stays bound to
// one text; errors keep their SQLSTATE (dbError maps them).
import t, { type Test } from 'tap'
import { openDatabase, dbError, type Database } from '../../shared/db.js'

async function pglite(t: Test): Promise<Database> {
  const db = await openDatabase({ dataDir: t.testdir({}) })
  t.teardown(() => db.close())
  await db.transaction((tx) => tx.exec('CREATE TABLE probe (id text PRIMARY KEY, n integer NOT NULL, at timestamptz, tags text[])'))
  return db
}

const INSERT = 'INSERT INTO probe (id, n, at, tags) SELECT * FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[]) AS u(id, n, at, tag) CROSS JOIN LATERAL (SELECT ARRAY[u.tag]) AS x(tags) ON CONFLICT (id) DO NOTHING RETURNING id, n, at'

t.test('a named statement answers as the unnamed one does, with parameters serialized and rows parsed alike', async (t) => {
  const db = await pglite(t)
  const at = '2026-11-28T10:00:00.000Z'
  const named = await db.query<{ id: string; n: number; at: Date }>(INSERT.replace('SELECT *', 'SELECT u.id, u.n, u.at, x.tags'), [['a', 'b'], [1, 2], [at, at], ['x', 'y "quoted", {braced}']], 'probe-insert')
  const plain = await db.query<{ id: string; n: number; at: Date }>(INSERT.replace('SELECT *', 'SELECT u.id, u.n, u.at, x.tags'), [['c', 'a'], [3, 9], [at, null], ['z', null]])
  t.same(named.rows, [
    { id: 'a', n: 1, at: new Date(at) },
    { id: 'b', n: 2, at: new Date(at) },
  ])
  t.equal(named.rowCount, 2)
  t.same(plain.rows, [{ id: 'c', n: 3, at: new Date(at) }], 'the duplicate a is left out by ON CONFLICT')
  const again = await db.query<{ id: string }>(INSERT.replace('SELECT *', 'SELECT u.id, u.n, u.at, x.tags'), [['d'], [4], [null], [null]], 'probe-insert')
  t.same(again.rows, [{ id: 'd', n: 4, at: null }], 'prepared once, run again with other values (NULLs too)')
  const tags = await db.query<{ tags: string[] }>('SELECT tags FROM probe WHERE id = $1', ['b'], 'probe-tags')
  t.same(tags.rows, [{ tags: ['y "quoted", {braced}'] }], 'an array element with quotes and braces survives the round trip')
  const update = await db.query('UPDATE probe SET n = n + 1 WHERE n < $1', [5], 'probe-bump')
  t.equal(update.rowCount, 4, 'affected rows of a statement without RETURNING')
})

t.test('inside a transaction: the statement is part of it (rolled back with it)', async (t) => {
  const db = await pglite(t)
  await t.rejects(
    db.transaction(async (tx) => {
      await tx.query('INSERT INTO probe (id, n) VALUES ($1, $2)', ['r', 1], 'probe-one')
      const seen = await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM probe', [], 'probe-count')
      t.same(seen.rows, [{ n: '1' }], 'the transaction sees its own row')
      throw new Error('roll back')
    }),
    { message: 'roll back' },
  )
  t.same((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM probe', [], 'probe-count')).rows, [{ n: '0' }])
  await db.transaction((tx) => tx.query('INSERT INTO probe (id, n) VALUES ($1, $2)', ['c', 1], 'probe-one'))
  t.same((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM probe', [], 'probe-count')).rows, [{ n: '1' }], 'committed')
})

t.test('a statement of its own waits for an open transaction instead of running inside it', async (t) => {
  const db = await pglite(t)
  let release: () => void = () => undefined
  const hold = new Promise<void>((resolve) => {
    release = resolve
  })
  const tx = db.transaction(async (q) => {
    await q.query('INSERT INTO probe (id, n) VALUES ($1, $2)', ['in-tx', 1])
    await hold
    throw new Error('roll back')
  })
  // Fired while the transaction is open: it must neither run inside it (and be rolled back with it) nor
  // see its uncommitted row.
  const own = db.query('INSERT INTO probe (id, n) SELECT $1, count(*) FROM probe RETURNING n', ['own'], 'probe-own')
  await new Promise((resolve) => setTimeout(resolve, 50))
  release()
  await t.rejects(tx, { message: 'roll back' })
  t.same((await own).rows, [{ n: 0 }], 'ran after the transaction ended, and did not see its row')
  t.same((await db.query<{ id: string }>('SELECT id FROM probe ORDER BY id')).rows, [{ id: 'own' }], 'and was not rolled back with it')
})

t.test('a schema change that invalidates the prepared plan is recovered from; errors keep their SQLSTATE', async (t) => {
  const db = await pglite(t)
  await db.query('INSERT INTO probe (id, n) VALUES ($1, $2)', ['a', 1], 'probe-one')
  t.same((await db.query('SELECT * FROM probe', [], 'probe-all')).rows.map((r) => Object.keys(r)), [['id', 'n', 'at', 'tags']])
  await db.transaction((tx) => tx.exec('ALTER TABLE probe ADD COLUMN extra text'))
  // SELECT * now has another result type: PostgreSQL refuses the cached plan (0A000); it is prepared again.
  t.same((await db.query('SELECT * FROM probe', [], 'probe-all')).rows.map((r) => Object.keys(r)), [['id', 'n', 'at', 'tags', 'extra']])
  const err: unknown = await db.query('INSERT INTO probe (id, n) VALUES ($1, $2)', ['a', 2], 'probe-one').then(
    () => undefined,
    (e: unknown) => e,
  )
  t.equal((err as { code?: string } | undefined)?.code, '23505', 'unique violation, with its SQLSTATE')
  t.equal(dbError(err, 'inserting').status, 500)
  // The statement still works after a failure (the Sync in the same message ended the error state).
  t.same((await db.query('INSERT INTO probe (id, n) VALUES ($1, $2) RETURNING id', ['b', 2], 'probe-one-returning')).rows, [{ id: 'b' }])
})

t.test('one name, one text', async (t) => {
  const db = await pglite(t)
  await db.query('SELECT 1 AS one', [], 'probe-fixed')
  await t.rejects(db.query('SELECT 2 AS two', [], 'probe-fixed'), { message: /probe-fixed is used with two different texts/ })
})
