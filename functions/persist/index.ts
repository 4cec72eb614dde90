// persist's public surface: the event store, the handler, the query API, the dashboard and the archive.
import express, { type Request, type Response, type Router } from 'express'
import type { Logger } from 'pino'
import { parseHttpEvent } from '../../shared/cloudevent.js'
import { lazyDatabase, migrate } from '../../shared/db.js'
import type { HostServices, ReflexFunction } from '../../shared/host.js'
import { mountApi } from './api.js'
import { OutboxRelay, kafkaPublisher } from './archive.js'
import type { PersistConfig } from './config.js'
import { loadDashboard, mountDashboard } from './dashboard.js'
import { EventStore } from './event-store.js'
import { handle } from './handler.js'
import { persistMetrics, type PersistMetrics } from './metrics.js'
import { loadMigrations } from './migrations.js'
import { Retention } from './retention.js'

export { handle } from './handler.js'
export { loadConfig } from './config.js'
export { toRecord, toJsonEvent } from './record.js'
export { EventStore } from './event-store.js'
export { loadMigrations } from './migrations.js'
export { openApiDocument } from './openapi.js'
export { listEvents, countEvents, lastEventSeq, getEvent, listPodEvents, listProblems, stats, listDeadLetters } from './store-read.js'
export { parseEventsQuery } from './query-params.js'
export { matchesFilter } from './record-filter.js'
export { OutboxRelay, kafkaPublisher } from './archive.js'
export { loadDashboard, mountDashboard } from './dashboard.js'
export type { DashboardMount } from './dashboard.js'
export type { PersistConfig } from './config.js'
export type { PersistDeps, PersistContext } from './handler.js'
export type { EventRecord } from './record.js'
export type { StoredEvent, Problem, PodEvent, Stats, PageOf } from './store-read.js'
export type { EventFilter } from './query-params.js'

export interface PersistParts {
  readonly store: EventStore
  readonly log: Logger
  readonly relay?: OutboxRelay
  readonly now?: () => number
  /** Dashboard assets (loadDashboard()); the dashboard is not served without them. */
  readonly dashboard?: Awaited<ReturnType<typeof loadDashboard>>
}

type PersistSettings = Pick<PersistConfig, 'apiToken' | 'problemOpenHours' | 'bodyLimitBytes' | 'retentionDays' | 'pruneIntervalSeconds'>

/** Builds persist over an opened, migrated store. Starts the prune timer and the archive relay; close() stops them. */
export function createPersist(config: Readonly<PersistSettings>, parts: PersistParts): ReflexFunction {
  const { store, log, relay } = parts
  const now = parts.now ?? Date.now
  let metrics: PersistMetrics | undefined
  const retention = new Retention({ store, log, retentionDays: config.retentionDays, intervalMs: config.pruneIntervalSeconds * 1000, now })
  retention.start()
  relay?.onRefused((n) => metrics?.archiveRefused.inc(n))
  relay?.start()
  const deps = { store, now, metrics: () => metrics, ...(relay === undefined ? {} : { onStored: () => relay.poke() }) }

  const deadLetter = async (req: Request, res: Response): Promise<void> => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
    const event = parseHttpEvent(req.headers, body)
    const code = typeof event.knativeerrorcode === 'string' ? event.knativeerrorcode : 'unknown'
    metrics?.deadLettered.inc({ code })
    const isNew = await store.appendDeadLetter(event)
    log.warn({ source: event.source, id: event.id, type: event.type, dest: event.knativeerrordest, code, duplicate: !isNew }, 'dead-lettered event stored')
    res.status(202).end()
  }

  return {
    name: 'persist',
    handle: (event, ctx) => handle(event, { ...ctx, deps }),
    routes(router: Router, host: HostServices) {
      metrics = persistMetrics(host.metrics.registry)
      router.post('/dead-letter', express.raw({ type: () => true, limit: config.bodyLimitBytes }), deadLetter)
      mountApi(router, { db: store.db, apiToken: config.apiToken, problemOpenHours: config.problemOpenHours, now })
      if (parts.dashboard !== undefined) mountDashboard(router, parts.dashboard)
    },
    ready: () => store.ping(),
    async close() {
      await retention.stop()
      await store.drain()
      await relay?.stop()
      await store.db.close()
    },
  }
}

/** Opens the database (PostgreSQL or PGlite), runs persist's migrations, and wires the Kafka archive when configured. */
export async function openStore(config: Readonly<PersistConfig>, log: Logger): Promise<{ store: EventStore; relay: OutboxRelay | undefined }> {
  const migrations = await loadMigrations()
  // Opened on first use and warmed in the background: start-up waits for neither the driver nor the
  // migrations (readiness and the first event do), and a database that is down answers 503 until it is back.
  const db = lazyDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, async (opened) => {
    const applied = await migrate(opened, 'persist', migrations)
    if (applied > 0) log.info({ applied, backend: opened.kind }, 'persist migrations applied')
  })
  db.warm()
  const archive = config.archiveTopic !== undefined && config.kafkaBrokers.length > 0
  const store = new EventStore(db, { groupCommitMs: config.groupCommitMs, groupCommitMax: config.groupCommitMax, outbox: archive })
  const relay =
    archive && config.archiveTopic !== undefined
      ? new OutboxRelay({ db, log, intervalMs: config.relayIntervalMs, publish: kafkaPublisher({ brokers: config.kafkaBrokers, topic: config.archiveTopic, log }) })
      : undefined
  return { store, relay }
}

/** What `kube-reflex serve persist` runs: config from the environment, validated up front. */
export async function fromEnv(env: Readonly<Record<string, string | undefined>>, log: Logger): Promise<ReflexFunction> {
  const { loadConfig } = await import('./config.js')
  const config = loadConfig(env)
  const dashboard = await loadDashboard()
  const { store, relay } = await openStore(config, log)
  return createPersist(config, { store, log, dashboard, ...(relay === undefined ? {} : { relay }) })
}
