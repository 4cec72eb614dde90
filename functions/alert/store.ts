// alert's durable state (issue 5, "Noise control that survives restarts and scale-out"), in the database
// persist uses. Every decision is one transaction guarded by a primary key or a row lock, so replicas
// handling the same or related events at once agree:
//  - alert_events: one row per input (source, id). The INSERT … ON CONFLICT DO NOTHING decides which
//    replica takes the decision; a redelivery or a concurrent twin reads the stored decision instead.
//  - alert_groups: one row per (route, problem), locked FOR UPDATE while counting an occurrence.
//  - alert_notifications: the outbox. A notification is sent only by the replica that claimed it
//    (status pending → sending with a lease); a claim whose replica died is taken over once the lease
//    has expired. See docs/ALERT.md "Delivery guarantees" for the crash windows. An alert of a problem's new
//    episode is not claimed while the resolution notice of its previous episode to the same sink is unsettled.
//  - alert_sink_budget: a token bucket per sink, updated with one conditional UPDATE (row lock).
import type { Database, Migration, Queryable } from '../../shared/db.js'
import { databaseAnswers, dbError, migrate } from '../../shared/db.js'
import { GroupCommit } from '../../shared/batch.js'
import { deterministicId } from '../../shared/ids.js'
import type { AlertKind, AlertMessage, DigestMessage, OutboundMessage } from './message.js'
import type { RateLimit, Route } from './routing.js'
import { groupKey, type AlertSubject } from './subject.js'

// Applied in order, once, by shared/db.ts migrate() (under its advisory lock).
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'alert_events: one row per input (source, id)',
    sql: `CREATE TABLE IF NOT EXISTS alert_events (
      source text NOT NULL,
      id text NOT NULL,
      fingerprint text NOT NULL,
      received_at timestamptz NOT NULL,
      decisions jsonb NOT NULL,
      PRIMARY KEY (source, id)
      )`,
  },
  {
    version: 2,
    name: 'alert_groups: one row per (route, problem)',
    sql: `CREATE TABLE IF NOT EXISTS alert_groups (
      route text NOT NULL,
      group_key text NOT NULL,
      fingerprint text NOT NULL,
      status text NOT NULL,
      first_seen timestamptz NOT NULL,
      last_seen timestamptz NOT NULL,
      occurrences bigint NOT NULL,
      since_notified bigint NOT NULL,
      last_notified_at timestamptz,
      subject jsonb NOT NULL,
      PRIMARY KEY (route, group_key)
      )`,
  },
  {
    version: 3,
    name: 'alert_groups index on firing groups',
    sql: `CREATE INDEX IF NOT EXISTS alert_groups_firing ON alert_groups (route, last_seen) WHERE status = 'firing'`,
  },
  {
    version: 4,
    name: 'alert_notifications: the outbox',
    sql: `CREATE TABLE IF NOT EXISTS alert_notifications (
      id text PRIMARY KEY,
      sink text NOT NULL,
      route text NOT NULL,
      fingerprint text NOT NULL,
      kind text NOT NULL,
      payload jsonb NOT NULL,
      status text NOT NULL,
      claimed_by text,
      lease_until timestamptz,
      next_attempt_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      digest_id text,
      created_at timestamptz NOT NULL,
      sent_at timestamptz
      )`,
  },
  {
    version: 5,
    name: 'alert_notifications index by sink and status',
    sql: `CREATE INDEX IF NOT EXISTS alert_notifications_sink_status ON alert_notifications (sink, status, created_at)`,
  },
  {
    version: 6,
    name: 'alert_sink_budget: token bucket per sink',
    sql: `CREATE TABLE IF NOT EXISTS alert_sink_budget (
      sink text PRIMARY KEY,
      tokens double precision NOT NULL,
      refilled_at timestamptz NOT NULL
      )`,
  },
  {
    version: 7,
    name: 'alert_notifications index on unsettled resolution notices',
    sql: `CREATE INDEX IF NOT EXISTS alert_notifications_unsettled_resolutions ON alert_notifications (route, sink, fingerprint)
      WHERE kind = 'resolved' AND status IN ('pending', 'sending')`,
  },
  {
    version: 8,
    name: "alert_notifications.last_status: the sink's HTTP status of the last temporary failure",
    // A redelivery that comes while the row waits for its next attempt is answered from the row: 429 when
    // the sink asked to slow down (DESIGN.md "HTTP behaviour"), 503 when it is failing.
    sql: `ALTER TABLE alert_notifications ADD COLUMN IF NOT EXISTS last_status integer`,
  },
]

/**
 * SQL condition: `r` is a resolution notice of an earlier episode of notification `n`'s group (same route,
 * sink and group, an older `groupStartedAt`) that is not settled yet. An alert of a later episode waits for
 * it: on PagerDuty both carry the same dedup_key, so a resolve that arrived after the new episode's trigger
 * would close the re-opened incident, and the problem's later occurrences would be grouped away unpaged.
 * Pending and sending are the only unsettled states and a resolve moves between them only, so a claim that
 * finds none cannot overtake one: no lock is needed between replicas.
 */
const EARLIER_UNSETTLED_RESOLUTION = `r.kind = 'resolved' AND r.status IN ('pending', 'sending')
  AND r.route = n.route AND r.sink = n.sink AND r.fingerprint = n.fingerprint
  AND r.payload->'subject'->>'kind' = n.payload->'subject'->>'kind'
  AND (r.payload->>'groupStartedAt')::timestamptz < (n.payload->>'groupStartedAt')::timestamptz`

export type NotificationStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'queued' | 'digesting' | 'digested'

export interface RouteDecision {
  readonly route: string
  readonly action: 'notify' | 'suppress'
  readonly kind: AlertKind | null
  /** Why nothing was sent (grouping), for the reply. */
  readonly reason: string | null
  readonly occurrences: number
  readonly notifications: readonly { readonly id: string; readonly sink: string }[]
}

export interface EventDecision {
  /** True when this call took the decision (first delivery of the event anywhere). */
  readonly created: boolean
  readonly decisions: readonly RouteDecision[]
}

export interface NotificationRow {
  readonly id: string
  readonly sink: string
  readonly route: string
  readonly kind: string
  readonly status: NotificationStatus
  readonly payload: OutboundMessage
  readonly leaseUntil: number | null
  readonly nextAttemptAt: number | null
  readonly lastError: string | null
  /** The sink's HTTP status when the last attempt must be retried (429: it asked to slow down); null without one. */
  readonly lastStatus: number | null
}

export type MessageBuilder = (b: {
  id: string
  kind: AlertKind
  route: Route
  subject: AlertSubject
  occurrences: number
  since: AlertMessage['since']
  groupStartedAt: string
  quietMinutes: number | null
}) => AlertMessage

interface GroupRow {
  status: string
  first_seen: Date | string
  last_seen: Date | string
  occurrences: number | string
  since_notified: number | string
  last_notified_at: Date | string | null
}

/** One event to decide (AlertStore.decide). */
interface DecideItem {
  readonly input: { readonly source: string; readonly id: string }
  readonly subject: AlertSubject
  readonly routes: readonly Route[]
  readonly now: number
  readonly build: MessageBuilder
}

/** A group's state while a batch is decided: read once (locked), changed by each occurrence in order. */
interface GroupState {
  readonly route: string
  readonly key: string
  status: string
  firstSeen: number
  lastSeen: number
  occurrences: number
  sinceNotified: number
  lastNotifiedAt: number | null
  subject: AlertSubject
  changed: boolean
}

interface NotificationInsert {
  readonly id: string
  readonly sink: string
  readonly route: string
  readonly fingerprint: string
  readonly kind: string
  readonly payload: OutboundMessage
  readonly at: number
}

/** An episode of a group that an occurrence found over (quiet for the window) before any sweep resolved it. */
interface EndedEpisode {
  readonly route: Route
  readonly key: string
  readonly firstSeen: number
  readonly lastSeen: number
  readonly occurrences: number
  readonly now: number
  readonly build: MessageBuilder
}

/** The events' rows were written by someone else meanwhile (a twin on another replica): decide again. */
class Raced extends Error {
  constructor() {
    super('alert event decided concurrently')
  }
}

const ms = (v: Date | string | null): number | null => (v === null ? null : v instanceof Date ? v.getTime() : Date.parse(v))
const iso = (t: number): string => new Date(t).toISOString()

export function notificationId(source: string, id: string, route: string, sink: string): string {
  return deterministicId('kube-reflex-alert-notification', source, id, route, sink)
}

/**
 * An episode's resolution notices, one per sink of the route. The ids depend on the episode only, so the
 * background sweep and an occurrence that finds the episode over record the same rows.
 */
function resolutionNotices(route: Route, key: string, subject: AlertSubject, episode: { firstSeen: number; lastSeen: number; occurrences: number }, now: number, build: MessageBuilder): NotificationInsert[] {
  return route.sinks.map((sink) => {
    const id = deterministicId('kube-reflex-alert-resolved', route.name, key, iso(episode.firstSeen), sink)
    const payload = build({
      id,
      kind: 'resolved',
      route,
      subject,
      occurrences: episode.occurrences,
      since: null,
      groupStartedAt: iso(episode.firstSeen),
      quietMinutes: Math.max(1, Math.round((now - episode.lastSeen) / 60_000)),
    })
    return { id, sink, route: route.name, fingerprint: subject.fingerprint, kind: 'resolved', payload, at: now }
  })
}

function rowOf(r: Record<string, unknown>): NotificationRow {
  return {
    id: String(r.id),
    sink: String(r.sink),
    route: String(r.route),
    kind: String(r.kind),
    status: String(r.status) as NotificationStatus,
    payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as OutboundMessage,
    leaseUntil: ms((r.lease_until ?? null) as Date | string | null),
    nextAttemptAt: ms((r.next_attempt_at ?? null) as Date | string | null),
    lastError: typeof r.last_error === 'string' ? r.last_error : null,
    lastStatus: r.last_status === null || r.last_status === undefined ? null : Number(r.last_status),
  }
}

export class AlertStore {
  /** Events arriving together are decided together on PGlite (shared/batch.ts); on PostgreSQL each has its own transaction. */
  private readonly decisions: GroupCommit<DecideItem, EventDecision> | undefined

  constructor(private readonly db: Database) {
    this.decisions = db.kind === 'pglite' ? new GroupCommit({ commit: (items) => this.run('recording alert decisions', () => this.decideBatch(items)), maxBatch: 64 }) : undefined
  }

  static async open(db: Database): Promise<AlertStore> {
    await AlertStore.migrate(db)
    return new AlertStore(db)
  }

  /** Applies alert's migrations (under the shared advisory lock). */
  static async migrate(db: Database): Promise<void> {
    try {
      await migrate(db, 'alert', MIGRATIONS)
    } catch (err) {
      throw dbError(err, 'migrating alert tables')
    }
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw dbError(err, what)
    }
  }

  /**
   * Records the event and, the first time it is seen, counts it into each route's group and decides
   * whether to notify, inserting the notifications (status pending) in the same transaction. On PGlite the
   * events arriving together are decided together (decideBatch); on PostgreSQL each has its own transaction.
   */
  decide(input: { source: string; id: string }, subject: AlertSubject, routes: readonly Route[], now: number, build: MessageBuilder): Promise<EventDecision> {
    const item: DecideItem = { input, subject, routes, now, build }
    return this.decisions !== undefined ? this.decisions.submit(item) : this.run('recording an alert decision', async () => (await this.decideBatch([item]))[0] as EventDecision)
  }

  /**
   * Decides a batch of events in one transaction with a fixed handful of statements, whatever its size:
   *  1. the events already decided (a redelivery, or a twin on another replica) — they get the stored decision;
   *  2. the (route, problem) groups of the others, created if new and locked (an upsert takes the row lock like
   *     SELECT … FOR UPDATE and, under READ COMMITTED, returns the latest committed version), in key order so
   *     that replicas locking overlapping groups cannot deadlock;
   *  3. the decisions, in arrival order in memory (a later event of the same group sees the earlier ones);
   *  4. one statement writing the event rows (the dedup: ON CONFLICT DO NOTHING), the groups' new state and
   *     the notifications. If an event row was written by someone else since step 1 (a twin committed while
   *     we waited for a group lock), the transaction is rolled back and the batch decided again: step 1 then
   *     finds that decision, so an occurrence is counted once.
   */
  private async decideBatch(items: readonly DecideItem[]): Promise<EventDecision[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.decideIn(tx, items))
      } catch (err) {
        if (!(err instanceof Raced) || attempt >= 3) throw err
      }
    }
  }

  private async decideIn(tx: Queryable, items: readonly DecideItem[]): Promise<EventDecision[]> {
    const eventKey = (i: DecideItem): string => `${i.input.source}\u0000${i.input.id}`
    const prior = await tx.query<{ source: string; id: string; decisions: unknown }>(
      `SELECT e.source, e.id, e.decisions FROM alert_events e JOIN unnest($1::text[], $2::text[]) AS u(source, id) ON e.source = u.source AND e.id = u.id`,
      [items.map((i) => i.input.source), items.map((i) => i.input.id)],
      'alert-prior-decisions',
    )
    const decided = new Map<string, RouteDecision[]>()
    for (const r of prior.rows) decided.set(`${r.source}\u0000${r.id}`, (typeof r.decisions === 'string' ? JSON.parse(r.decisions) : (r.decisions ?? [])) as RouteDecision[])
    // The events this batch decides: not decided before, first of their (source, id) in the batch.
    const fresh = new Set<DecideItem>()
    const inBatch = new Set<string>()
    for (const i of items) {
      const k = eventKey(i)
      if (decided.has(k) || inBatch.has(k)) continue
      inBatch.add(k)
      fresh.add(i)
    }
    const groups = await this.lockGroups(tx, [...fresh])
    const results: EventDecision[] = []
    const eventRows: { source: string; id: string; fingerprint: string; at: string; decisions: RouteDecision[] }[] = []
    const notifications: NotificationInsert[] = []
    const ended: EndedEpisode[] = []
    for (const i of items) {
      if (!fresh.has(i)) {
        // Decided before, or earlier in this batch (that decision is in `decided` by now).
        results.push({ created: false, decisions: decided.get(eventKey(i)) ?? [] })
        continue
      }
      const decisions = i.routes.map((route) => this.occurrence(groups, i, route, notifications, ended))
      decided.set(eventKey(i), decisions)
      eventRows.push({ source: i.input.source, id: i.input.id, fingerprint: i.subject.fingerprint, at: iso(i.now), decisions })
      results.push({ created: true, decisions })
    }
    if (ended.length > 0) notifications.push(...(await this.endedEpisodeResolutions(tx, ended)))
    if (eventRows.length > 0) await this.writeBatch(tx, eventRows, [...groups.values()].filter((g) => g.changed), notifications)
    return results
  }

  /** Creates-or-locks the groups the events count into and returns their state (step 2 of decideBatch). */
  private async lockGroups(tx: Queryable, items: readonly DecideItem[]): Promise<Map<string, GroupState>> {
    const wanted = new Map<string, { route: string; key: string; fingerprint: string; at: string; subject: AlertSubject }>()
    for (const i of items) {
      const key = groupKey(i.subject)
      for (const route of i.routes) {
        const k = `${route.name}\u0000${key}`
        if (!wanted.has(k)) wanted.set(k, { route: route.name, key, fingerprint: i.subject.fingerprint, at: iso(i.now), subject: i.subject })
      }
    }
    const groups = new Map<string, GroupState>()
    if (wanted.size === 0) return groups
    const rows = [...wanted.values()].sort((a, b) => (a.route === b.route ? (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) : a.route < b.route ? -1 : 1))
    const locked = await tx.query<GroupRow & { route: string; group_key: string }>(
      `INSERT INTO alert_groups AS g (route, group_key, fingerprint, status, first_seen, last_seen, occurrences, since_notified, last_notified_at, subject)
       SELECT route, group_key, fingerprint, 'new', at, at, 0, 0, NULL, subject::jsonb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) WITH ORDINALITY AS u(route, group_key, fingerprint, at, subject, ord)
         ORDER BY ord
       ON CONFLICT (route, group_key) DO UPDATE SET status = g.status
       RETURNING route, group_key, status, first_seen, last_seen, occurrences, since_notified, last_notified_at`,
      [rows.map((r) => r.route), rows.map((r) => r.key), rows.map((r) => r.fingerprint), rows.map((r) => r.at), rows.map((r) => JSON.stringify(r.subject))],
      'alert-lock-groups',
    )
    for (const g of locked.rows) {
      const k = `${g.route}\u0000${g.group_key}`
      const w = wanted.get(k)
      if (w === undefined) throw new Error('alert group upsert returned a group nobody asked for')
      const firstSeen = ms(g.first_seen) ?? 0
      groups.set(k, {
        route: g.route,
        key: g.group_key,
        status: g.status,
        firstSeen,
        lastSeen: ms(g.last_seen) ?? firstSeen,
        occurrences: Number(g.occurrences),
        sinceNotified: Number(g.since_notified),
        lastNotifiedAt: ms(g.last_notified_at),
        // Every group here is counted into below, which writes the subject of its latest occurrence.
        subject: w.subject,
        changed: false,
      })
    }
    if (groups.size !== wanted.size) throw new Error(`alert group upsert returned ${groups.size} rows for ${wanted.size} groups`)
    return groups
  }

  /** Counts one occurrence into its route's group and decides whether to notify (step 3 of decideBatch). */
  private occurrence(groups: Map<string, GroupState>, i: DecideItem, route: Route, notifications: NotificationInsert[], ended: EndedEpisode[]): RouteDecision {
    const { subject, now } = i
    const g = groups.get(`${route.name}\u0000${groupKey(subject)}`)
    if (g === undefined) throw new Error('alert group was not locked')
    const lastNotified = g.lastNotifiedAt
    g.changed = true
    g.subject = subject
    // A group that has been quiet for the whole window (or was resolved) is over: this is a new problem.
    const fresh = g.status !== 'firing' || lastNotified === null || now - g.lastSeen >= route.groupWindowMs
    let kind: AlertKind | null = null
    let since: AlertMessage['since'] = null
    let reason: string | null = null
    if (fresh) {
      // The previous episode went quiet but no background round resolved it (alert was scaled to zero): its
      // resolution is recorded now, with the new episode, and the claim sends it before the new alert.
      if (route.sendResolved && g.status === 'firing' && lastNotified !== null && now - g.lastSeen >= route.groupWindowMs) {
        ended.push({ route, key: g.key, firstSeen: g.firstSeen, lastSeen: g.lastSeen, occurrences: g.occurrences, now, build: i.build })
      }
      kind = 'firing'
      g.status = 'firing'
      g.firstSeen = now
      g.lastSeen = now
      g.occurrences = 1
      g.sinceNotified = 0
      g.lastNotifiedAt = now
    } else {
      g.occurrences += 1
      g.lastSeen = Math.max(g.lastSeen, now)
      const sinceCount = g.sinceNotified + 1
      if (now - lastNotified >= route.repeatIntervalMs) {
        kind = 'repeat'
        since = { occurrences: sinceCount, minutes: Math.max(1, Math.round((now - lastNotified) / 60_000)) }
        g.sinceNotified = 0
        g.lastNotifiedAt = now
      } else {
        reason = `grouped: same problem notified at ${iso(lastNotified)}, ${sinceCount} more occurrence${sinceCount === 1 ? '' : 's'} since`
        g.sinceNotified = sinceCount
      }
    }
    const occurrences = g.occurrences
    if (kind === null) return { route: route.name, action: 'suppress', kind: null, reason, occurrences, notifications: [] }
    const sent: { id: string; sink: string }[] = []
    for (const sink of route.sinks) {
      const id = notificationId(i.input.source, i.input.id, route.name, sink)
      const payload = i.build({ id, kind, route, subject, occurrences, since, groupStartedAt: iso(g.firstSeen), quietMinutes: null })
      notifications.push({ id, sink, route: route.name, fingerprint: subject.fingerprint, kind, payload, at: now })
      sent.push({ id, sink })
    }
    return { route: route.name, action: 'notify', kind, reason: null, occurrences, notifications: sent }
  }

  /**
   * The resolution notices of episodes that occurrences of this batch found over. Their subject is the one
   * the group row still holds (locked by this transaction, rewritten only by writeBatch): the last
   * occurrence of the old episode, not the one that starts the new.
   */
  private async endedEpisodeResolutions(tx: Queryable, ended: readonly EndedEpisode[]): Promise<NotificationInsert[]> {
    const r = await tx.query<{ route: string; group_key: string; subject: unknown }>(
      `SELECT g.route, g.group_key, g.subject FROM alert_groups g JOIN unnest($1::text[], $2::text[]) AS u(route, group_key) ON g.route = u.route AND g.group_key = u.group_key`,
      [ended.map((e) => e.route.name), ended.map((e) => e.key)],
    )
    const subjects = new Map(r.rows.map((g) => [`${g.route}\u0000${g.group_key}`, (typeof g.subject === 'string' ? JSON.parse(g.subject) : g.subject) as AlertSubject]))
    return ended.flatMap((e) => {
      const subject = subjects.get(`${e.route.name}\u0000${e.key}`)
      if (subject === undefined) throw new Error('alert group of an ended episode was not found')
      return resolutionNotices(e.route, e.key, subject, e, e.now, e.build)
    })
  }

  /** Step 4 of decideBatch: the event rows, the groups' new state and the notifications, in one statement. */
  private async writeBatch(
    tx: Queryable,
    events: readonly { source: string; id: string; fingerprint: string; at: string; decisions: RouteDecision[] }[],
    groups: readonly GroupState[],
    notifications: readonly NotificationInsert[],
  ): Promise<void> {
    const r = await tx.query<{ events: string | number }>(
      `WITH ev AS (
         INSERT INTO alert_events (source, id, fingerprint, received_at, decisions)
         SELECT source, id, fingerprint, at, decisions
           FROM ROWS FROM (unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]), jsonb_array_elements($5::jsonb)) AS u(source, id, fingerprint, at, decisions)
         ON CONFLICT (source, id) DO NOTHING RETURNING 1
       ), grp AS (
         UPDATE alert_groups AS g SET status = u.status, first_seen = u.first_seen, last_seen = u.last_seen, occurrences = u.occurrences,
           since_notified = u.since_notified, last_notified_at = u.last_notified_at, subject = u.subject
           FROM ROWS FROM (unnest($6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::bigint[], $13::timestamptz[]),
             jsonb_array_elements($14::jsonb)) AS u(route, group_key, status, first_seen, last_seen, occurrences, since_notified, last_notified_at, subject)
          WHERE g.route = u.route AND g.group_key = u.group_key
       ), note AS (
         INSERT INTO alert_notifications (id, sink, route, fingerprint, kind, payload, status, created_at)
         SELECT id, sink, route, fingerprint, kind, payload, 'pending', at
           FROM ROWS FROM (unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[]), jsonb_array_elements($21::jsonb))
             AS u(id, sink, route, fingerprint, kind, at, payload)
         ON CONFLICT (id) DO NOTHING
       )
       SELECT count(*) AS events FROM ev`,
      [
        events.map((e) => e.source),
        events.map((e) => e.id),
        events.map((e) => e.fingerprint),
        events.map((e) => e.at),
        JSON.stringify(events.map((e) => e.decisions)),
        groups.map((g) => g.route),
        groups.map((g) => g.key),
        groups.map((g) => g.status),
        groups.map((g) => iso(g.firstSeen)),
        groups.map((g) => iso(g.lastSeen)),
        groups.map((g) => g.occurrences),
        groups.map((g) => g.sinceNotified),
        groups.map((g) => (g.lastNotifiedAt === null ? null : iso(g.lastNotifiedAt))),
        JSON.stringify(groups.map((g) => g.subject)),
        notifications.map((n) => n.id),
        notifications.map((n) => n.sink),
        notifications.map((n) => n.route),
        notifications.map((n) => n.fingerprint),
        notifications.map((n) => n.kind),
        notifications.map((n) => iso(n.at)),
        JSON.stringify(notifications.map((n) => n.payload)),
      ],
      'alert-write-decisions',
    )
    if (Number(r.rows[0]?.events ?? 0) !== events.length) throw new Raced()
  }

  private async insertNotification(tx: Queryable, n: { id: string; sink: string; route: string; fingerprint: string; kind: string; payload: OutboundMessage }, now: number): Promise<void> {
    await tx.query(
      `INSERT INTO alert_notifications (id, sink, route, fingerprint, kind, payload, status, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', $7::timestamptz) ON CONFLICT (id) DO NOTHING`,
      [n.id, n.sink, n.route, n.fingerprint, n.kind, JSON.stringify(n.payload), iso(now)],
    )
  }

  /**
   * Takes the notification for sending if it is pending (and due) or its previous claim's lease has expired,
   * and, for an alert, no resolution notice of an earlier episode of its group to the same sink is unsettled
   * (see earlierResolutions).
   */
  claim(id: string, owner: string, now: number, leaseMs: number): Promise<NotificationRow | null> {
    return this.run('claiming a notification', async () => {
      const r = await this.db.query(
        `UPDATE alert_notifications AS n SET status = 'sending', claimed_by = $2, lease_until = $4::timestamptz, attempts = n.attempts + 1
         WHERE n.id = $1 AND ((n.status = 'pending' AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= $3::timestamptz))
                           OR (n.status = 'sending' AND n.lease_until < $3::timestamptz))
           AND (n.kind IN ('resolved', 'digest') OR NOT EXISTS (SELECT 1 FROM alert_notifications r WHERE ${EARLIER_UNSETTLED_RESOLUTION}))
         RETURNING n.id, n.sink, n.route, n.kind, n.status, n.payload, n.lease_until, n.next_attempt_at, n.last_error, n.last_status`,
        [id, owner, iso(now), iso(now + leaseMs)],
        'alert-claim',
      )
      const row = r.rows[0]
      return row === undefined ? null : rowOf(row)
    })
  }

  /**
   * The resolution notices of earlier episodes that hold an alert back (claim refuses it until they are
   * sent or failed), oldest first: the problem went quiet, was resolved, and is back — the "[resolved]" of
   * the old episode goes out before the new episode's first notification, never after it.
   */
  earlierResolutions(id: string): Promise<string[]> {
    return this.run('reading resolution notices that go first', async () => {
      const r = await this.db.query<{ id: string }>(
        `SELECT r.id FROM alert_notifications n JOIN alert_notifications r ON ${EARLIER_UNSETTLED_RESOLUTION}
         WHERE n.id = $1 AND n.kind NOT IN ('resolved', 'digest') ORDER BY r.created_at, r.id`,
        [id],
      )
      return r.rows.map((x) => x.id)
    })
  }

  get(ids: readonly string[]): Promise<NotificationRow[]> {
    if (ids.length === 0) return Promise.resolve([])
    return this.run('reading notifications', async () => {
      const r = await this.db.query('SELECT id, sink, route, kind, status, payload, lease_until, next_attempt_at, last_error, last_status FROM alert_notifications WHERE id = ANY($1::text[])', [ids])
      return r.rows.map(rowOf)
    })
  }

  markSent(id: string, now: number): Promise<void> {
    return this.run('recording a sent notification', async () => {
      await this.db.query(`UPDATE alert_notifications SET status = 'sent', sent_at = $2::timestamptz, lease_until = NULL, last_error = NULL, last_status = NULL WHERE id = $1`, [id, iso(now)], 'alert-mark-sent')
    })
  }

  markFailed(id: string, reason: string): Promise<void> {
    return this.run('recording a failed notification', async () => {
      await this.db.query(`UPDATE alert_notifications SET status = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1`, [id, reason])
    })
  }

  /**
   * Gives a claim back after a temporary failure; it is due again at `retryAt`. Only the claim's owner may.
   * `status` is the sink's answer (429, 5xx), null when there was none (timeout, network, own rate limit).
   */
  release(id: string, owner: string, reason: string, retryAt: number, status: number | null): Promise<void> {
    return this.run('releasing a notification', async () => {
      await this.db.query(
        `UPDATE alert_notifications SET status = 'pending', lease_until = NULL, next_attempt_at = $4::timestamptz, last_error = $3, last_status = $5
         WHERE id = $1 AND status = 'sending' AND claimed_by = $2`,
        [id, owner, reason, iso(retryAt), status],
      )
    })
  }

  /** Folds a claimed notification into its sink's next digest (rate limit reached): kept, not dropped. */
  queueForDigest(id: string): Promise<void> {
    return this.run('queueing a notification for the digest', async () => {
      await this.db.query(`UPDATE alert_notifications SET status = 'queued', lease_until = NULL, claimed_by = NULL WHERE id = $1`, [id])
    })
  }

  /** Takes one token from the sink's bucket; false when the sink is over its rate. */
  takeToken(sink: string, rate: RateLimit, now: number, q: Queryable = this.db): Promise<boolean> {
    return this.run('taking a rate-limit token', async () => {
      await q.query('INSERT INTO alert_sink_budget (sink, tokens, refilled_at) VALUES ($1, $2, $3::timestamptz) ON CONFLICT (sink) DO NOTHING', [sink, rate.burst, iso(now)])
      // Refill by elapsed time (never negative: replicas' clocks differ slightly), cap at the burst, take one.
      const r = await q.query(
        `UPDATE alert_sink_budget
           SET tokens = LEAST($2::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM ($3::timestamptz - refilled_at)))::float8 * $4::float8) - 1,
               refilled_at = GREATEST(refilled_at, $3::timestamptz)
         WHERE sink = $1 AND LEAST($2::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM ($3::timestamptz - refilled_at)))::float8 * $4::float8) >= 1
         RETURNING tokens`,
        [sink, rate.burst, iso(now), rate.perSecond],
      )
      return r.rowCount > 0
    })
  }

  /**
   * Claims up to `limit` queued notifications of a sink as one digest, if the sink has a token.
   * Returns the digest (already recorded as a claimed notification) or null.
   */
  claimDigest(sink: string, rate: RateLimit, owner: string, now: number, leaseMs: number, limit = 50): Promise<DigestMessage | null> {
    return this.run('claiming a digest', () =>
      this.db.transaction(async (tx) => {
        // A digest, once formed, keeps its id and its items until it is settled: one whose send must be retried
        // (the sink timed out, 429/5xx) or whose replica died mid-send (lease expired) is sent again as it was,
        // so the receiver sees the same webhook-id and drops the copy. Dissolving it and digesting the items
        // again under a new id notified twice when the first send had in fact arrived (chaos finding K2).
        const again = await tx.query<Record<string, unknown>>(
          `SELECT id, sink, route, kind, status, payload, lease_until, next_attempt_at, last_error, last_status FROM alert_notifications
           WHERE sink = $1 AND kind = 'digest'
             AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $2::timestamptz)) OR (status = 'sending' AND lease_until < $2::timestamptz))
           ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`,
          [sink, iso(now)],
        )
        const retry = again.rows[0]
        if (retry !== undefined) {
          if (!(await this.takeToken(sink, rate, now, tx))) return null
          const row = rowOf(retry)
          await tx.query(`UPDATE alert_notifications SET status = 'sending', claimed_by = $2, lease_until = $3::timestamptz, attempts = attempts + 1 WHERE id = $1`, [row.id, owner, iso(now + leaseMs)])
          return row.payload as DigestMessage
        }
        // Items of a digest that no longer exists (rows from before digests were kept) go back to the queue.
        await tx.query(
          `UPDATE alert_notifications AS n SET status = 'queued', digest_id = NULL, lease_until = NULL
           WHERE n.sink = $1 AND n.status = 'digesting' AND NOT EXISTS (SELECT 1 FROM alert_notifications d WHERE d.id = n.digest_id)`,
          [sink],
        )
        const queued = await tx.query<Record<string, unknown>>(
          `SELECT id, sink, route, kind, status, payload, lease_until, next_attempt_at, last_error, last_status FROM alert_notifications
           WHERE sink = $1 AND status = 'queued' ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [sink, limit],
        )
        const rows = queued.rows.map(rowOf)
        // Resolution notices are never digested (Dispatcher.send); one queued by an older version is sent on its own.
        const resolutions = rows.filter((r) => r.kind === 'resolved').map((r) => r.id)
        if (resolutions.length > 0) await tx.query(`UPDATE alert_notifications SET status = 'pending', next_attempt_at = NULL WHERE id = ANY($1::text[])`, [resolutions])
        const items = rows.filter((r) => r.kind !== 'resolved')
        if (items.length === 0) return null
        if (!(await this.takeToken(sink, rate, now, tx))) return null
        const ids = items.map((i) => i.id)
        const digest: DigestMessage = {
          id: deterministicId('kube-reflex-alert-digest', sink, ...ids),
          kind: 'digest',
          items: items.map((i) => i.payload).filter((p): p is AlertMessage => p.kind !== 'digest'),
          createdAt: iso(now),
        }
        await tx.query(
          `INSERT INTO alert_notifications (id, sink, route, fingerprint, kind, payload, status, claimed_by, lease_until, attempts, created_at)
           VALUES ($1, $2, '', '', 'digest', $3::jsonb, 'sending', $4, $5::timestamptz, 1, $6::timestamptz)
           ON CONFLICT (id) DO UPDATE SET status = 'sending', claimed_by = $4, lease_until = $5::timestamptz, attempts = alert_notifications.attempts + 1`,
          [digest.id, sink, JSON.stringify(digest), owner, iso(now + leaseMs), iso(now)],
        )
        await tx.query(`UPDATE alert_notifications SET status = 'digesting', digest_id = $2, lease_until = $3::timestamptz WHERE id = ANY($1::text[])`, [ids, digest.id, iso(now + leaseMs)])
        return digest
      }),
    )
  }

  /** Settles a digest: sent → its items are digested; retry → the same digest is sent again later; rejected → items failed. */
  settleDigest(digestId: string, outcome: 'sent' | 'retry' | 'failed', now: number, reason: string | null): Promise<void> {
    return this.run('settling a digest', () =>
      this.db.transaction(async (tx) => {
        if (outcome === 'sent') {
          await tx.query(`UPDATE alert_notifications SET status = 'sent', sent_at = $2::timestamptz, lease_until = NULL WHERE id = $1`, [digestId, iso(now)])
          await tx.query(`UPDATE alert_notifications SET status = 'digested', sent_at = $2::timestamptz, lease_until = NULL WHERE digest_id = $1 AND status = 'digesting'`, [digestId, iso(now)])
        } else if (outcome === 'retry') {
          // Kept as it is (same id, same items) and sent again by the next flush that has a token.
          await tx.query(`UPDATE alert_notifications SET status = 'pending', lease_until = NULL, next_attempt_at = NULL, last_error = $2 WHERE id = $1`, [digestId, reason])
        } else {
          await tx.query(`UPDATE alert_notifications SET status = 'failed', lease_until = NULL, last_error = $2 WHERE id = $1`, [digestId, reason])
          await tx.query(`UPDATE alert_notifications SET status = 'failed', lease_until = NULL, last_error = $2 WHERE digest_id = $1 AND status = 'digesting'`, [digestId, `digest rejected: ${reason ?? ''}`])
        }
      }),
    )
  }

  /**
   * Closes groups of a route that have been quiet for its group window and records their resolution
   * notices (pending). Returns the notification ids. Groups are taken with SKIP LOCKED: replicas sweeping
   * at the same time split the work instead of duplicating it.
   */
  resolveQuietGroups(route: Route, now: number, build: MessageBuilder, limit = 20): Promise<string[]> {
    return this.run('resolving quiet groups', () =>
      this.db.transaction(async (tx) => {
        const quiet = await tx.query<{ group_key: string; fingerprint: string; subject: unknown; first_seen: Date | string; last_seen: Date | string; occurrences: number | string }>(
          `SELECT group_key, fingerprint, subject, first_seen, last_seen, occurrences FROM alert_groups
           WHERE route = $1 AND status = 'firing' AND last_seen < $2::timestamptz ORDER BY last_seen LIMIT $3 FOR UPDATE SKIP LOCKED`,
          [route.name, iso(now - route.groupWindowMs), limit],
        )
        const ids: string[] = []
        for (const g of quiet.rows) {
          const subject = (typeof g.subject === 'string' ? JSON.parse(g.subject) : g.subject) as AlertSubject
          const firstSeen = ms(g.first_seen) ?? now
          const lastSeen = ms(g.last_seen) ?? now
          await tx.query(`UPDATE alert_groups SET status = 'resolved' WHERE route = $1 AND group_key = $2`, [route.name, g.group_key])
          for (const n of resolutionNotices(route, g.group_key, subject, { firstSeen, lastSeen, occurrences: Number(g.occurrences) }, now, build)) {
            await this.insertNotification(tx, n, now)
            ids.push(n.id)
          }
        }
        return ids
      }),
    )
  }

  /** Resolution notices still to (re)send: released after a temporary failure, or claimed by a replica that died. */
  dueResolutions(now: number, limit = 20): Promise<string[]> {
    return this.run('listing due resolution notices', async () => {
      const r = await this.db.query<{ id: string }>(
        `SELECT id FROM alert_notifications WHERE kind = 'resolved'
           AND ((status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1::timestamptz)) OR (status = 'sending' AND lease_until < $1::timestamptz))
         ORDER BY created_at LIMIT $2`,
        [iso(now), limit],
      )
      return r.rows.map((x) => x.id)
    })
  }

  ping(): Promise<boolean> {
    return databaseAnswers(this.db)
  }
}
