// lazyDatabase: nothing is opened until the first use (or warm()), `prepare` (the migrations) runs once
// before any statement however many callers race, a database that is down answers 503 and the next use
// tries again, and a closed handle refuses work.
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dbError, lazyDatabase, type Database } from '../../shared/db.js'
import { isolatedDatabaseUrl } from '../helpers/pg-schema.js'

const TABLE = 'CREATE TABLE IF NOT EXISTS lazy_probe (n integer NOT NULL)'

t.test('PostgreSQL down: 503, then the next use reconnects and prepares', async (t) => {
  // Port 1 on loopback refuses connections at once: the same failure as a database that is restarting.
  const down = lazyDatabase({ databaseUrl: 'postgres://nobody:nothing@127.0.0.1:1/none', maxConnections: 1 })
  t.equal(down.kind, 'postgres')
  const err: unknown = await down.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  )
  t.ok(err, 'the query fails')
  t.equal(dbError(err, 'probing').status, 503, 'and maps to 503 (retry later)')
  await down.close()

  let url: string
  try {
    url = await isolatedDatabaseUrl(t)
  } catch (e) {
    t.comment(`skipped the PostgreSQL part: test service not available (${e instanceof Error ? e.message : String(e)})`)
    return
  }
  let prepared = 0
  let failFirst = true
  const db = lazyDatabase({ databaseUrl: url }, async (opened: Database) => {
    prepared++
    if (failFirst) {
      failFirst = false
      throw Object.assign(new Error('the server is starting up'), { code: '57P03' })
    }
    await opened.transaction((tx) => tx.exec(TABLE))
  })
  t.teardown(() => db.close())
  const first: unknown = await db.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  )
  t.equal(dbError(first, 'probing').status, 503, 'a failed preparation answers 503')
  const [a, b, c] = await Promise.all([
    db.query('INSERT INTO lazy_probe (n) VALUES (1)'),
    db.query('INSERT INTO lazy_probe (n) VALUES (2)'),
    db.transaction((tx) => tx.query('INSERT INTO lazy_probe (n) VALUES (3)')),
  ])
  t.same([a.rowCount, b.rowCount, c.rowCount], [1, 1, 1], 'the next uses retry, and see the prepared table')
  t.equal(prepared, 2, 'prepared once per successful open, not once per caller')
  const rows = await db.query<{ n: number }>('SELECT n FROM lazy_probe ORDER BY n')
  t.same(
    rows.rows.map((r) => r.n),
    [1, 2, 3],
  )
})

t.test('PGlite: warm() opens in the background; close() ends it and refuses later work', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kube-reflex-lazy-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  let prepared = 0
  const db = lazyDatabase({ dataDir: dir }, async (opened) => {
    prepared++
    await opened.transaction((tx) => tx.exec(TABLE))
  })
  t.equal(db.kind, 'pglite')
  t.equal(prepared, 0, 'nothing is opened by creating the handle')
  db.warm()
  const r = await db.query('INSERT INTO lazy_probe (n) VALUES (7)')
  t.equal(r.rowCount, 1)
  t.equal(prepared, 1, 'warm() and the first query share one open')
  await db.close()
  const after: unknown = await db.query('SELECT 1').then(
    () => undefined,
    (e: unknown) => e,
  )
  t.equal(dbError(after, 'probing').status, 503, 'a closed handle answers 503')
})
