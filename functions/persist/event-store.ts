// The event store as persist uses it: group-committed appends, dead letters, the periodic prune, and the
// read queries — over one Database handle (shared/db.ts), PostgreSQL or PGlite alike.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { databaseAnswers, dbError, type Database } from '../../shared/db.js'
import { ReflexError } from '../../shared/errors.js'
import { GroupCommit } from '../../shared/batch.js'
import { storableJson, type EventRecord } from './record.js'
import { needsTransaction, writeRecords } from './store-write.js'

export interface EventStoreOptions {
  readonly groupCommitMs: number
  readonly groupCommitMax: number
  /** Write outbox rows for the Kafka archive. */
  readonly outbox: boolean
}

export interface PruneResult {
  readonly events: number
  readonly deadLetters: number
  readonly problems: number
  readonly counts: number
  readonly outbox: number
}

// Deleting in slices keeps each statement short: the prune never holds locks long enough to stall writers.
const PRUNE_SLICE = 5000

export class EventStore {
  private readonly commits: GroupCommit<EventRecord, boolean>

  constructor(
    readonly db: Database,
    readonly options: EventStoreOptions,
  ) {
    this.commits = new GroupCommit<EventRecord, boolean>({
      windowMs: options.groupCommitMs,
      maxBatch: options.groupCommitMax,
      // A batch without alert/recovery replies is one statement (store-write.ts): no BEGIN/COMMIT round trips.
      commit: (records) =>
        needsTransaction(records)
          ? db.transaction((tx) => writeRecords(tx, records, { outbox: options.outbox }))
          : writeRecords(db, records, { outbox: options.outbox }),
      // A transient failure (database down) fails the whole batch with 503 at once; anything else may be one
      // bad record, so the batch is retried record by record and only that one fails.
      isolate: (err) => dbError(err, 'storing events').status !== 503,
    })
  }

  /** Resolves after the transaction holding this record commits: true if new, false if a duplicate. */
  async append(record: EventRecord): Promise<boolean> {
    try {
      return await this.commits.submit(record)
    } catch (err) {
      throw dbError(err, 'storing an event')
    }
  }

  get batchSizes(): readonly number[] {
    return this.commits.batchSizes
  }

  /** Stores an event the Broker could not deliver, with Knative's error extensions. True if new. */
  async appendDeadLetter(event: CloudEventV1): Promise<boolean> {
    const ext = (n: string): string | null => {
      const v = event[n]
      return typeof v === 'string' ? v : null
    }
    const json = storableJson(event) // a 400 for what can never be stored, before the database is asked
    try {
      const r = await this.db.query(
        `INSERT INTO persist_dead_letters (source, id, type, error_dest, error_code, error_data, event)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (source, id, error_dest) DO NOTHING`,
        [event.source, event.id, event.type, ext('knativeerrordest') ?? '', ext('knativeerrorcode'), ext('knativeerrordata'), json],
      )
      return r.rowCount > 0
    } catch (err) {
      throw dbError(err, 'storing a dead letter')
    }
  }

  ping(): Promise<boolean> {
    return databaseAnswers(this.db)
  }

  /** Deletes what is older than `before` (events with their pod_events_view rows, stale problems, counts, sent outbox rows). */
  async prune(before: Date): Promise<PruneResult> {
    const cutoff = before.toISOString()
    const slices = async (sql: string): Promise<number> => {
      let total = 0
      for (;;) {
        const r = await this.db.query(sql, [cutoff, PRUNE_SLICE])
        total += r.rowCount
        if (r.rowCount < PRUNE_SLICE) return total
      }
    }
    try {
      const events = await slices(
        'DELETE FROM persist_events WHERE seq IN (SELECT seq FROM persist_events WHERE occurred_at < $1::timestamptz ORDER BY occurred_at LIMIT $2)',
      )
      const deadLetters = await slices('DELETE FROM persist_dead_letters WHERE seq IN (SELECT seq FROM persist_dead_letters WHERE received_at < $1::timestamptz LIMIT $2)')
      const problems = await slices(
        `DELETE FROM persist_problems WHERE fingerprint IN (SELECT fingerprint FROM persist_problems
           WHERE GREATEST(last_seen, last_alert_at, last_recovery_at) < $1::timestamptz LIMIT $2)`,
      )
      const counts = (await this.db.query('DELETE FROM persist_event_counts WHERE bucket < $1::timestamptz', [cutoff])).rowCount
      // Sent outbox rows are only kept for a day, whatever the retention: they are a delivery log. Rows Kafka
      // refused for good say what the archive lacks: they are kept as long as events are.
      const outbox = (
        await this.db.query(
          `DELETE FROM persist_outbox WHERE (sent_at IS NOT NULL AND sent_at < GREATEST($1::timestamptz, now() - interval '1 day'))
             OR (refused_at IS NOT NULL AND refused_at < $1::timestamptz)`,
          [cutoff],
        )
      ).rowCount
      return { events, deadLetters, problems, counts, outbox }
    } catch (err) {
      throw dbError(err, 'pruning')
    }
  }

  /** Waits for pending group commits (shutdown). */
  drain(): Promise<void> {
    return this.commits.drain()
  }
}

export function isUnavailable(err: unknown): boolean {
  return err instanceof ReflexError && err.status === 503
}
