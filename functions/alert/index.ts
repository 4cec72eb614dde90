// alert's public surface: the pure handler, its config, and the function the host runs.
import type { Logger } from 'pino'
import type { Env } from '../../shared/config.js'
import { lazyDatabase, type Database } from '../../shared/db.js'
import type { ReflexFunction } from '../../shared/host.js'
import { silentLogger } from '../../shared/logger.js'
import type { AlertConfig } from './config.js'
import { Dispatcher } from './dispatcher.js'
import { handle, type AlertDeps } from './handler.js'
import { postJson } from './http-delivery.js'
import { buildMessage } from './message.js'
import { alertMetrics, type AlertMetrics } from './metrics.js'
import { createSink, type Sink, type Transport } from './sinks/index.js'
import type { LookupFn } from './ssrf.js'
import { AlertStore, type MessageBuilder } from './store.js'

export { handle, toReply } from './handler.js'
export { loadConfig, PAGERDUTY_EVENTS_URL } from './config.js'
export { parseRouting, loadRoutesFile, matchRoutes, parseDuration, RoutesError } from './routing.js'
export { subjectOf } from './subject.js'
export { parseAllowList, isAllowed, isBlockedAddress, guardedLookup, BlockedDestinationError } from './ssrf.js'
export { postJson, parseRetryAfter } from './http-delivery.js'
export { slackPayload, teamsPayload, pagerdutyEvents, webhookBody, signedRequest } from './sinks/index.js'
export { AlertStore, MIGRATIONS } from './store.js'
export type { AlertConfig } from './config.js'
export type { AlertDeps, AlertContext, AlertReplyData } from './handler.js'
export type { Route, Routing, SinkSpec } from './routing.js'
export type { AlertSubject } from './subject.js'
export type { AlertMessage, DigestMessage, OutboundMessage } from './message.js'
export type { DeliveryOutcome } from './http-delivery.js'
export type { Sink, Transport } from './sinks/index.js'

export interface AlertFunction extends ReflexFunction {
  close(): Promise<void>
  /** One round of background work: digests for rate-limited sinks, resolution notices. */
  flush(): Promise<void>
  readonly metrics: AlertMetrics
}

export interface AlertOverrides {
  readonly log?: Logger
  /** An open database (tests share one between two instances); opened from the config otherwise. */
  readonly db?: Database
  readonly now?: () => number
  /** Replaces the HTTP transport (the SSRF guard lives in the default one). */
  readonly transport?: Transport
  /** DNS resolver behind the SSRF guard (tests simulate answers). */
  readonly resolver?: LookupFn
  /** Run flush() every flushIntervalMs in the background (what `serve` does). Default false. */
  readonly background?: boolean
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Builds alert from its config; opens (and migrates) its state. */
export async function createAlert(config: Readonly<AlertConfig>, overrides: AlertOverrides = {}): Promise<AlertFunction> {
  const log = overrides.log ?? silentLogger
  const now = overrides.now ?? Date.now
  const ownDb = overrides.db === undefined
  let db: Database
  let store: AlertStore
  if (overrides.db === undefined) {
    // Opened on first use and warmed in the background: start-up does not wait for the driver, the pool or
    // the migrations (readiness does), and a database that is down answers 503 until it is back.
    const lazy = lazyDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, (opened) => AlertStore.migrate(opened))
    lazy.warm()
    db = lazy
    store = new AlertStore(db)
  } else {
    db = overrides.db
    store = await AlertStore.open(db)
  }
  const transport: Transport =
    overrides.transport ??
    ((url, body, headers, signal) =>
      postJson(url, body, headers, { allow: config.allow, timeoutMs: config.timeoutMs, ...(overrides.resolver === undefined ? {} : { resolver: overrides.resolver }), ...(signal === undefined ? {} : { signal }) }))
  // Webhook signatures carry the wall-clock send time (receivers check freshness), never the injected clock.
  const sinks = new Map<string, Sink>()
  for (const spec of config.routing.sinks.values()) sinks.set(spec.name, createSink(spec, transport, log.child({ sink: spec.name }), Date.now))
  const metrics = alertMetrics()
  const dispatcher = new Dispatcher(store, sinks, metrics, log, { leaseMs: config.leaseMs, now })
  const build: MessageBuilder = (b) => buildMessage({ ...b, dashboard: config.routing.dashboardUrl, now: now() })
  const deps: AlertDeps = { store, dispatcher, routing: config.routing, metrics, build, now, claimWaitMs: config.claimWaitMs, sleep: overrides.sleep ?? sleep }
  const stop = new AbortController()

  const flush = async (): Promise<void> => {
    await dispatcher.flushDigests(stop.signal)
    await dispatcher.sweepResolutions(config.routing.routes, build, stop.signal)
  }

  // Background rounds chained with setTimeout (never overlapping) and unref'd: they must not keep the
  // process alive, and a scaled-to-zero replica simply catches up on its next start.
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> = Promise.resolve()
  const schedule = (): void => {
    if (stop.signal.aborted) return
    timer = setTimeout(() => {
      running = flush()
        .catch((err: unknown) => log.warn({ err }, 'alert background round failed; will retry'))
        .finally(schedule)
    }, config.flushIntervalMs)
    timer.unref()
  }
  if (overrides.background === true) schedule()

  return {
    name: 'alert',
    metrics,
    handle: (event, ctx) => handle(event, { ...ctx, deps }),
    // Only the metrics registry is needed from the host: no routes, so no express at start (≈ 5 MiB idle).
    attach(host) {
      metrics.attach(host.metrics.registry)
    },
    ready: () => store.ping(),
    flush,
    async close() {
      stop.abort()
      clearTimeout(timer)
      await running
      if (ownDb) await db.close()
    },
  }
}

/** What `kube-reflex serve alert` runs: config from the environment, validated up front. */
export async function fromEnv(env: Env, log: Logger): Promise<ReflexFunction> {
  const { loadConfig } = await import('./config.js')
  const config = loadConfig(env)
  log.info(
    { sinks: [...config.routing.sinks.values()].map((s) => ({ name: s.name, type: s.type })), routes: config.routing.routes.map((r) => r.name), store: config.databaseUrl === undefined ? 'pglite' : 'postgres' },
    'alert configured',
  )
  return createAlert(config, { log, background: true })
}
