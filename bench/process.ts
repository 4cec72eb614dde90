// Child processes of the harness: spawn, OS memory figures, and a clean stop.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { request } from 'node:http'

export interface Spawned {
  readonly child: ChildProcess
  readonly pid: number
  /** performance.now() just before spawn(). */
  readonly spawnedAt: number
  /** Last lines the process wrote on stderr (shown when it fails). */
  stderrTail(): string
}

export interface SpawnSpec {
  readonly command: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
}

const live = new Set<ChildProcess>()

/** Stops every child still running (harness interrupted). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL')
}

export function start(spec: SpawnSpec): Spawned {
  const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'ignore', 'pipe'] })
  // Start-up is timed from spawn()'s return, not its call: spawn() forks the harness, and fork() copies the
  // page tables of the whole harness process first — time that grows with the harness's own memory, not the
  // subject's (bare node:http read 50 ms from an 80 MiB parent and 98 ms from an 880 MiB one; timed from the
  // return, 50 ms from both). spawn() returns once the child has exec'd its binary, so the subject's own
  // start (loading node, bootstrap, its modules) is all still counted (docs/BENCHMARKS.md, "Method").
  const spawnedAt = performance.now()
  live.add(child)
  child.once('exit', () => live.delete(child))
  let tail = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000)
  })
  if (child.pid === undefined) throw new Error(`could not spawn ${spec.command}`)
  return { child, pid: child.pid, spawnedAt, stderrTail: () => tail }
}

export async function stop(p: Spawned, graceMs = 5000): Promise<void> {
  const { child } = p
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs)
  })
  if ((await Promise.race([exited, late])) === 'late') {
    child.kill('SIGKILL')
    await exited
  }
  clearTimeout(timer)
}

/** Resident set size now and its peak (VmRSS, VmHWM from /proc/<pid>/status), in MiB. */
export async function memoryOf(pid: number): Promise<{ rssMiB: number; peakMiB: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
    if (m?.[1] === undefined) throw new Error(`${field} missing in /proc/${pid}/status`)
    return Number(m[1])
  }
  return { rssMiB: kb('VmRSS') / 1024, peakMiB: kb('VmHWM') / 1024 }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** One POST without keep-alive; resolves with the status, or undefined when the connection failed. */
export function post(port: number, path: string, headers: Record<string, string>, body: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode))
      res.on('error', () => resolve(undefined))
    })
    req.on('error', () => resolve(undefined))
    req.end(body)
  })
}

/** The environment every measured process starts from: this one's, without what would configure or slow it. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
  // Subjects get their configuration from the subject entry only. NODE_OPTIONS too: under tap (the smoke
  // test) it carries tap's process-info loader, which would load into every subject (docs/BENCHMARKS.md).
  // NODE_EXTRA_CA_CERTS too: Node reads and parses that whole bundle at every start — ≈ 55 ms per spawn with
  // a system CA file (bare node:http 54 → 110 ms on the committed machine, whose shell sets it), a constant
  // that no subject needs here (none makes a TLS call) and that would squeeze every start-up ratio towards 1.
  for (const k of ['PORT', 'HOST', 'DATABASE_URL', 'KUBECONFIG', 'K_SINK', 'LOG_LEVEL', 'KUBE_REFLEX_DATA_DIR', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS', 'OTEL_EXPORTER_OTLP_ENDPOINT']) delete env[k]
  env.NODE_ENV = 'production'
  return env
}

/** The last line of a command's stdout as JSON (`kube-reflex dev --json` prints its summary last); null when there is none. */
export function lastJsonLine(stdout: string): unknown {
  return JSON.parse(stdout.trim().split('\n').pop() ?? 'null') as unknown
}

/** Runs a command to completion and returns its stdout (for the load worker and probes). */
export function runToEnd(spec: SpawnSpec, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(spec.command, [...spec.args], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')))
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8000)))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      live.delete(child)
      resolve({ code, stdout, stderr, ms: performance.now() - t0 })
    })
  })
}

/** CPU time (user + system) the process has used so far, in ms (/proc/<pid>/stat fields 14 and 15). */
export async function cpuMsOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return ((utime + stime) * 1000) / CLOCK_TICKS
}

// USER_HZ: 100 on every Linux platform Node supports (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS = 100
