// What the bench measures: each subject is a pluggable entry — how to spawn it, which payloads it gets,
// what it is measured for, and how to tell whether its code exists yet. Add a subject here and the
// harness, the results file, the ratios and the chart pick it up.
import { existsSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { runToEnd } from './process.js'
import { scratchDir } from './scratch.js'

export type Role = 'limit' | 'peer' | 'reference' | 'kube-reflex'
export type PayloadSet = 'input' | 'classified'

export interface SubjectContext {
  readonly root: string
  /** The built code measured (default `<root>/dist`; `--dist DIR` measures another build). */
  readonly dist: string
  readonly node: string
  /** Base environment for every subject (PATH etc.; no inherited PORT/LOG_LEVEL surprises). */
  readonly env: Readonly<Record<string, string>>
  /** URL of the harness's webhook sink (alert's destination). */
  readonly sinkUrl: string
  /** PostgreSQL for persist-postgres (DATABASE_URL of the harness's environment); never given to others. */
  readonly databaseUrl: string | undefined
  /** A PostgreSQL with its default durability that the harness starts itself (persist-postgres-durable);
   *  undefined when it did not (no DATABASE_URL, not selected, or it failed to start: see durableReason). */
  readonly durableDatabaseUrl?: string | undefined
  readonly durableReason?: string
  /** A kube-apiserver the harness starts itself (auto-recover-kube); undefined when it did not (see kubeReason). */
  readonly kubeconfig?: string | undefined
  readonly kubeReason?: string
}

export interface Subject {
  readonly id: string
  readonly label: string
  readonly role: Role
  readonly payloads: PayloadSet
  /** Measured under load (else start-up and memory only). */
  readonly throughput: boolean
  /** Path events are POSTed to. */
  readonly path: string
  spawn(port: number, ctx: SubjectContext): { command: string; args: string[]; env: Record<string, string> }
  /** undefined when the subject can run; otherwise why it is not measured. */
  available(ctx: SubjectContext): Promise<string | undefined>
}

const always = (): Promise<undefined> => Promise.resolve(undefined)

/** Asks the built registry whether `createFunction(name)` works (see probe-function.mjs). */
export async function probeFunction(name: string, ctx: SubjectContext, extraEnv: Record<string, string> = {}): Promise<string | undefined> {
  const r = await runToEnd({ command: ctx.node, args: [join(ctx.root, 'bench', 'probe-function.mjs'), name, ctx.dist], env: { ...ctx.env, ...extraEnv }, cwd: ctx.root }, 60_000)
  const line = r.stdout.trim().split('\n').pop() ?? ''
  let parsed: { present?: boolean; missing?: boolean; reason?: string }
  try {
    parsed = JSON.parse(line) as typeof parsed
  } catch {
    return `not measured: probe failed (${r.stderr.trim().split('\n').pop() ?? `exit ${String(r.code)}`})`
  }
  if (parsed.present === true) return undefined
  return parsed.missing === true ? 'not measured: function missing' : `not measured: function failed to start (${parsed.reason ?? 'unknown'})`
}

const dataDirs = new Map<string, string>()

/** One data directory per subject and harness run; the harness's unmeasured first spawn initializes it,
 *  so every measured spawn is the cold start of a scaled-to-zero function whose database already exists. */
function tempDataDir(name: string): string {
  let dir = dataDirs.get(name)
  if (dir === undefined) {
    dir = mkdtempSync(join(scratchDir(), `${name}-`))
    dataDirs.set(name, dir)
  }
  return dir
}

/** dist/kn/<name>/index.js when bundled, else dist/cli/bin.js. */
export function deployedEntry(name: string, ctx: SubjectContext): string {
  const bundled = join(ctx.dist, 'kn', name, 'index.js')
  return existsSync(bundled) ? bundled : join(ctx.dist, 'cli', 'bin.js')
}

function serveFunction(name: string, opts: { id?: string; label?: string; throughput: boolean; payloads: PayloadSet; env?: (ctx: SubjectContext) => Record<string, string>; needs?: 'DATABASE_URL' | 'durable PostgreSQL' | 'DATABASE_URL and a kube-apiserver' }): Subject {
  const id = opts.id ?? name
  return {
    id,
    label: opts.label ?? `kube-reflex serve ${name}`,
    role: 'kube-reflex',
    payloads: opts.payloads,
    throughput: opts.throughput,
    path: '/',
    // What a cluster runs: the function's bundle (scripts/bundle-functions.mjs → dist/kn/<name>/, what
    // `kn func deploy` builds) when it exists — `npm run bench` bundles first — else the unbundled CLI.
    spawn: (port, ctx) => ({
      command: ctx.node,
      args: [deployedEntry(name, ctx), 'serve', name, '--port', String(port), '--host', '127.0.0.1'],
      env: { ...ctx.env, ...(opts.env?.(ctx) ?? {}) },
    }),
    available: async (ctx) => {
      if ((opts.needs === 'DATABASE_URL' || opts.needs === 'DATABASE_URL and a kube-apiserver') && (ctx.databaseUrl ?? '') === '') return 'not measured: DATABASE_URL not set (PostgreSQL)'
      if (opts.needs === 'DATABASE_URL and a kube-apiserver' && (ctx.kubeconfig ?? '') === '') return `not measured: ${ctx.kubeReason ?? 'no kube-apiserver'}`
      if (opts.needs === 'durable PostgreSQL' && (ctx.durableDatabaseUrl ?? '') === '') return `not measured: ${ctx.durableReason ?? 'no durable PostgreSQL'}`
      return probeFunction(name, ctx, opts.env?.(ctx) ?? {})
    },
  }
}

const script = (id: string, label: string, role: Role, file: string, throughput: boolean, env: Record<string, string> = {}): Subject => ({
  id,
  label,
  role,
  payloads: 'input',
  throughput,
  path: '/',
  spawn: (port, ctx) => ({ command: ctx.node, args: [join(ctx.root, 'bench', 'servers', file)], env: { ...ctx.env, PORT: String(port), BENCH_DIST: ctx.dist, ...env } }),
  available: always,
})

/** Webhook secret in the Standard Webhooks format (whsec_ + base64); the bench sink does not verify it. */
const BENCH_WEBHOOK_SECRET = `whsec_${Buffer.from('kube-reflex-bench-secret-0123456').toString('base64')}`

export function allSubjects(): Subject[] {
  return [
    script('bare-http', 'bare node:http (limit)', 'limit', 'bare-http.mjs', true),
    script('faas-empty', 'faas-js-runtime, empty handler (peer)', 'peer', 'faas.mjs', true, { FAAS_HANDLER: 'empty' }),
    script('faas-classify', 'faas-js-runtime, classify handler', 'peer', 'faas.mjs', true, { FAAS_HANDLER: 'classify' }),
    script('express-sdk', 'express 5 + CloudEvents SDK toEvent/validate (naive)', 'reference', 'express-sdk.mjs', true),
    script('kube-client', 'node:http after import @kubernetes/client-node', 'reference', 'kube-client.mjs', false),
    serveFunction('classify', { throughput: true, payloads: 'input' }),
    serveFunction('alert', {
      label: 'kube-reflex serve alert (PGlite)',
      throughput: false,
      payloads: 'classified',
      env: (ctx) => ({ ALERT_WEBHOOK_URL: ctx.sinkUrl, ALERT_WEBHOOK_SECRET: BENCH_WEBHOOK_SECRET, ALERT_ALLOW_HOSTS: '127.0.0.1', KUBE_REFLEX_DATA_DIR: tempDataDir('alert') }),
    }),
    // In a cluster alert and auto-recover keep their state in PostgreSQL (DESIGN.md, DATABASE_URL); the
    // plain ids measure the embedded PGlite form (kube-reflex dev, a laptop), the -postgres ids the deployed one.
    serveFunction('alert', {
      id: 'alert-postgres',
      label: 'kube-reflex serve alert (PostgreSQL)',
      throughput: false,
      payloads: 'classified',
      needs: 'DATABASE_URL',
      env: (ctx) => ({ ALERT_WEBHOOK_URL: ctx.sinkUrl, ALERT_WEBHOOK_SECRET: BENCH_WEBHOOK_SECRET, ALERT_ALLOW_HOSTS: '127.0.0.1', DATABASE_URL: ctx.databaseUrl ?? '' }),
    }),
    serveFunction('auto-recover', { label: 'kube-reflex serve auto-recover (PGlite)', throughput: false, payloads: 'classified', env: () => ({ RECOVERY_MODE: 'dry-run', KUBE_REFLEX_DATA_DIR: tempDataDir('auto-recover') }) }),
    serveFunction('auto-recover', {
      id: 'auto-recover-postgres',
      label: 'kube-reflex serve auto-recover (PostgreSQL)',
      throughput: false,
      payloads: 'classified',
      needs: 'DATABASE_URL',
      env: (ctx) => ({ RECOVERY_MODE: 'dry-run', DATABASE_URL: ctx.databaseUrl ?? '' }),
    }),
    // "auto-recover with its Kubernetes client" (issue 9): the same with a cluster, a kube-apiserver the
    // harness starts (bench/kube-target.ts). Its first reply loads the client (client-node's KubeConfig, ≈ 1.2 MB bundled),
    // opens a TLS connection and reads what it decides on; idle RSS is read with the client loaded.
    serveFunction('auto-recover', {
      id: 'auto-recover-kube',
      label: 'kube-reflex serve auto-recover (PostgreSQL, Kubernetes API)',
      throughput: false,
      payloads: 'classified',
      needs: 'DATABASE_URL and a kube-apiserver',
      env: (ctx) => ({ RECOVERY_MODE: 'dry-run', DATABASE_URL: ctx.databaseUrl ?? '', KUBECONFIG: ctx.kubeconfig ?? '' }),
    }),
    serveFunction('persist', { id: 'persist-pglite', label: 'kube-reflex serve persist (PGlite)', throughput: true, payloads: 'classified', env: () => ({ KUBE_REFLEX_DATA_DIR: tempDataDir('persist') }) }),
    serveFunction('persist', {
      id: 'persist-postgres',
      label: 'kube-reflex serve persist (PostgreSQL)',
      throughput: true,
      payloads: 'classified',
      needs: 'DATABASE_URL',
      env: (ctx) => ({ DATABASE_URL: ctx.databaseUrl ?? '' }),
    }),
    // The same on a PostgreSQL that flushes its WAL at every commit, as production servers do: the harness's
    // DATABASE_URL is the test server, which runs with fsync, synchronous_commit and full_page_writes off.
    serveFunction('persist', {
      id: 'persist-postgres-durable',
      label: 'kube-reflex serve persist (PostgreSQL, durable)',
      throughput: true,
      payloads: 'classified',
      needs: 'durable PostgreSQL',
      env: (ctx) => ({ DATABASE_URL: ctx.durableDatabaseUrl ?? '' }),
    }),
  ]
}
