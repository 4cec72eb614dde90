// Upgrading a store: a database written under migration 001 (pod_events_view a table, filled by the write
// path) keeps every pod event after 002 turns the table into a view over persist_events — same rows, same
// columns, served by the compatibility route with its status filter — on PGlite and PostgreSQL.
import t from 'tap'
import { migrate, openDatabase } from '../../../shared/db.js'
import { loadMigrations, toRecord } from '../../../functions/persist/index.js'
import { listPodEvents } from '../../../functions/persist/store-read.js'
import { alertReply, classified } from './fixtures.js'
import { eachBackend } from './backends.js'

t.setTimeout(300_000)

const T0 = Date.parse('2026-11-27T08:00:00Z')
const at = (min: number): Date => new Date(T0 + min * 60_000)
const VIEW_COLUMNS = 'event_seq, id, namespace, kind, pod, reason, message, event_time, status'

eachBackend(t, 'migration 002 keeps the pod events that 001 stored in its table', async (t, backend) => {
  const db = await openDatabase(backend.options)
  t.teardown(() => db.close())
  const all = await loadMigrations()
  t.same(
    all.map((m) => m.version),
    [1, 2, 3],
    'the migrations in order',
  )
  await migrate(db, 'persist', all.slice(0, 1))
  const crash = classified({ namespace: 'shop', name: 'api-6f7d8c9b5-abcde', workload: 'api', reason: 'BackOff', message: 'Back-off restarting failed container app', severity: 'critical', category: 'crashloop', at: at(1) })
  const probe = classified({ namespace: 'shop', name: 'api-6f7d8c9b5-abcde', workload: 'api', reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', severity: 'warning', category: 'probe', at: at(2) })
  const started = classified({ namespace: 'web', name: 'web-7c8d9e0f1-fghij', workload: 'web', reason: 'Started', message: 'Started container app', severity: 'info', category: 'lifecycle', at: at(3) })
  const reply = alertReply(crash, 'sent', at(4))
  // What 001's write path stored: every event, and a pod_events_view row per classified one.
  for (const event of [crash, probe, started, reply]) {
    const r = toRecord(event, new Date(T0))
    const row = await db.query<{ seq: string | number }>(
      `INSERT INTO persist_events (source, id, type, subject, time, occurred_at, severity, category, namespace, kind, name, reason, message, fingerprint, event)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb) RETURNING seq`,
      [r.source, r.id, r.type, r.subject, r.time, r.occurredAt, r.severity, r.category, r.namespace, r.kind, r.name, r.reason, r.message, r.fingerprint, r.json],
    )
    if (r.recordKind !== 'classified') continue
    await db.query(
      `INSERT INTO pod_events_view (${VIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [row.rows[0]?.seq, r.id, r.namespace, r.kind, r.name, r.reason, r.message, r.occurredAt, { critical: 'CRITICAL', warning: 'WARNING', info: 'NORMAL' }[r.severity ?? 'info']],
    )
  }
  const read = `SELECT ${VIEW_COLUMNS.replace('event_time', `to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS event_time`)} FROM pod_events_view ORDER BY event_seq`
  const before = await db.query<Record<string, unknown>>(read)
  t.equal(before.rows.length, 3, '001: three rows in the table')

  t.equal(await migrate(db, 'persist', all.slice(0, 2)), 1, 'only 002 is applied')
  const after = await db.query<Record<string, unknown>>(read)
  t.same(after.rows, before.rows, 'the view has the same rows and values as the table had')
  const kind = await db.query<{ relkind: string }>("SELECT relkind FROM pg_class WHERE oid = 'pod_events_view'::regclass")
  t.same(kind.rows, [{ relkind: 'v' }], 'pod_events_view is a view now')

  const page = { limit: 10, cursor: undefined }
  const critical = await listPodEvents(db, { status: 'CRITICAL' }, page)
  t.same(critical.items.map((e) => [e.reason, e.status]), [['BackOff', 'CRITICAL']], 'status CRITICAL')
  const normal = await listPodEvents(db, { status: 'NORMAL' }, page)
  t.same(normal.items.map((e) => [e.pod, e.status]), [['web-7c8d9e0f1-fghij', 'NORMAL']], 'status NORMAL is the info events')
  const shop = await listPodEvents(db, { namespace: 'shop' }, page)
  t.same(shop.items.map((e) => e.reason), ['Unhealthy', 'BackOff'], 'a namespace, newest first; the alert reply is not a pod event')
  t.equal(await migrate(db, 'persist', all), all.length - 2, 'the migrations after 002 apply on top')
  t.equal(await migrate(db, 'persist', all), 0, 'a second start applies nothing')
})
