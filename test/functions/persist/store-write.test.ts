// One batch, many rows: the set-based write keeps the projections exactly as event-by-event writes would —
// duplicates inside the batch stored once, several occurrences of one problem counted and ordered by time,
// replies aggregated per fingerprint — on PGlite and PostgreSQL.
import t from 'tap'
import { toRecord } from '../../../functions/persist/index.js'
import { needsTransaction, writeRecords } from '../../../functions/persist/store-write.js'
import { alertReply, classified, recoveryReply } from './fixtures.js'
import { eachBackend, openMigrated } from './backends.js'

t.setTimeout(600_000)

const T0 = Date.parse('2026-11-27T08:00:00Z')
const at = (min: number): Date => new Date(T0 + min * 60_000)
const probe = (i: number, min: number) =>
  classified({ namespace: 'shop', name: 'api-6f7d8c9b5-abcde', workload: 'api', reason: 'Unhealthy', message: `Readiness probe failed: HTTP probe failed with statuscode: 50${i}`, severity: 'warning', category: 'probe', at: at(min), inputId: `probe-${i}` })

eachBackend(t, 'a batch with duplicates and several occurrences of one problem, in shuffled order', async (t, backend) => {
  const db = await openMigrated(backend)
  t.teardown(() => db.close())
  const occurrences = [probe(1, 0), probe(2, 30), probe(3, 10)]
  const latest = occurrences[1]
  if (latest === undefined) throw new Error('fixture')
  const batch = [
    alertReply(latest, 'sent', at(31)),
    occurrences[2],
    alertReply(occurrences[0] ?? latest, 'suppressed', at(1)),
    latest,
    recoveryReply(latest, 'failed', at(32)),
    occurrences[0],
    latest, // a redelivery inside the same batch
    recoveryReply(occurrences[2] ?? latest, 'planned', at(11)),
  ].map((e) => toRecord(e ?? latest, new Date(T0)))
  const inserted = await db.transaction((tx) => writeRecords(tx, batch, { outbox: true }))
  t.same(inserted, [true, true, true, true, true, true, false, true], 'only the in-batch duplicate is reported as such')
  const problem = await db.query<Record<string, unknown>>(
    `SELECT occurrences, message, alerts_sent, last_alert_outcome, last_recovery_outcome,
       first_seen = $1::timestamptz AS first_ok, last_seen = $2::timestamptz AS last_ok FROM persist_problems`,
    [at(0).toISOString(), at(30).toISOString()],
  )
  t.same(problem.rows, [{ occurrences: 3, message: 'Readiness probe failed: HTTP probe failed with statuscode: 502', alerts_sent: 1, last_alert_outcome: 'sent', last_recovery_outcome: 'failed', first_ok: true, last_ok: true }], 'newest occurrence and newest replies win')
  const counts = await db.query<{ bucket: string; count: number }>("SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI') AS bucket, count FROM persist_event_counts ORDER BY bucket")
  t.same(counts.rows, [{ bucket: '08:00', count: 3 }], 'three warnings in the 08:00 bucket')
  const outbox = await db.query<{ n: number; ordered: boolean }>('SELECT count(*)::int AS n, bool_and(event_seq IS NOT NULL) AS ordered FROM persist_outbox')
  t.same(outbox.rows, [{ n: 7, ordered: true }], 'one outbox row per new event')
  const again = await db.transaction((tx) => writeRecords(tx, batch, { outbox: true }))
  t.same(again, Array(8).fill(false), 'the whole batch redelivered: nothing new')
  const after = await db.query<{ occurrences: number }>('SELECT occurrences FROM persist_problems')
  t.same(after.rows, [{ occurrences: 3 }])
})

eachBackend(t, 'a batch of classified events only: one statement without a transaction, projections per key', async (t, backend) => {
  const db = await openMigrated(backend)
  t.teardown(() => db.close())
  const started = classified({ namespace: 'shop', name: 'api-6f7d8c9b5-abcde', workload: 'api', reason: 'Started', message: 'Started container app', severity: 'info', category: 'lifecycle', at: at(5), inputId: 'started' })
  // Occurrences of one problem across two hour buckets (08:xx and 09:xx), in shuffled order.
  const events = [probe(1, 70), probe(2, 20), started, probe(3, 95), probe(4, 40), probe(2, 20)]
  const batch = events.map((e) => toRecord(e, new Date(T0)))
  t.equal(needsTransaction(batch), false, 'no replies: no transaction needed')
  t.equal(needsTransaction([...batch, toRecord(alertReply(probe(1, 70), 'sent', at(71)), new Date(T0))]), true, 'a reply needs one')
  const inserted = await writeRecords(db, batch, { outbox: true })
  t.same(inserted, [true, true, true, true, true, false], 'the in-batch redelivery is the duplicate')
  const problems = await db.query<Record<string, unknown>>(
    `SELECT occurrences, message, first_seen = $1::timestamptz AS first_ok, last_seen = $2::timestamptz AS last_ok FROM persist_problems`,
    [at(20).toISOString(), at(95).toISOString()],
  )
  t.same(problems.rows, [{ occurrences: 4, message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', first_ok: true, last_ok: true }], 'one problem row: the info event makes none, the newest occurrence wins')
  const counts = await db.query<{ bucket: string; category: string; severity: string; count: number }>(
    "SELECT to_char(bucket AT TIME ZONE 'UTC', 'HH24:MI') AS bucket, category, severity, count FROM persist_event_counts ORDER BY bucket, category",
  )
  t.same(
    counts.rows,
    [
      { bucket: '08:00', category: 'lifecycle', severity: 'info', count: 1 },
      { bucket: '08:00', category: 'probe', severity: 'warning', count: 2 },
      { bucket: '09:00', category: 'probe', severity: 'warning', count: 2 },
    ],
    'counted per hour bucket, category and severity',
  )
  const view = await db.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM pod_events_view GROUP BY status ORDER BY status')
  t.same(view.rows, [{ status: 'NORMAL', n: 1 }, { status: 'WARNING', n: 4 }], 'one pod_events_view row per new classified event')
  const outbox = await db.query<{ n: number; linked: number }>(
    'SELECT count(*)::int AS n, count(e.seq)::int AS linked FROM persist_outbox o LEFT JOIN persist_events e ON e.seq = o.event_seq',
  )
  t.same(outbox.rows, [{ n: 5, linked: 5 }], 'one outbox row per new event, pointing at it')
  t.same(await writeRecords(db, batch, { outbox: true }), Array(6).fill(false), 'redelivered: nothing new')
  const after = await db.query<{ occurrences: number; n: number }>('SELECT occurrences, (SELECT sum(count)::int FROM persist_event_counts) AS n FROM persist_problems')
  t.same(after.rows, [{ occurrences: 4, n: 5 }], 'a redelivery changes no projection')
})
