// `npm run bench:snapshot`: would a V8 start-up snapshot (issue 9's list: "a V8 startup snapshot if it pays off
// on Node 20/22/24") make `serve classify` start faster? An experiment, not how the function ships: it
// builds classify's `serve` path as one script (esbuild, IIFE; the other functions and commands left out as
// in the lean bundle of dist/kn/classify), runs it once under `node --build-snapshot` so that every module
// is evaluated into the snapshot, and then measures spawn → first 2xx on a real Pod event, interleaved:
// bare node:http, the shipped bundle (dist/kn/classify/index.js) and the snapshot, each on the given Node.
//  - node:http cannot be in a user snapshot on Node 20, 22 or 24 (20: its module fails to load in the
//    builder; 22/24: its HTTPParser binding "global handle not serialized"), so the experiment's build
//    loads it on first use in shared/host.ts (a shim module here; the source is not changed).
//  - import.meta.url points at dist/kn/classify/index.js, where the shipped bundle finds its rules.
//  - The blob is tied to the Node binary that built it: each --node builds its own.
//
//   tsx bench/snapshot-startup.ts [--node PATH[,PATH…]] [--rounds N] [--bundle DIR] [--json]
import { mkdirSync, writeFileSync, existsSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { build, type Plugin } from 'esbuild'
import { apiServerEvent, crashLoopPod, toRequest } from './payloads/index.js'
import { freePort, runToEnd, start, stop } from './process.js'
import { scratchPath } from './scratch.js'
import { awaitFirst2xx, spread, type Spread } from './harness.js'
import { parseOptions, runAsCommand, usageError } from './command.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const defaultBundleDir = join(root, 'dist', 'kn', 'classify')
const HELP = `Usage: npm run bench:snapshot -- [options]

Measures whether a V8 start-up snapshot would make \`serve classify\` start faster: spawn → first 2xx on a
real Pod event for bare node:http, the shipped bundle (dist/kn/classify) and a snapshot of the same code,
interleaved, on each given Node binary. An experiment: the function does not ship a snapshot.

Options:
  --node <paths>   comma-separated Node binaries (default: this one); each builds its own snapshot
  --rounds <n>     interleaved rounds per Node (default: 15)
  --bundle <dir>   classify's kn func directory to measure (default: dist/kn/classify)
  --json           print the results as JSON on stdout (progress on stderr)
  -h, --help       show this help
`

export interface SnapshotResult {
  readonly node: string
  readonly version: string
  readonly rounds: number
  readonly bareMs: Spread
  readonly bundleMs: Spread
  readonly snapshotMs: Spread
  /** Medians of the per-round ratios (each round's three spawns are taken back to back). */
  readonly bundleOverBare: number
  readonly snapshotOverBare: number
  readonly snapshotOverBundle: number
  readonly blobBytes: number
}

const log = (msg: string): void => {
  process.stderr.write(`[snapshot] ${msg}\n`)
}

const fail: (message: string) => never = (message) => usageError('snapshot-startup', message)

// shared/host.ts's node:http, loaded on first use instead of at module evaluation (see the header).
const lazyHttp: Plugin = {
  name: 'lazy-http',
  setup(b) {
    b.onResolve({ filter: /^node:http$/ }, (a) => (a.importer.endsWith(join('shared', 'host.ts')) ? { path: 'lazy-http', namespace: 'kr-lazy' } : undefined))
    b.onLoad({ filter: /.*/, namespace: 'kr-lazy' }, () => ({
      loader: 'js',
      contents: `let loaded
const http = () => (loaded ??= require('node:http'))
export function createServer(...args) { return http().createServer(...args) }
export const IncomingMessage = { [Symbol.hasInstance]: (x) => x instanceof http().IncomingMessage }
`,
    }))
  },
}
// What `serve classify` never reaches stays out, as in the lean bundle (scripts/bundle-functions.mjs).
const ELSEWHERE = /functions\/(alert|auto-recover|persist)\/|commands\/(dev|validate|replay|classify)\.|broker\//
const leanServe: Plugin = {
  name: 'lean-serve',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (a) => (a.kind === 'dynamic-import' && (ELSEWHERE.test(a.path) || /^(@kubernetes|@opentelemetry|express$|kafkajs|pg$|yaml$)/.test(a.path)) ? { path: a.path, external: true } : undefined))
  },
}

/** Builds the one-script `serve classify` for the snapshot; returns its path. */
async function buildScript(dir: string, classifyDir: string): Promise<string> {
  const entry = join(dir, 'entry.ts')
  const src = (p: string): string => JSON.stringify(join(root, p))
  writeFileSync(
    entry,
    `import * as logger from ${src('shared/logger.ts')}
import * as host from ${src('shared/host.ts')}
import * as tracing from ${src('shared/tracing.ts')}
import * as classify from ${src('functions/classify/index.ts')}
import * as serve from ${src('cli/commands/serve.ts')}
import { main } from ${src('cli/main.ts')}
// Referenced, so that every module serve classify loads is evaluated when the script runs (into the snapshot).
export const loaded = [logger, host, tracing, classify, serve]
export function run(argv: string[]): void {
  const controller = new AbortController()
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort())
  main(argv, { get stdout() { return process.stdout }, get stderr() { return process.stderr }, env: process.env, cwd: process.cwd(), stopSignal: controller.signal }).then(
    (code) => { process.exitCode = code },
    (err: unknown) => { process.stderr.write(String(err) + '\\n'); process.exitCode = 1 },
  )
}
`,
  )
  const out = join(dir, 'serve-classify.js')
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'iife',
    globalName: '__kr',
    target: 'node20',
    outfile: out,
    absWorkingDir: root,
    nodePaths: [join(root, 'node_modules')],
    define: { 'import.meta.url': 'globalThis.__krImportMetaUrl' },
    external: ['yaml', '@electric-sql/pglite', 'pg-native'],
    plugins: [lazyHttp, leanServe],
    banner: { js: `globalThis.__krImportMetaUrl = ${JSON.stringify(pathToFileURL(join(classifyDir, 'index.js')).href)};` },
    // Under --build-snapshot the run is deferred to the snapshot's main function; run directly, it runs now.
    footer: {
      js: "if (require('v8').startupSnapshot?.isBuildingSnapshot()) require('v8').startupSnapshot.setDeserializeMainFunction(() => __kr.run(process.argv.slice(1))); else __kr.run(process.argv.slice(2));",
    },
    logLevel: 'error',
  })
  return out
}

/** Spawn → first 2xx on a real Pod event (fresh id each, every 2 ms), then stop. */
async function firstReply(node: string, args: readonly string[], env: Record<string, string>, classifyDir: string): Promise<number> {
  const port = await freePort()
  const payload = toRequest('pod', apiServerEvent(crashLoopPod()), 'binary')
  const p = start({ command: node, args: args.map((a) => a.replace('{port}', String(port))), env: { ...env, PORT: String(port) }, cwd: classifyDir })
  try {
    return (await awaitFirst2xx('/', port, payload, 30_000, p.spawnedAt, () => p.child.exitCode !== null || p.child.signalCode !== null)).ms
  } catch (err) {
    throw new Error(`${args.join(' ')}: ${(err as Error).message}; stderr: ${p.stderrTail().trim().split('\n').slice(-3).join(' | ')}`)
  } finally {
    await stop(p)
  }
}

const median = (xs: readonly number[]): number => spread([...xs]).median

async function measure(node: string, script: string, rounds: number, env: Record<string, string>, classifyDir: string): Promise<SnapshotResult> {
  const version = (await runToEnd({ command: node, args: ['--version'], env, cwd: root }, 30_000)).stdout.trim()
  const blob = scratchPath(`classify-${version}.blob`)
  const built = await runToEnd({ command: node, args: ['--snapshot-blob', blob, '--build-snapshot', script], env, cwd: classifyDir }, 120_000)
  if (built.code !== 0 || !existsSync(blob)) throw new Error(`${version}: the snapshot did not build: ${built.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  const bare: number[] = []
  const bundle: number[] = []
  const snap: number[] = []
  for (let i = 0; i < rounds; i++) {
    bare.push(await firstReply(node, [join(root, 'bench', 'servers', 'bare-http.mjs')], env, classifyDir))
    bundle.push(await firstReply(node, ['index.js', 'serve', 'classify', '--port', '{port}'], env, classifyDir))
    snap.push(await firstReply(node, ['--snapshot-blob', blob, 'serve', 'classify', '--port', '{port}'], env, classifyDir))
  }
  log(`${version}: bare ${median(bare).toFixed(1)} ms, bundle ${median(bundle).toFixed(1)} ms, snapshot ${median(snap).toFixed(1)} ms (medians of ${rounds})`)
  return {
    node,
    version,
    rounds,
    bareMs: spread(bare),
    bundleMs: spread(bundle),
    snapshotMs: spread(snap),
    bundleOverBare: median(bundle.map((b, i) => b / (bare[i] ?? NaN))),
    snapshotOverBare: median(snap.map((s, i) => s / (bare[i] ?? NaN))),
    snapshotOverBundle: median(snap.map((s, i) => s / (bundle[i] ?? NaN))),
    blobBytes: statSync(blob).size,
  }
}

/** The report as text, one line per Node. */
export function renderSnapshotResults(results: readonly SnapshotResult[]): string {
  const lines = ['node      rounds  bare ms  bundle ms  snapshot ms  bundle/bare  snapshot/bare  snapshot/bundle  blob']
  for (const r of results) {
    lines.push(
      [
        r.version.padEnd(8),
        String(r.rounds).padStart(6),
        r.bareMs.median.toFixed(1).padStart(7),
        r.bundleMs.median.toFixed(1).padStart(9),
        r.snapshotMs.median.toFixed(1).padStart(11),
        `${r.bundleOverBare.toFixed(2)}×`.padStart(11),
        `${r.snapshotOverBare.toFixed(2)}×`.padStart(13),
        `${r.snapshotOverBundle.toFixed(2)}×`.padStart(15),
        `${(r.blobBytes / 2 ** 20).toFixed(1)} MiB`.padStart(9),
      ].join('  '),
    )
  }
  return lines.join('\n') + '\n'
}

async function main(): Promise<void> {
  const { values } = parseOptions('snapshot-startup', () =>
    parseArgs({ options: { node: { type: 'string' }, rounds: { type: 'string' }, bundle: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } }, strict: true }),
  )
  if (values.help === true) {
    process.stdout.write(HELP)
    return
  }
  const rounds = values.rounds === undefined ? 15 : Number(values.rounds)
  if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be an integer ≥ 1, got ${JSON.stringify(values.rounds)}`)
  const nodes = (values.node ?? process.execPath).split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const n of nodes) if (!existsSync(n)) fail(`no Node binary at ${n}`)
  const classifyDir = resolve(values.bundle ?? defaultBundleDir)
  if (!existsSync(join(classifyDir, 'index.js'))) fail(`${classifyDir} holds no bundle: run \`npm run build && npm run bundle:functions\` first (npm run bench:snapshot does)`)
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'production' }
  const dir = scratchPath('snapshot')
  mkdirSync(dir, { recursive: true })
  const script = await buildScript(dir, classifyDir)
  const results: SnapshotResult[] = []
  for (const node of nodes) {
    log(`${node}: building the snapshot, then ${rounds} interleaved rounds …`)
    results.push(await measure(node, script, rounds, env, classifyDir))
  }
  process.stdout.write(values.json === true ? JSON.stringify({ schema: 'kube-reflex-snapshot-startup/1', results }) + '\n' : renderSnapshotResults(results))
}

runAsCommand(import.meta.url, 'snapshot-startup', main)
