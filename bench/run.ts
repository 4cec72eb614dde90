// `npm run bench` / `npm run bench:smoke`: measures every available subject against the baselines in one
// invocation and writes bench/results/<stamp>.json (+ latest.json), the SVG chart and the results block
// of docs/BENCHMARKS.md. Benchmarks never fail on a number: the exit code only says whether the harness ran.
//
//   tsx bench/run.ts [--smoke] [--reps N] [--duration S] [--warmup S] [--connections C] [--idle MS]
//                    [--only id,id] [--scenarios pod-binary,…] [--soak 100000,1000000 [--soak-gc]] [--dist DIR] [--out DIR] [--chart FILE] [--docs FILE|--no-docs]
//                    [--startups N]
//                    [--dev-events N] [--dev-rate R] [--dev-paced-seconds S] [--dev-soak 10000,100000] [--dev-http-delivery]
//                    [--dev-persist-skip TYPE,…]
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { cpus, freemem, loadavg, totalmem, tmpdir, release } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import { lastOverFirst, round, scenarioName, soak, spread, type Round, type Settings, type SoakResult } from './harness.js'
import { apiServerEvent, crashLoopPod, devReplayNdjson, inputPayloads, toRequest, type DevWorkload, type Payload } from './payloads/index.js'
import { baseEnv, killAll, lastJsonLine, memoryOf, runToEnd } from './process.js'
import { discard, removeScratch, scratchPath } from './scratch.js'
import { persistTriggersWithout } from './dev-triggers.js'
import { startKubeTarget } from './kube-target.js'
import { parseOptions, usageError } from './command.js'
import { computeRatios, renderChart, renderMarkdown, type DevResult, type PostgresDurability, type PacedDevResult, type SubjectResult } from './report.js'
import { allSubjects, type Subject, type SubjectContext } from './subjects.js'
import { findPostgresBin, startServices } from '../scripts/test-services/index.mjs'
import { handle, createDeps, loadConfig } from '../functions/classify/index.js'
import { silentLogger } from '../shared/logger.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const log = (msg: string): void => {
  process.stderr.write(`[bench] ${msg}\n`)
}

const HELP = `Usage: npm run bench -- [options]      (npm run bench:smoke: the same with --smoke)

Measures every available subject against the baselines in one run and reports ratios: bench/results/,
docs/bench-chart.svg and the results block of docs/BENCHMARKS.md. Never fails on a number.
Set DATABASE_URL to add the PostgreSQL subjects (persist on that server and on a durable one it starts).

Options:
  --smoke                 1 repetition of 0.5 s runs, results in the temp directory (what CI runs)
  --reps <n>              repetitions per subject (3)
  --duration <s>          measured load per scenario (5)          --warmup <s>   load before it (2)
  --connections <c>       load connections (50)                    --idle <ms>    quiet time before idle RSS (1000)
  --startups <n>          extra cold starts per subject, interleaved (5)
  --only <ids>            subjects and parts to run, comma-separated (e.g. bare-http,classify,dev)
  --scenarios <names>     payload scenarios, comma-separated (e.g. pod-binary)
  --soak <counts>         classify's RSS after each cumulative event count (e.g. 100000,1000000; off)
  --soak-gc               with --soak: the same steps again in a classify started with --expose-gc, read
                          after two full GCs (heap kept vs garbage not yet collected; a diagnosis)
  --dev-events <n>        upper bound of dev's replay (20000)      --dev-rate <r>  paced replay rate (500)
  --dev-paced-seconds <s> length of the paced replay (10)          --dev-soak <counts>  dev's RSS steps (off)
  --dev-http-delivery     dev delivers over loopback HTTP (the A/B of in-process delivery)
  --dev-persist-skip <types>  a second dev run with persist's Trigger leaving out those types
  --dist <dir>            measure another build's dist/ (default: this checkout's)
  --out <dir>             results directory (bench/results)        --chart <file> (docs/bench-chart.svg)
  --docs <file> | --no-docs   the BENCHMARKS.md results block to rewrite, or none
  -h, --help              show this help

docs/BENCHMARKS.md explains the method and every measure.
`

const { values } = parseOptions('bench', () => parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    smoke: { type: 'boolean', default: false },
    reps: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    idle: { type: 'string' },
    only: { type: 'string' },
    scenarios: { type: 'string' },
    out: { type: 'string' },
    chart: { type: 'string' },
    docs: { type: 'string' },
    'no-docs': { type: 'boolean', default: false },
    'dev-events': { type: 'string' },
    'dev-rate': { type: 'string' },
    'dev-paced-seconds': { type: 'string' },
    'dev-soak': { type: 'string' },
    'dev-http-delivery': { type: 'boolean', default: false },
    'dev-persist-skip': { type: 'string' },
    soak: { type: 'string' },
    'soak-gc': { type: 'boolean', default: false },
    dist: { type: 'string' },
    startups: { type: 'string' },
  },
}))
if (values.help === true) {
  process.stdout.write(HELP)
  process.exit(0)
}
const smoke = values.smoke === true
const num = (v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) return usageError('bench', `not a non-negative number: ${v} (see --help)`)
  return n
}
const settings: Settings = {
  reps: num(values.reps, smoke ? 1 : 3),
  connections: num(values.connections, smoke ? 4 : 50),
  durationSec: num(values.duration, smoke ? 0.5 : 5),
  warmupSec: num(values.warmup, smoke ? 0.25 : 2),
  idleMs: num(values.idle, smoke ? 200 : 1000),
  startupTimeoutMs: 30_000,
}
// Extra cold starts per subject, taken in interleaved rounds (one spawn of every subject, then the next):
// a single spawn moves by ±30 % with scheduling, and a ratio of two of them by more.
const extraStartups = num(values.startups, smoke ? 1 : 5)
const devEvents = num(values['dev-events'], smoke ? 200 : 20_000)
const devRate = num(values['dev-rate'], 500)
const devPacedSeconds = num(values['dev-paced-seconds'], smoke ? 0.2 : 10)
const devSoakSteps = (values['dev-soak'] ?? '').split(',').map((x) => num(x.trim(), 0)).filter((x) => x > 0)
// A/B of the delivery path: loopback HTTP to the functions instead of the in-process dispatch.
const devExtraArgs = values['dev-http-delivery'] === true ? ['--http-delivery'] : []
// What storing fewer replies would buy: dev's Triggers with persist's filter narrowed (bench/dev-triggers.ts).
const devPersistSkip = values['dev-persist-skip']?.split(',').map((s) => s.trim()).filter((s) => s !== '')

/** A second configuration of dev measured beside the shipped one (--dev-persist-skip). */
interface DevVariant {
  readonly label: string
  readonly args: readonly string[]
}
// Smoke results are throwaway (CI): they go to the temp directory unless --out says otherwise.
const outDir = resolve(values.out ?? (smoke ? join(tmpdir(), 'kube-reflex-bench-smoke') : join(root, 'bench', 'results')))
const chartPath = resolve(values.chart ?? (smoke ? join(outDir, 'bench-chart.svg') : join(root, 'docs', 'bench-chart.svg')))
const docsPath = values['no-docs'] === true || smoke ? undefined : resolve(values.docs ?? join(root, 'docs', 'BENCHMARKS.md'))
const scenarioFilter = values.scenarios?.split(',').map((s) => s.trim()).filter((s) => s !== '')
const dist = resolve(values.dist ?? join(root, 'dist'))
const only = values.only?.split(',').map((s) => s.trim()).filter((s) => s !== '')

/** The namespace of the bench's Pod (crashLoopPod), which auto-recover-kube's API server holds. */
const benchPodNamespace = (): string => String((crashLoopPod().metadata as { namespace?: unknown }).namespace)

/** Classified events (what alert, auto-recover and persist receive), produced by classify itself. */
async function classifiedPayloads(): Promise<Payload[]> {
  const deps = createDeps(loadConfig({}))
  const reply = await handle({ ...apiServerEvent(crashLoopPod()), id: randomUUID() }, { log: silentLogger, traceparent: '', signal: new AbortController().signal, receivedAt: Date.now(), deps })
  if (reply === undefined) throw new Error('classify gave no reply for the bench Pod')
  return [toRequest('classified', reply, 'binary'), toRequest('classified', reply, 'structured')]
}

/** events/s from a dev run's own summary (`received` ÷ `elapsedMs`); undefined when the build does not report it. */
function rateOf(run: { stdout: string }, expected: number): number | undefined {
  try {
    const s = lastJsonLine(run.stdout) as { received?: number; elapsedMs?: number } | null
    if (s === null || typeof s.elapsedMs !== 'number' || s.elapsedMs <= 0 || s.received !== expected) return undefined
    return s.received / (s.elapsedMs / 1000)
  } catch {
    return undefined
  }
}

/** alert's webhook destination: answers 200 to anything. Lives in the harness process; not measured. */
async function startSink(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200).end())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  return { server, url: `http://127.0.0.1:${port}/hook` }
}

/**
 * `kube-reflex dev --replay FILE --once --json`: events/s = inputs ÷ the summary's `elapsedMs` (first input
 * taken → end of the latest delivery: the pipeline alone, without start-up and shutdown). A build whose
 * summary has no `elapsedMs` (older `--dist`) is timed from outside: the difference of a large and a
 * 1-event replay — noisier, as two start-ups differ by more than a short replay takes on a busy machine.
 */
async function measureDev(ctx: SubjectContext, workload: DevWorkload, soakSteps: readonly number[], variant?: DevVariant): Promise<DevResult> {
  const bin = join(ctx.dist, 'cli', 'bin.js')
  const help = await runToEnd({ command: ctx.node, args: [bin, 'dev', '--help'], env: ctx.env, cwd: root }, 30_000)
  if (help.code !== 0) return { status: 'not-measured', workload, reason: 'not measured: `kube-reflex dev` missing' }
  const file = (n: number): string => {
    const path = scratchPath(`replay-${workload}-${n}.ndjson`)
    writeFileSync(path, devReplayNdjson(workload, n))
    return path
  }
  const run = async (path: string, extra: readonly string[] = []): Promise<{ ms: number; stdout: string }> => {
    const dataDir = scratchPath(`dev-${randomUUID()}`)
    const r = await runToEnd({ command: ctx.node, args: [bin, 'dev', '--replay', path, '--once', '--json', ...devExtraArgs, ...extra], env: { ...ctx.env, KUBE_REFLEX_DATA_DIR: dataDir, RECOVERY_MODE: 'dry-run' }, cwd: root }, 3_600_000).finally(() => discard(dataDir))
    if (r.code !== 0) throw new Error(`dev exited ${String(r.code)}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    return { ms: r.ms, stdout: r.stdout }
  }
  // A build without `elapsedMs` is timed from outside against a 1-event replay, run only when needed: a
  // fresh one beside each measured replay (machine drift), the first one reused for the trial and in smoke.
  const small = file(1)
  let oneEvent: { ms: number } | undefined
  const oneEventMs = async (fresh: boolean): Promise<number> => {
    if (oneEvent === undefined || (fresh && !smoke)) oneEvent = await run(small)
    return oneEvent.ms
  }
  // events/s of a run of n inputs: dev's own figure, else timed from outside against a 1-event replay.
  const rateOfRun = async (r: { ms: number; stdout: string }, n: number, freshOneEvent: boolean): Promise<number> =>
    rateOf(r, n) ?? (n - 1) / (Math.max(1, r.ms - (await oneEventMs(freshOneEvent))) / 1000)
  const rates: number[] = []
  const variantRates: number[] = []
  let summary: unknown
  let variantSummary: unknown
  let events = devEvents
  try {
    // Size the replay to ~10 s of work at the measured rate (at most --dev-events), from a 1/10 trial run:
    // a slow pipeline then still finishes in reasonable time, a fast one gets a long enough run.
    const trialN = Math.max(20, Math.min(500, Math.round(devEvents / 10)))
    const trial = await run(file(trialN))
    const trialRate = await rateOfRun(trial, trialN, false)
    events = Math.max(trialN, Math.min(devEvents, Math.round(trialRate * 10)))
    const big = file(events)
    for (let rep = 0; rep < settings.reps; rep++) {
      const many = await run(big)
      summary = lastJsonLine(many.stdout)
      rates.push(await rateOfRun(many, events, true))
      if (variant === undefined) continue
      // Right after the shipped configuration's run, on the same replay: the machine's drift hits both alike.
      const other = await run(big, variant.args)
      variantSummary = lastJsonLine(other.stdout)
      variantRates.push(await rateOfRun(other, events, true))
    }
  } catch (err) {
    return { status: 'failed', workload, reason: (err as Error).message }
  }
  // Paced: the replay at a fixed rate; dev's own summary gives input→stored latency (inputToStoredMs).
  let paced: PacedDevResult
  const pacedN = Math.max(2, Math.round(devRate * devPacedSeconds))
  try {
    const r = await run(file(pacedN), ['--rate', String(devRate)])
    const s = lastJsonLine(r.stdout) as { inputToStoredMs?: { p50: number; p99: number; max: number } } | null
    const l = s?.inputToStoredMs
    const achievedRate = await rateOfRun(r, pacedN, true)
    paced =
      l === undefined
        ? { status: 'failed', reason: 'no inputToStoredMs in the summary (classify and persist must both run)', rate: devRate, events: pacedN }
        : { status: 'measured', rate: devRate, events: pacedN, achievedRate, p50Ms: l.p50, p99Ms: l.p99, maxMs: l.max }
  } catch (err) {
    paced = { status: 'failed', reason: (err as Error).message, rate: devRate, events: pacedN }
  }
  log(`dev (${workload}) paced ${devRate}/s: ${paced.status === 'measured' ? `p50 ${String(paced.p50Ms)} ms, p99 ${String(paced.p99Ms)} ms, achieved ${Math.round(paced.achievedRate ?? 0)} events/s` : (paced.reason ?? '')}`)
  const soakResult = soakSteps.length === 0 ? undefined : await soakDev(ctx, file(Math.max(...soakSteps)), soakSteps)
  return {
    status: 'measured',
    workload,
    events,
    eventsPerSecond: spread(rates),
    summary,
    paced,
    ...(soakResult === undefined ? {} : { soak: soakResult }),
    ...(variant === undefined ? {} : { variant: { label: variant.label, eventsPerSecond: spread(variantRates), summary: variantSummary } }),
  }
}

/**
 * Memory under sustained load for the whole pipeline: one `kube-reflex dev` replays max(steps) events as
 * fast as it can; its live view (one line per second) says how many inputs it has received, and its RSS
 * is read when that count passes each step. The broker's back-pressure keeps at most 10,000 events queued,
 * so every reading includes a full queue alike.
 */
async function soakDev(ctx: SubjectContext, replay: string, steps: readonly number[]): Promise<NonNullable<DevResult['soak']>> {
  const bin = join(ctx.dist, 'cli', 'bin.js')
  const dataDir = scratchPath(`devsoak-${randomUUID()}`)
  const child = spawn(ctx.node, [bin, 'dev', '--replay', replay, '--once', ...devExtraArgs], { cwd: root, env: { ...ctx.env, KUBE_REFLEX_DATA_DIR: dataDir, RECOVERY_MODE: 'dry-run' }, stdio: ['ignore', 'pipe', 'ignore'] })
  const pid = child.pid
  if (pid === undefined) return { status: 'failed', reason: 'could not spawn kube-reflex dev' }
  const rss: number[] = []
  let pending = [...steps].sort((a, b) => a - b)
  let buffered = ''
  let reading = Promise.resolve()
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8')
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      const m = /^received (\d+) /.exec(line)
      if (m === null) continue
      const received = Number(m[1])
      while (pending.length > 0 && received >= (pending[0] ?? Infinity)) {
        pending = pending.slice(1)
        reading = reading.then(async () => {
          rss.push((await memoryOf(pid)).rssMiB)
          log(`dev soak: RSS ${(rss[rss.length - 1] ?? 0).toFixed(1)} MiB after ${received} events`)
        })
      }
    }
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  await reading
  discard(dataDir)
  if (rss.length < steps.length) return { status: 'failed', reason: `dev exited ${String(code)} after ${rss.length} of ${steps.length} readings` }
  return { events: steps, rssMiB: rss, ratio: lastOverFirst(rss) }
}

function summarize(subject: Subject, rounds: readonly Round[], failure: string | undefined, startups: readonly number[] = []): SubjectResult {
  const base = { id: subject.id, label: subject.label, role: subject.role }
  if (rounds.length === 0) return { ...base, status: 'failed', reason: failure ?? 'no round completed' }
  const scenarios = new Set(rounds.flatMap((r) => Object.keys(r.load)))
  const throughput: NonNullable<SubjectResult['throughput']> = {}
  for (const sc of scenarios) {
    const runs = rounds.flatMap((r) => (r.load[sc] === undefined ? [] : [r.load[sc]]))
    const cpu = runs.flatMap((r) => (r.cpuUsPerRequest === undefined ? [] : [r.cpuUsPerRequest]))
    throughput[sc] = { rps: spread(runs.map((r) => r.rps)), ...(cpu.length > 0 ? { cpuUsPerRequest: spread(cpu) } : {}), runs: runs.map(({ rps: _rps, ...rest }) => rest) }
  }
  return {
    ...base,
    status: 'measured',
    ...(failure === undefined ? {} : { reason: `some rounds failed: ${failure}` }),
    startupMs: spread([...rounds.map((r) => r.startupMs), ...startups]),
    idleRssMiB: spread(rounds.map((r) => r.idleRssMiB)),
    peakRssMiB: spread(rounds.map((r) => r.peakRssMiB)),
    firstStatus: rounds[0]?.firstStatus ?? 0,
    ...(scenarios.size > 0 ? { throughput } : {}),
    rounds,
  }
}

/** The settings that decide whether a commit is on disk when PostgreSQL acknowledges it. */
async function durabilityOf(url: string): Promise<PostgresDurability> {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name`,
    )
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]))
  } finally {
    await client.end()
  }
}

/** Process id of the durable PostgreSQL this run started (stopped on Ctrl-C too). */
let durablePid: number | undefined

/**
 * persist-postgres-durable's server: a PostgreSQL of the test-services layer, started by the harness with
 * PostgreSQL's default durability. Only when the other PostgreSQL subjects run (DATABASE_URL given) and
 * PostgreSQL's binaries are installed on this machine: a bench run never installs anything.
 */
async function startDurablePostgres(selected: boolean): Promise<{ url?: string; reason?: string; stop: () => Promise<void> }> {
  const none = async (): Promise<void> => undefined
  if (!selected) return { reason: 'not selected (--only)', stop: none }
  if ((process.env.DATABASE_URL ?? '') === '') return { reason: 'DATABASE_URL not set (PostgreSQL; the harness then starts a durable one beside it)', stop: none }
  // DATABASE_URL may name a server elsewhere: start one here only from binaries already installed, since
  // the services layer would otherwise install PostgreSQL.
  if (findPostgresBin() === undefined) return { reason: 'PostgreSQL is not installed on this machine (`npm run -s services -- provision postgres` installs it)', stop: none }
  try {
    const started = await startServices(['postgres'], { reuseEnv: false, durable: true, session: `bench-durable-${process.pid}`, log: (l) => log(`durable ${l}`) })
    const handle = started.services.postgres
    if (handle === undefined) throw new Error('the services layer started no PostgreSQL')
    durablePid = handle.pid
    return {
      url: handle.url,
      stop: async () => {
        durablePid = undefined
        await started.stop()
      },
    }
  } catch (err) {
    return { reason: `the durable PostgreSQL did not start: ${(err as Error).message}`, stop: none }
  }
}

async function main(): Promise<number> {
  if (!existsSync(join(dist, 'cli', 'bin.js'))) {
    log(`${dist} has no cli/bin.js: run \`npm run build\` first (npm run bench does)`)
    return 1
  }
  let devVariant: DevVariant | undefined
  if (devPersistSkip !== undefined) {
    try {
      const dir = persistTriggersWithout(devPersistSkip, join(root, 'triggers'), scratchPath('dev-triggers'))
      devVariant = { label: `persist's Trigger leaving out ${devPersistSkip.join(', ')}`, args: ['--triggers', dir] }
      log(`dev: each replay also runs with ${devVariant.label} (Triggers in ${dir}), interleaved`)
    } catch (err) {
      log((err as Error).message)
      return 2
    }
  }
  const startedAt = new Date()
  const loadStart = loadavg()
  const sink = await startSink()
  // Smoke mode keeps the subjects the target ratios need; the reference servers are for full runs.
  const subjects = allSubjects().filter((s) => (only === undefined ? !smoke || s.role !== 'reference' : only.includes(s.id)))
  const durable = await startDurablePostgres(subjects.some((s) => s.id === 'persist-postgres-durable'))
  const kube = await startKubeTarget(subjects.some((s) => s.id === 'auto-recover-kube') && (process.env.DATABASE_URL ?? '') !== '', benchPodNamespace(), log)
  kubePids = kube.pids ?? []
  const ctx: SubjectContext = {
    root,
    dist,
    node: process.execPath,
    env: baseEnv(),
    sinkUrl: sink.url,
    databaseUrl: process.env.DATABASE_URL,
    durableDatabaseUrl: durable.url,
    ...(durable.reason === undefined ? {} : { durableReason: durable.reason }),
    kubeconfig: kube.kubeconfig,
    ...(kube.reason === undefined ? {} : { kubeReason: kube.reason }),
  }
  // What each PostgreSQL subject's server promised at commit, read from the servers themselves.
  const postgres: Record<'test' | 'durable', PostgresDurability | null> = {
    test: (ctx.databaseUrl ?? '') === '' ? null : await durabilityOf(ctx.databaseUrl ?? '').catch(() => null),
    durable: durable.url === undefined ? null : await durabilityOf(durable.url).catch(() => null),
  }
  if (postgres.test !== null || postgres.durable !== null) log(`PostgreSQL durability: test server ${JSON.stringify(postgres.test)}, durable server ${JSON.stringify(postgres.durable)}`)
  const input = inputPayloads()
  const classified = await classifiedPayloads()
  const pick = (ps: Payload[]): Payload[] => {
    if (scenarioFilter !== undefined) {
      const chosen = ps.filter((p) => scenarioFilter.includes(scenarioName(p)))
      // classified subjects keep their first payload so that they are still measured
      return chosen.length > 0 ? chosen : ps.slice(0, 1)
    }
    return smoke ? ps.filter((p) => p.mode === 'binary').slice(0, 1) : ps
  }

  const runnable: Subject[] = []
  const results = new Map<string, SubjectResult>()
  for (const s of subjects) {
    const why = await s.available(ctx)
    if (why === undefined) runnable.push(s)
    else {
      log(`${s.id}: ${why}`)
      results.set(s.id, { id: s.id, label: s.label, role: s.role, status: 'not-measured', reason: why })
    }
  }
  const rounds = new Map<string, Round[]>(runnable.map((s) => [s.id, []]))
  const failures = new Map<string, string>()
  const payloadsOf = (s: Subject): Payload[] => pick(s.payloads === 'input' ? input : classified)
  /** Spawn → first 2xx → stop: a round without load and without the quiet time before idle RSS. */
  const coldStart = (s: Subject): Promise<Round> => round({ ...s, throughput: false }, ctx, payloadsOf(s), { ...settings, idleMs: 0 })
  // Every subject gets one unmeasured spawn first: the OS file cache is warm for all of them alike, and a
  // function's database exists before its measured cold starts (a scaled-to-zero pod finds its data).
  for (const s of runnable) {
    try {
      const r = await coldStart(s)
      log(`${s.id}: priming start-up ${r.startupMs.toFixed(0)} ms (not counted)`)
    } catch (err) {
      log(`${s.id}: priming failed: ${(err as Error).message}`)
    }
  }
  for (let rep = 1; rep <= settings.reps; rep++) {
    for (const s of runnable) {
      try {
        const r = await round(s, ctx, payloadsOf(s), settings)
        rounds.get(s.id)?.push(r)
        const tps = Object.entries(r.load).map(([k, v]) => `${k} ${Math.round(v.rps)}/s ${Math.round(v.cpuUsPerRequest ?? 0)} µs CPU/req${v.non2xx + v.errors + v.timeouts > 0 ? ` (${v.non2xx} non-2xx, ${v.errors} errors, ${v.timeouts} timeouts)` : ''}`)
        log(`rep ${rep}/${settings.reps} ${s.id}: start-up ${r.startupMs.toFixed(0)} ms, idle RSS ${r.idleRssMiB.toFixed(1)} MiB${tps.length > 0 ? `, ${tps.join(', ')}` : ''}`)
      } catch (err) {
        failures.set(s.id, (err as Error).message)
        log(`rep ${rep} ${s.id}: FAILED ${(err as Error).message}`)
      }
    }
  }
  // More cold starts, interleaved across subjects: spawn → first 2xx and stop, no load. They join the
  // rounds' start-ups in each subject's median.
  const startups = new Map<string, number[]>(runnable.map((s) => [s.id, []]))
  for (let i = 1; i <= extraStartups; i++) {
    for (const s of runnable) {
      if (failures.has(s.id)) continue
      try {
        startups.get(s.id)?.push((await coldStart(s)).startupMs)
      } catch (err) {
        log(`start-up ${i} ${s.id}: FAILED ${(err as Error).message}`)
      }
    }
    log(`start-ups ${i}/${extraStartups}: ${runnable.map((s) => `${s.id} ${(startups.get(s.id)?.at(-1) ?? Number.NaN).toFixed(0)} ms`).join(', ')}`)
  }
  for (const s of runnable) results.set(s.id, summarize(s, rounds.get(s.id) ?? [], failures.get(s.id), startups.get(s.id)))
  await durable.stop()
  await kube.stop()
  kubePids = []
  // The worst case (every input a critical problem) and a cluster-like mix, side by side; the soak replays the storm.
  const devSelected = only === undefined || only.includes('dev')
  const dev: DevResult = devSelected ? await measureDev(ctx, 'storm', devSoakSteps, devVariant) : { status: 'not-measured', workload: 'storm', reason: 'not selected (--only)' }
  const devMixed: DevResult = devSelected ? await measureDev(ctx, 'mixed', [], devVariant) : { status: 'not-measured', workload: 'mixed', reason: 'not selected (--only)' }
  // Memory under sustained load (opt-in, long): classify's RSS after each cumulative number of events.
  let soakResult: SoakResult | { status: 'not-measured'; reason: string } = { status: 'not-measured', reason: 'not measured: pass --soak 100000,1000000 (long run)' }
  const classifySubject = runnable.find((s) => s.id === 'classify')
  const soakPayload = input[0]
  if (values.soak !== undefined && classifySubject !== undefined && soakPayload !== undefined) {
    const steps = values.soak.split(',').map((x) => num(x.trim(), 0)).filter((x) => x > 0)
    soakResult = await soak(classifySubject, ctx, soakPayload, settings, steps, values['soak-gc'] === true)
    log(`soak: RSS ${soakResult.rssMiB.map((r) => r.toFixed(1)).join(' → ')} MiB after ${steps.join(', ')} events`)
    const gc = soakResult.afterFullGc
    if (gc !== undefined) log(`soak after full GCs: RSS ${gc.rssMiB.map((r) => r.toFixed(1)).join(' → ')} MiB, heap used ${gc.heapUsedMiB.map((r) => r.toFixed(1)).join(' → ')} MiB`)
  }
  for (const d of [dev, devMixed]) log(`dev (${d.workload}): ${d.status === 'measured' ? `${Math.round(d.eventsPerSecond?.median ?? 0)} events/s${devExtraArgs.length > 0 ? ' (HTTP delivery)' : ''}${d.variant?.eventsPerSecond === undefined ? '' : `; ${Math.round(d.variant.eventsPerSecond.median)} events/s with ${d.variant.label}`}` : (d.reason ?? d.status)}`)
  sink.server.close()

  const subjectResults = subjects.map((s) => results.get(s.id)).filter((r): r is SubjectResult => r !== undefined)
  const ratios = computeRatios(subjectResults)
  const scenarios = [...new Set([...input, ...classified].map(scenarioName))].filter((sc) => subjectResults.some((s) => s.throughput?.[sc] !== undefined))
  const finishedAt = new Date()
  const cpu = cpus()
  const machine = {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    freeMemMiB: Math.round(freemem() / 2 ** 20),
    node: process.version,
    platform: `${process.platform} ${release()}`,
    loadavgStart: loadStart,
    loadavgEnd: loadavg(),
  }
  const argv = process.argv.slice(2)
  const results_ = {
    schema: 'kube-reflex-bench/1',
    mode: smoke ? 'smoke' : 'full',
    command: `npm run ${smoke ? 'bench:smoke' : 'bench'}${argv.filter((a) => a !== '--smoke').length > 0 ? ` -- ${argv.filter((a) => a !== '--smoke').join(' ')}` : ''}`,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    machine,
    dist: relative(root, dist) || '.',
    settings: { ...settings, extraStartups },
    payloads: [...input, ...classified].map((p) => ({ scenario: scenarioName(p), bytes: Buffer.byteLength(p.body), headers: Object.keys(p.headers).length })),
    subjects: subjectResults,
    postgres,
    ratios,
    dev,
    devMixed,
    soak: soakResult,
  }
  mkdirSync(outDir, { recursive: true })
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const file = join(outDir, `${smoke ? 'smoke' : 'bench'}-${stamp}.json`)
  const json = JSON.stringify(results_, null, 2) + '\n'
  writeFileSync(file, json)
  writeFileSync(join(outDir, smoke ? 'smoke-latest.json' : 'latest.json'), json)
  mkdirSync(dirname(chartPath), { recursive: true })
  const caption = `${results_.command} · ${startedAt.toISOString().slice(0, 16)}Z · ${machine.cpus}× ${machine.cpuModel} · Node ${machine.node} · ${settings.reps} reps × ${settings.durationSec}s, ${settings.connections} connections`
  writeFileSync(chartPath, renderChart(subjectResults, 'pod-binary', caption))
  const md = renderMarkdown({ subjects: subjectResults, ratios, dev, devMixed, scenarios, soak: soakResult, postgres })
  if (docsPath !== undefined && existsSync(docsPath)) {
    const doc = readFileSync(docsPath, 'utf8')
    const startMark = '<!-- bench:results:start -->'
    const endMark = '<!-- bench:results:end -->'
    const a = doc.indexOf(startMark)
    const b = doc.indexOf(endMark)
    if (a >= 0 && b > a) {
      const block = `${startMark}\nMeasured ${startedAt.toISOString().slice(0, 16)}Z with \`${results_.command}\` (results: \`${relative(root, file)}\`; load average ${loadStart.map((l) => l.toFixed(1)).join('/')} at start, ${machine.loadavgEnd.map((l) => l.toFixed(1)).join('/')} at end).\n\n${md}\n${endMark}`
      writeFileSync(docsPath, doc.slice(0, a) + block + doc.slice(b + endMark.length))
      log(`updated ${relative(root, docsPath)}`)
    }
  }
  process.stdout.write(md + '\n')
  log(`results: ${relative(process.cwd(), file)}; chart: ${relative(process.cwd(), chartPath)}`)
  return 0
}

/** Process ids of the kube-apiserver and etcd this run started (stopped on Ctrl-C too). */
let kubePids: readonly number[] = []

/** A fast shutdown of the durable PostgreSQL (SIGINT to its postmaster) and of the kube-apiserver when the run cannot wait for stop(). */
function stopServicesNow(): void {
  for (const pid of kubePids) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  if (durablePid === undefined) return
  try {
    process.kill(durablePid, 'SIGINT')
  } catch {
    // already gone
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    // The CLI entry point: stop the subjects and load generators it started, then stop the run itself.
    killAll()
    stopServicesNow()
    removeScratch()
    process.exit(130)
  })
}
main().then(
  (code) => {
    removeScratch()
    process.exitCode = code
  },
  (err: unknown) => {
    killAll()
    stopServicesNow()
    removeScratch()
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
    process.exitCode = 1
  },
)
