// `kube-reflex dev`: the whole pipeline on one machine. Every function that exists runs in-process behind
// one HTTP host (as `serve all` does: POST /classify, /alert, /auto-recover, /persist), the local broker
// reads the same Broker and Trigger manifests as the cluster, and a source feeds it: a replay file (the
// bundled demo scenario by default), a live cluster (ApiServerSource emulation) or Kafka (KafkaSource
// emulation).
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Command, CommandIO } from '../io.js'
import { UsageError, portFlag } from '../io.js'
import { FUNCTION_NAMES, createFunction, type FunctionName } from '../registry.js'
import type { Summary } from '../../broker/summary.js'

export const DEV_HELP = `Usage: kube-reflex dev [--replay FILE | --kubeconfig PATH | --kafka BROKERS --topic T] [options]

Runs every available function behind a local Knative-style broker built from
triggers/*.yaml and knative/base/broker.yaml. Without a source option, replays
the bundled demo scenario (scenarios/demo.ndjson).

Sources:
      --replay <file>        NDJSON: CloudEvents (JSON format) or bare Kubernetes objects
      --rate <n>             replay at most n events per second
      --kubeconfig <path>    watch a live cluster (v1 Events, Pods, apps/v1 Deployments)
      --namespace <ns>       only this namespace (live cluster)
      --kafka <brokers>      consume a Kafka topic (comma-separated bootstrap servers)
      --topic <topic>        Kafka topic
      --group <group>        Kafka consumer group (default: kube-reflex-dev)

Options:
      --once                 stop when the input is drained (replay; Kafka: caught up with the
                             topic's end at start) and every event is delivered
      --json                 print the summary as JSON on stdout at the end (logs on stderr)
      --data-dir <dir>       embedded database and broker queue (default: $KUBE_REFLEX_DATA_DIR or .kube-reflex)
  -p, --port <port>          port of the functions' host (default: $PORT or 8080, any free port if taken)
      --http-delivery        deliver to this process's functions over loopback HTTP, as on a cluster
                             (default: in-process, through the same host code; other subscribers
                             always get HTTP)
      --triggers <dir>       Trigger manifests (default: the package's triggers/)
      --broker <file>        Broker manifest (default: the package's knative/base/broker.yaml)
  -h, --help                 show this help

Environment:
  DATABASE_URL               PostgreSQL for the functions' state (default: embedded PGlite in --data-dir).
                             When it is unreachable at start, dev waits and retries with a message every
                             attempt, up to DEV_DATABASE_WAIT_SECONDS (default 60, 0 = fail at once).

Exit status: 0 when everything was delivered, 1 when events were dead-lettered or errors occurred,
2 on a usage or configuration error, 3 when the database (DATABASE_URL) stayed unreachable at start.
`

/** Exit status when DATABASE_URL stays unreachable for the whole start-up wait (documented in the help). */
export const EXIT_DATABASE_UNAVAILABLE = 3

export type DevSource =
  | { readonly kind: 'replay'; readonly file: string; readonly rate: number | undefined }
  | { readonly kind: 'cluster'; readonly kubeconfig: string; readonly namespace: string | undefined }
  | { readonly kind: 'kafka'; readonly brokers: readonly string[]; readonly topic: string; readonly group: string }

export interface DevOptions {
  readonly source: DevSource
  readonly once: boolean
  readonly json: boolean
  readonly dataDir: string
  readonly port: number | undefined
  readonly triggersDir: string
  readonly brokerFile: string
  /** Deliver to in-process functions over HTTP too (default: in-process dispatch). */
  readonly httpDelivery: boolean
}

/** The package root (where package.json, triggers/ and scenarios/ live), from source or from dist/. */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from
  for (;;) {
    const pkg = path.join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'kube-reflex') return dir
      } catch {
        // not ours: keep looking
      }
    }
    const up = path.dirname(dir)
    if (up === dir) throw new Error('cannot find the kube-reflex package root')
    dir = up
  }
}

/** Pure: argv + env + cwd → options, or a UsageError naming what is wrong. */
export function parseDevOptions(argv: string[], env: Readonly<Record<string, string | undefined>>, cwd: string, root: string): DevOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      replay: { type: 'string' },
      rate: { type: 'string' },
      kubeconfig: { type: 'string' },
      namespace: { type: 'string' },
      kafka: { type: 'string' },
      topic: { type: 'string' },
      group: { type: 'string' },
      once: { type: 'boolean' },
      json: { type: 'boolean' },
      'data-dir': { type: 'string' },
      port: { type: 'string', short: 'p' },
      triggers: { type: 'string' },
      broker: { type: 'string' },
      'http-delivery': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help === true) return 'help'
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0] ?? ''}'`)
  const chosen = [values.replay, values.kubeconfig, values.kafka].filter((v) => v !== undefined)
  if (chosen.length > 1) throw new UsageError('choose one source: --replay, --kubeconfig or --kafka')
  let rate: number | undefined
  if (values.rate !== undefined) {
    rate = Number(values.rate)
    if (!Number.isFinite(rate) || rate <= 0) throw new UsageError(`--rate must be a positive number (got '${values.rate}')`)
    if (values.kubeconfig !== undefined || values.kafka !== undefined) throw new UsageError('--rate applies to a replay only')
  }
  if (values.once === true && values.kubeconfig !== undefined) throw new UsageError('--once needs an input that ends (--replay or --kafka); a live cluster runs until Ctrl-C')
  if (values.namespace !== undefined && values.kubeconfig === undefined) throw new UsageError('--namespace needs --kubeconfig')
  if ((values.topic !== undefined || values.group !== undefined) && values.kafka === undefined) throw new UsageError('--topic/--group need --kafka')
  let source: DevSource
  if (values.kubeconfig !== undefined) {
    source = { kind: 'cluster', kubeconfig: path.resolve(cwd, values.kubeconfig), namespace: values.namespace }
  } else if (values.kafka !== undefined) {
    if (values.topic === undefined) throw new UsageError('--kafka needs --topic')
    const brokers = values.kafka.split(',').map((b) => b.trim()).filter((b) => b !== '')
    if (brokers.length === 0) throw new UsageError('--kafka needs at least one host:port')
    source = { kind: 'kafka', brokers, topic: values.topic, group: values.group ?? 'kube-reflex-dev' }
  } else {
    source = { kind: 'replay', file: values.replay === undefined ? path.join(root, 'scenarios', 'demo.ndjson') : path.resolve(cwd, values.replay), rate }
  }
  const portText = values.port ?? env.PORT
  const port = portText !== undefined && portText !== '' ? portFlag(portText) : undefined
  const dataDir = path.resolve(cwd, values['data-dir'] ?? (env.KUBE_REFLEX_DATA_DIR !== undefined && env.KUBE_REFLEX_DATA_DIR !== '' ? env.KUBE_REFLEX_DATA_DIR : '.kube-reflex'))
  return {
    source,
    once: values.once === true,
    json: values.json === true,
    dataDir,
    port,
    triggersDir: values.triggers === undefined ? path.join(root, 'triggers') : path.resolve(cwd, values.triggers),
    brokerFile: values.broker === undefined ? path.join(root, 'knative', 'base', 'broker.yaml') : path.resolve(cwd, values.broker),
    httpDelivery: values['http-delivery'] === true,
  }
}

/** Why the run is not clean, or undefined when it is. */
export function failureReason(s: Summary): string | undefined {
  const reasons: string[] = []
  if (s.deadLettered > 0) reasons.push(`${s.deadLettered} event(s) dead-lettered`)
  if (s.errors > 0) reasons.push(`${s.errors} error(s)`)
  return reasons.length === 0 ? undefined : reasons.join(', ')
}

function serviceName(fn: FunctionName): string {
  return `kube-reflex-${fn}`
}

export const dev: Command = async (argv: string[], io: CommandIO) => {
  let options: DevOptions | 'help'
  try {
    options = parseDevOptions(argv, io.env, io.cwd, packageRoot())
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message) // parseArgs: unknown option
    throw err
  }
  if (options === 'help') {
    io.stdout.write(DEV_HELP)
    return 0
  }
  const opts = options
  const [
    { createLogger },
    { createHost },
    { hostMetrics, Registry },
    { LocalBroker },
    { loadBroker, loadTriggers, ManifestError },
    { destinationResolver },
    { summaryCounter },
    { ConfigError, LOG_LEVELS },
    { httpSender },
    { hostLookup, inProcessSender },
  ] = await Promise.all([
      import('../../shared/logger.js'),
      import('../../shared/host.js'),
      import('../../shared/metrics.js'),
      import('../../broker/broker.js'),
      import('../../broker/manifests.js'),
      import('../../broker/resolve.js'),
      import('../../broker/summary.js'),
      import('../../shared/config.js'),
      import('../../broker/http-sender.js'),
      import('../../broker/in-process-sender.js'),
    ])
  const levelText = io.env.LOG_LEVEL ?? (opts.json ? 'info' : 'warn')
  const level = (LOG_LEVELS as readonly string[]).includes(levelText) ? (levelText as (typeof LOG_LEVELS)[number]) : 'info'
  const log = createLogger({ level, name: 'dev' })
  const fail = (message: string, code = 2): number => {
    io.stderr.write(`kube-reflex dev: ${message}\n`)
    log.flush()
    return code
  }

  if (opts.source.kind === 'replay' && !existsSync(opts.source.file)) return fail(`replay file not found: ${opts.source.file}`)
  let brokerManifest
  let triggers
  try {
    triggers = await loadTriggers(opts.triggersDir)
    const brokerNames = new Set(triggers.map((t) => t.broker))
    brokerManifest = await loadBroker(opts.brokerFile, brokerNames.size === 1 ? [...brokerNames][0] : undefined)
  } catch (err) {
    if (err instanceof ManifestError) return fail(err.message)
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') return fail(`cannot read manifests: ${err.message}`)
    throw err
  }

  // Functions: every one that exists and that a Trigger or the dead-letter sink points at; the pipeline
  // grows as the others land.
  const referenced = new Set([...triggers.map((t) => t.subscriber.ref?.name), ...triggers.map((t) => t.delivery?.deadLetterSink?.ref?.name), brokerManifest.delivery?.deadLetterSink?.ref?.name])
  const fnEnv = { ...io.env, KUBE_REFLEX_DATA_DIR: opts.dataDir, RECOVERY_MODE: io.env.RECOVERY_MODE ?? 'dry-run' }
  const functions: { name: FunctionName; fn: Awaited<ReturnType<typeof createFunction>> }[] = []
  // PostgreSQL down at start (a restart, a pod not ready yet) is transient: dev waits for it below, with a
  // message on every attempt, before any source is read, so nothing is taken in meanwhile. Past the wait:
  // a clear message and its own exit status.
  const waitRaw = io.env.DEV_DATABASE_WAIT_SECONDS ?? '60'
  const waitSeconds = /^\d+$/.test(waitRaw) ? Number(waitRaw) : Number.NaN
  if (!Number.isSafeInteger(waitSeconds)) return fail(`DEV_DATABASE_WAIT_SECONDS must be a whole number of seconds, got '${waitRaw}'`)
  for (const name of FUNCTION_NAMES) {
    if (!referenced.has(serviceName(name))) continue
    try {
      functions.push({ name, fn: await createFunction(name, fnEnv, log.child({ fn: name })) })
    } catch (err) {
      if (err instanceof Error && /not implemented yet/.test(err.message)) {
        log.warn({ function: name }, `function '${name}' is not available yet: its triggers are skipped`)
        continue
      }
      if (err instanceof ConfigError || (err instanceof Error && err.name === 'RulesError')) return fail(err.message)
      throw err
    }
  }
  // The functions open their database in the background (shared/db.ts lazyDatabase): wait here until each
  // one is ready, so that a database that is down at start is reported — with a message per attempt — and
  // not discovered event by event.
  const readiness = (): Promise<boolean[]> => Promise.all(functions.map(async ({ fn }) => (fn.ready === undefined ? true : fn.ready().catch(() => false))))
  if ((io.env.DATABASE_URL ?? '') !== '') {
    // Counted from the first attempt, not from the start: loading the functions is not waiting for the
    // database (on a loaded machine it took the whole of a short wait, and dev gave up without a retry).
    const waitUntil = Date.now() + waitSeconds * 1000
    for (let attempt = 1; ; attempt++) {
      const states = await readiness()
      if (states.every(Boolean)) break
      const left = waitUntil - Date.now()
      const stop = async (): Promise<number> => {
        for (const { fn } of functions) await fn.close?.().catch(() => undefined)
        log.flush()
        return EXIT_DATABASE_UNAVAILABLE
      }
      if (left <= 0) {
        io.stderr.write(`kube-reflex dev: the database (DATABASE_URL) is unreachable; gave up after ${waitSeconds}s (DEV_DATABASE_WAIT_SECONDS)\n`)
        return stop()
      }
      const delay = Math.min(left, Math.min(5000, 500 * 2 ** Math.min(attempt - 1, 4)))
      io.stderr.write(`kube-reflex dev: waiting for the database (DATABASE_URL): not answering; attempt ${attempt}, retrying in ${(delay / 1000).toFixed(1)}s (up to ${Math.ceil(left / 1000)}s more)\n`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay)
        io.stopSignal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true })
      })
      if (io.stopSignal.aborted) return stop()
    }
  } else {
    // The embedded database is created and migrated in the background as well (seconds on a fresh data
    // directory): take no input before it is ready, or the first events would wait out its creation and
    // input→stored latency would count it. A database that cannot open answers the events with 503 as before.
    await readiness()
  }
  const registry = new Registry()
  const metrics = hostMetrics(registry)
  const hostConfig = { port: opts.port ?? 8080, host: '127.0.0.1', bodyLimitBytes: 8 * 1024 * 1024, shutdownGraceMs: 5000 }
  let host = createHost({ config: hostConfig, log, mounts: functions.map(({ name, fn }) => ({ fn, path: `/${name}` })), metrics })
  try {
    await host.listen()
  } catch (err) {
    if (opts.port !== undefined || !(err instanceof Error && 'code' in err && err.code === 'EADDRINUSE')) throw err
    host = createHost({ config: { ...hostConfig, port: 0 }, log, mounts: functions.map(({ name, fn }) => ({ fn, path: `/${name}` })), metrics })
    await host.listen()
  }
  const addresses = new Map(functions.map(({ name }) => [serviceName(name), `${host.url}/${name}`]))
  const persistTriggers = new Set(triggers.filter((t) => t.subscriber.ref?.name === serviceName('persist')).map((t) => t.name))
  const counter = summaryCounter(persistTriggers)
  // Deliveries in flight per Trigger (each Trigger has its own slots and queue, so a subscriber that hangs
  // holds up only its own). One input fans out into several deliveries over three hops (classify, then alert,
  // auto-recover and persist, then their replies): when all Triggers shared 64 slots the later hops queued
  // behind new inputs, and at a steady 500 events/s of critical problems the queue grew without bound (p50
  // input→stored 1.9 s); with 128 shared the same replay was stored with p50 ≈ 40 ms (docs/BENCHMARKS.md).
  const concurrency = 128
  const http = httpSender(concurrency)
  const live = host
  const broker = await LocalBroker.start({
    concurrency,
    sender: opts.httpDelivery ? http : inProcessSender(hostLookup(host.url, (p) => live.inProcess(p)), http),
    broker: brokerManifest,
    triggers,
    resolve: destinationResolver(addresses),
    dataDir: path.join(opts.dataDir, 'broker'),
    log: log.child({ component: 'broker' }),
    registry,
    observer: counter,
  })
  if (broker.subscriptions.length === 0) log.warn('no trigger has a running subscriber: events are queued and not delivered')

  const { createSource } = await import('../../broker/sources/index.js')
  const stop = new AbortController()
  const onStop = (): void => stop.abort()
  io.stopSignal.addEventListener('abort', onStop, { once: true })
  const source = await createSource(opts.source, log.child({ component: 'source' }), opts.once)

  let view: NodeJS.Timeout | undefined
  let render = (): void => undefined
  if (!opts.json) {
    io.stdout.write(`kube-reflex dev: ${functions.map((f) => f.name).join(', ') || 'no functions'} on ${host.url}; source: ${source.name}\n`)
    if (functions.some((f) => f.name === 'persist')) io.stdout.write(`dashboard: ${host.url}/persist/\n`)
    let last = ''
    // One line per second while something changes; nothing while idle.
    render = (): void => {
      const s = counter.summary
      const cats = [...counter.categories.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([c, n]) => `${c} ${n}`).join(', ')
      const lag = counter.lastLagSeconds === undefined ? '-' : `${counter.lastLagSeconds.toFixed(3)}s`
      const line =
        `received ${s.received} | classified critical ${s.classified.critical} warning ${s.classified.warning} info ${s.classified.info}` +
        `${cats === '' ? '' : ` (${cats})`} | alerts sent ${s.alerts.sent} suppressed ${s.alerts.suppressed} failed ${s.alerts.failed}` +
        ` | recoveries planned ${s.recoveries.planned} performed ${s.recoveries.performed} skipped ${s.recoveries.skipped}` +
        ` | persisted ${s.persisted} | dead-lettered ${s.deadLettered} | queue ${broker.depth}`
      if (line === last) return
      last = line
      io.stdout.write(`${line} | lag ${lag}\n`)
    }
    view = setInterval(render, 1000)
    view.unref()
  }

  let sourceError: unknown
  log.info({ source: source.name, functions: functions.map((f) => f.name) }, 'functions ready; taking input')
  try {
    await source.run(broker, stop.signal)
  } catch (err) {
    sourceError = err
    log.error({ err }, 'source failed')
  }
  if (sourceError === undefined && !opts.once && !stop.signal.aborted) {
    // The input is drained (replay); keep serving the dashboard and the API until asked to stop.
    await Promise.race([broker.idle(), new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }))])
    render()
    if (!opts.json && !stop.signal.aborted) {
      const dashboard = functions.some((f) => f.name === 'persist') ? ` — dashboard: ${host.url}/persist/` : ''
      io.stdout.write(`all input delivered${dashboard}; Ctrl-C to stop\n`)
    }
    await new Promise<void>((resolve) => (stop.signal.aborted ? resolve() : stop.signal.addEventListener('abort', () => resolve(), { once: true })))
  }
  if (!stop.signal.aborted) await Promise.race([broker.idle(), new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }))])
  clearInterval(view)
  render()
  io.stopSignal.removeEventListener('abort', onStop)
  await broker.close()
  await host.close()
  for (let i = 0; i < source.stats.rejected; i++) counter.error()
  if (sourceError !== undefined) counter.error()
  const summary = counter.summary
  if (opts.json) io.stdout.write(`${JSON.stringify(summary)}\n`)
  else
    io.stdout.write(
      `done: received ${summary.received}, classified ${summary.classified.critical + summary.classified.warning + summary.classified.info}, alerts sent ${summary.alerts.sent}, recoveries planned ${summary.recoveries.planned}, persisted ${summary.persisted}, dead-lettered ${summary.deadLettered}, errors ${summary.errors}\n`,
    )
  log.flush()
  const reason = failureReason(summary)
  if (reason !== undefined) {
    io.stderr.write(`kube-reflex dev: ${reason}${sourceError instanceof Error ? ` (source: ${sourceError.message})` : ''}\n`)
    return 1
  }
  return 0
}
