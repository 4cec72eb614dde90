// The measuring core: one round of a subject = spawn → start-up (first 2xx on a real event) → idle RSS →
// load runs (one per payload, from a separate autocannon process, warm-up excluded) → RSS/peak → stop.
// Rounds are interleaved across subjects (rep 1 of every subject, then rep 2, …) so that background
// noise on the machine spreads over all subjects instead of hitting one.
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { materialize, type Payload } from './payloads/index.js'
import { cpuMsOf, freePort, memoryOf, post, runToEnd, start, stop } from './process.js'
import type { Subject, SubjectContext } from './subjects.js'

export interface Settings {
  readonly reps: number
  readonly connections: number
  readonly durationSec: number
  readonly warmupSec: number
  /** Quiet time after the first 2xx before idle RSS is read. */
  readonly idleMs: number
  readonly startupTimeoutMs: number
}

export interface LoadRun {
  readonly rps: number
  readonly ok2xx: number
  readonly non2xx: number
  readonly errors: number
  readonly timeouts: number
  readonly seconds: number
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number }
  /** CPU time (user + system) the subject spent per 2xx answer during the measured run, in µs. Robust to a
   *  busy machine where req/s is not: it counts the subject's own work, not the time it waited for a core. */
  readonly cpuUsPerRequest?: number
}

export interface Round {
  readonly startupMs: number
  readonly firstStatus: number
  readonly idleRssMiB: number
  readonly loadedRssMiB: number | undefined
  readonly peakRssMiB: number
  /** keyed by scenario `<payload>-<mode>` */
  readonly load: Record<string, LoadRun>
}

export function scenarioName(p: Payload): string {
  return `${p.name}-${p.mode}`
}

/** Spawn → first 2xx on a real event at `path`, polling with real events (fresh id each) every 2 ms. */
export async function awaitFirst2xx(path: string, port: number, payload: Payload, timeoutMs: number, spawnedAt: number, exited: () => boolean): Promise<{ ms: number; status: number }> {
  const deadline = spawnedAt + timeoutMs
  let last: number | undefined
  while (performance.now() < deadline) {
    if (exited()) throw new Error('process exited before answering')
    const { headers, body } = materialize(payload, randomUUID())
    last = await post(port, path, headers, body)
    if (last !== undefined && last >= 200 && last < 300) return { ms: performance.now() - spawnedAt, status: last }
    await sleep(2)
  }
  throw new Error(`no 2xx within ${timeoutMs} ms (last status ${String(last ?? 'connection refused')})`)
}

async function loadWorker(ctx: SubjectContext, port: number, path: string, payload: Payload, connections: number, durationSec: number, amount = 0): Promise<LoadRun> {
  const cfg = { url: `http://127.0.0.1:${port}${path}`, headers: payload.headers, body: payload.body, connections, durationSec, warmupSec: 0, amount }
  const timeoutMs = amount > 0 ? 3_600_000 : durationSec * 1000 + 30_000
  const r = await runToEnd({ command: ctx.node, args: [join(ctx.root, 'bench', 'load-worker.mjs'), JSON.stringify(cfg)], env: ctx.env, cwd: ctx.root }, timeoutMs)
  if (r.code !== 0) throw new Error(`load worker failed (exit ${String(r.code)}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as LoadRun
}

/** Warm-up run (discarded), then the measured run; the subject's CPU time is read around the measured one. */
export async function runLoad(ctx: SubjectContext, pid: number, port: number, path: string, payload: Payload, settings: Settings): Promise<LoadRun> {
  if (settings.warmupSec > 0) await loadWorker(ctx, port, path, payload, settings.connections, settings.warmupSec)
  const cpu0 = await cpuMsOf(pid)
  const run = await loadWorker(ctx, port, path, payload, settings.connections, settings.durationSec)
  const cpu1 = await cpuMsOf(pid)
  // The load worker's own start-up is included in the window but the subject is idle then.
  return run.ok2xx > 0 ? { ...run, cpuUsPerRequest: ((cpu1 - cpu0) * 1000) / run.ok2xx } : run
}

export async function round(subject: Subject, ctx: SubjectContext, payloads: readonly Payload[], settings: Settings): Promise<Round> {
  const port = await freePort()
  const spec = subject.spawn(port, ctx)
  const first = payloads[0]
  if (first === undefined) throw new Error(`no payloads for ${subject.id}`)
  const proc = start({ ...spec, cwd: ctx.root })
  let exited = false
  proc.child.once('exit', () => {
    exited = true
  })
  try {
    let up: { ms: number; status: number }
    try {
      up = await awaitFirst2xx(subject.path, port, first, settings.startupTimeoutMs, proc.spawnedAt, () => exited)
    } catch (err) {
      throw new Error(`${(err as Error).message}; stderr: ${proc.stderrTail().trim().split('\n').slice(-3).join(' | ')}`)
    }
    await sleep(settings.idleMs)
    const idle = await memoryOf(proc.pid)
    const load: Record<string, LoadRun> = {}
    let loadedRssMiB: number | undefined
    if (subject.throughput) {
      for (const p of payloads) {
        load[scenarioName(p)] = await runLoad(ctx, proc.pid, port, subject.path, p, settings)
        loadedRssMiB = (await memoryOf(proc.pid)).rssMiB
      }
    }
    const after = await memoryOf(proc.pid)
    // VmHWM is the kernel's high-water mark, but it is only raised when memory is unmapped: pages a runtime
    // gives back with madvise (V8, WebAssembly, malloc) lower VmRSS without raising it first, so a later VmHWM
    // can read below an RSS sampled earlier in the round (seen in CI: PGlite's auto-recover, idle > peak).
    // The peak is the highest of all of this round's readings.
    const peakRssMiB = Math.max(after.peakMiB, after.rssMiB, idle.rssMiB, loadedRssMiB ?? 0)
    return { startupMs: up.ms, firstStatus: up.status, idleRssMiB: idle.rssMiB, loadedRssMiB, peakRssMiB, load }
  } finally {
    await stop(proc)
  }
}

export interface Spread {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly n: number
  readonly samples: readonly number[]
}

export function spread(samples: readonly number[]): Spread {
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  if (n === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n, samples }
  const mid = Math.floor(n / 2)
  const median = n % 2 === 1 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2
  return { median, min: sorted[0] ?? Number.NaN, max: sorted[n - 1] ?? Number.NaN, n, samples }
}

export interface SoakResult {
  readonly events: readonly number[]
  readonly rssMiB: readonly number[]
  /** RSS after the last step ÷ RSS after the first (target: ≤ 1.10 for 1M vs 100k). */
  readonly ratio: number
  /** --soak-gc: the same steps in a second process, read after two full garbage collections (a diagnosis). */
  readonly afterFullGc?: { readonly rssMiB: readonly number[]; readonly heapUsedMiB: readonly number[] }
}

const GC_LINE = 'kube-reflex-bench-gc '

/** A series' last reading ÷ its first (the soaks' ratio); NaN when it is empty. */
export function lastOverFirst(xs: readonly number[]): number {
  return (xs[xs.length - 1] ?? Number.NaN) / (xs[0] ?? Number.NaN)
}

/** Memory under sustained load: RSS after each cumulative step of events (e.g. 100k, then 1M). With `gc`,
 *  also the same steps in a second process started with --expose-gc and bench/gc-on-signal.cjs, read after two
 *  full collections: what the process keeps, as against what V8 has not collected yet. */
export async function soak(subject: Subject, ctx: SubjectContext, payload: Payload, settings: Settings, steps: readonly number[], gc = false): Promise<SoakResult> {
  const plain = await soakRun(subject, ctx, payload, settings, steps, false)
  const result = { events: steps, rssMiB: plain.rssMiB, ratio: lastOverFirst(plain.rssMiB) }
  if (!gc) return result
  const collected = await soakRun(subject, ctx, payload, settings, steps, true)
  return { ...result, afterFullGc: { rssMiB: collected.rssMiB, heapUsedMiB: collected.heapUsedMiB } }
}

async function soakRun(subject: Subject, ctx: SubjectContext, payload: Payload, settings: Settings, steps: readonly number[], gc: boolean): Promise<{ rssMiB: number[]; heapUsedMiB: number[] }> {
  const port = await freePort()
  const spec = subject.spawn(port, ctx)
  const proc = start({ ...spec, args: gc ? ['--expose-gc', '--require', join(ctx.root, 'bench', 'gc-on-signal.cjs'), ...spec.args] : spec.args, cwd: ctx.root })
  let exited = false
  proc.child.once('exit', () => {
    exited = true
  })
  // What bench/gc-on-signal.cjs reports, line by line.
  const reports: { rssMiB: number; heapUsedMiB: number }[] = []
  let partial = ''
  proc.child.stderr?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n')
    partial = lines.pop() ?? ''
    for (const l of lines) if (l.startsWith(GC_LINE)) reports.push(JSON.parse(l.slice(GC_LINE.length)) as { rssMiB: number; heapUsedMiB: number })
  })
  try {
    await awaitFirst2xx(subject.path, port, payload, settings.startupTimeoutMs, proc.spawnedAt, () => exited)
    const rssMiB: number[] = []
    const heapUsedMiB: number[] = []
    let sent = 0
    for (const step of steps) {
      await loadWorker(ctx, port, subject.path, payload, settings.connections, 0, step - sent)
      sent = step
      await sleep(settings.idleMs)
      if (!gc) {
        rssMiB.push((await memoryOf(proc.pid)).rssMiB)
        continue
      }
      const wanted = reports.length + 1
      proc.child.kill('SIGUSR2')
      const deadline = Date.now() + 10_000
      while (reports.length < wanted && Date.now() < deadline) await sleep(20)
      const m = reports[wanted - 1]
      if (m === undefined) throw new Error('the soak subject did not report after a full GC (bench/gc-on-signal.cjs)')
      rssMiB.push(m.rssMiB)
      heapUsedMiB.push(m.heapUsedMiB)
    }
    return { rssMiB, heapUsedMiB }
  } finally {
    await stop(proc)
  }
}
