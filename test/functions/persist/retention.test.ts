// Retention: the prune deletes what is older than the cutoff — events with their pod_events_view rows,
// stale problems, old count buckets, dead letters, sent outbox rows — and keeps everything newer.
import t from 'tap'
import { silentLogger } from '../../../shared/logger.js'
import { EventStore, toRecord } from '../../../functions/persist/index.js'
import { Retention } from '../../../functions/persist/retention.js'
import { eachBackend, openMigrated } from './backends.js'
import { history } from './fixtures.js'

// Each test opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const NOW = new Date('2026-11-27T12:00:00Z')

eachBackend(t, 'prune removes history older than the retention window, and only that', async (t, backend) => {
  const db = await openMigrated(backend)
  t.teardown(() => db.close())
  const store = new EventStore(db, { groupCommitMs: 1, groupCommitMax: 500, outbox: true })
  const { classified, replies } = history(120, NOW, 96) // four days of history
  const events = [...classified, ...replies]
  await Promise.all(events.map((e) => store.append(toRecord(e, NOW))))
  await db.query("UPDATE persist_outbox SET sent_at = now() - interval '2 days'")
  // Two rows Kafka refused for good (archive.ts): one set aside before the window, one inside it.
  const refused = await db.query<{ seq: string }>('SELECT seq::text AS seq FROM persist_outbox ORDER BY seq LIMIT 2')
  const [oldRefused, newRefused] = refused.rows.map((r) => r.seq)
  await db.query("UPDATE persist_outbox SET sent_at = NULL, refused_at = '2026-11-24T12:00:00Z', refused_reason = 'MESSAGE_TOO_LARGE' WHERE seq = $1::bigint", [oldRefused])
  await db.query("UPDATE persist_outbox SET sent_at = NULL, refused_at = '2026-11-26T12:00:00Z', refused_reason = 'MESSAGE_TOO_LARGE' WHERE seq = $1::bigint", [newRefused])
  const cutoff = new Date(NOW.getTime() - 2 * 86_400_000)
  const keep = events.filter((e) => {
    const d = e.data as { lastTime?: string }
    return new Date(e.type.endsWith('classified') ? (d.lastTime ?? '') : (e.time ?? '')) >= cutoff
  })
  t.ok(keep.length > 0 && keep.length < events.length, `${keep.length} of ${events.length} events are inside the window`)

  const retention = new Retention({ store, log: silentLogger, retentionDays: 2, intervalMs: 3_600_000, now: () => NOW.getTime() })
  await retention.runOnce()
  const n = async (sql: string): Promise<number> => Number((await db.query<{ n: number }>(sql)).rows[0]?.n)
  t.equal(await n('SELECT count(*)::int AS n FROM persist_events'), keep.length, 'events older than the cutoff are gone')
  t.equal(await n("SELECT count(*)::int AS n FROM persist_events WHERE occurred_at < '2026-11-25T12:00:00Z'"), 0)
  t.equal(await n('SELECT count(*)::int AS n FROM pod_events_view'), keep.filter((e) => e.type.endsWith('classified')).length, 'their pod_events_view rows went with them')
  t.equal(await n("SELECT count(*)::int AS n FROM persist_event_counts WHERE bucket < '2026-11-25T12:00:00Z'"), 0, 'old count buckets are gone')
  t.ok((await n('SELECT count(*)::int AS n FROM persist_event_counts')) > 0, 'recent buckets stay')
  t.equal(await n("SELECT count(*)::int AS n FROM persist_problems WHERE GREATEST(last_seen, last_alert_at, last_recovery_at) < '2026-11-25T12:00:00Z'"), 0, 'stale problems are gone')
  t.ok((await n('SELECT count(*)::int AS n FROM persist_problems')) > 0, 'recent problems stay')
  t.equal(await n('SELECT count(*)::int AS n FROM persist_outbox WHERE sent_at IS NOT NULL'), 0, 'sent outbox rows older than a day are gone')
  const left = await db.query<{ seq: string }>('SELECT seq::text AS seq FROM persist_outbox WHERE refused_at IS NOT NULL')
  t.same(left.rows.map((r) => r.seq), [newRefused], 'refused rows are kept as long as events: the one inside the window stays')
  await retention.runOnce()
  t.equal(await n('SELECT count(*)::int AS n FROM persist_events'), keep.length, 'a second prune is a no-op')
})
