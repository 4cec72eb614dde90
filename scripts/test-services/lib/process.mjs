// Process, port and directory plumbing shared by the service modules.
// Every service runs as a detached child (its own process group, see setsid(2) via `detached`),
// so that stopping it is one signal to the group and nothing it forked can outlive it.
import process from 'node:process'
import { setTimeout } from 'node:timers'
import { spawn, execFile } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdirSync, openSync, closeSync, readFileSync, readdirSync, existsSync, statSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

export const execFileP = promisify(execFile)

/** Root of the per-user build cache: `${XDG_CACHE_HOME:-$HOME/.cache}/kube-reflex`. */
export function cacheRoot(env = process.env) {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : path.join(homedir(), '.cache')
  return path.join(base, 'kube-reflex')
}

/** Root of run state (data dirs, logs, state.json): `${TMPDIR:-/tmp}/kube-reflex-services`. */
export function runRoot(env = process.env) {
  const base = env.TMPDIR && env.TMPDIR !== '' ? env.TMPDIR : tmpdir()
  return path.join(base, 'kube-reflex-services')
}

/** mkdir -p with a mode that lets a dropped-privilege service user traverse it. */
export function ensureDir(dir, mode = 0o755) {
  mkdirSync(dir, { recursive: true, mode })
  return dir
}

/**
 * A port the kernel just handed out on 127.0.0.1. There is a window between closing the probe
 * socket and the service binding it; callers that need several ports ask for them all first so
 * the kernel does not hand the same one out twice.
 * @param {number} [count]
 * @returns {Promise<number[]>}
 */
export async function freePorts(count = 1) {
  const servers = []
  try {
    const ports = []
    for (let i = 0; i < count; i++) {
      const server = createServer()
      servers.push(server)
      await new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => resolve(undefined))
      })
      const address = server.address()
      if (address === null || typeof address === 'string') throw new Error('unexpected listen address')
      ports.push(address.port)
    }
    return ports
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))))
  }
}

/**
 * Starts `command` detached in its own process group, stdout+stderr appended to `logFile`.
 * @param {string} command
 * @param {string[]} args
 * @param {{ logFile: string, cwd?: string, env?: NodeJS.ProcessEnv, uid?: number, gid?: number }} options
 * @returns {number} pid (= process group id)
 */
export function spawnDetached(command, args, { logFile, cwd, env, uid, gid }) {
  const fd = openSync(logFile, 'a')
  try {
    /** @type {import('node:child_process').SpawnOptions} */
    const options = { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env }
    if (cwd !== undefined) options.cwd = cwd
    if (uid !== undefined) options.uid = uid
    if (gid !== undefined) options.gid = gid
    const child = spawn(command, args, options)
    if (child.pid === undefined) throw new Error(`could not start ${command}`)
    // The service must survive this process (the CLI exits after printing exports).
    child.unref()
    // A spawn failure (ENOENT) arrives asynchronously; it surfaces as a readiness failure with the log.
    child.on('error', () => undefined)
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/** @param {number} pid */
export function isAlive(pid) {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: exists but belongs to another user (postgres runs as the postgres user when we are root).
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM'
  }
  // A zombie (exited, not yet reaped by us) still answers kill(0); it is gone for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state !== 'Z' && state !== 'X'
  } catch {
    return existsSync(`/proc/${pid}`)
  }
}

/** Whether any process is still in process group `pgid`. */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    return /** @type {NodeJS.ErrnoException} */ (error).code === 'EPERM'
  }
  // kill(0) on a group succeeds while zombies remain; check /proc for a live member.
  return listGroup(pgid).length > 0
}

/** Live (non-zombie) pids whose process group is `pgid`. */
export function listGroup(pgid) {
  const pids = []
  let entries = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return pids
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // fields after comm: state ppid pgrp ...
      if (Number(rest[2]) === pgid && rest[0] !== 'Z' && rest[0] !== 'X') pids.push(Number(name))
    } catch {
      // raced with exit
    }
  }
  return pids
}


/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Stops a process group: `signal` to `signalTarget` (the group by default), then SIGKILL to the
 * whole group after `graceMs`, and waits until no member is left.
 * @param {number} pgid
 * @param {{ signal?: NodeJS.Signals, graceMs?: number, leaderOnly?: boolean }} [options]
 */
export async function stopGroup(pgid, { signal = 'SIGTERM', graceMs = 10_000, leaderOnly = false } = {}) {
  const send = (target, sig) => {
    try {
      process.kill(target, sig)
    } catch {
      // already gone
    }
  }
  if (!groupAlive(pgid) && !isAlive(pgid)) return
  send(leaderOnly ? pgid : -pgid, signal)
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    if (!groupAlive(pgid) && !isAlive(pgid)) return
    await sleep(100)
  }
  send(-pgid, 'SIGKILL')
  const hardDeadline = Date.now() + 5_000
  while (Date.now() < hardDeadline) {
    if (!groupAlive(pgid) && !isAlive(pgid)) return
    await sleep(50)
  }
  throw new Error(`process group ${pgid} survived SIGKILL`)
}

/** Last `lines` lines of a log file, for error messages. */
export function tailFile(file, lines = 20) {
  try {
    if (!existsSync(file) || statSync(file).size === 0) return '(log is empty)'
    const text = readFileSync(file, 'utf8')
    return text.trimEnd().split('\n').slice(-lines).join('\n')
  } catch (error) {
    return `(cannot read ${file}: ${String(error)})`
  }
}

/**
 * Polls `probe` until it returns true, the process dies, or `timeoutMs` passes. Failures name
 * the service, the bound, and carry the last log lines — the only useful clue on a CI machine.
 * @param {{ name: string, probe: () => Promise<boolean>, pid: number, logFile: string, timeoutMs: number, intervalMs?: number }} options
 */
export async function waitReady({ name, probe, pid, logFile, timeoutMs, intervalMs = 250 }) {
  const deadline = Date.now() + timeoutMs
  let lastError = ''
  while (Date.now() < deadline) {
    try {
      if (await probe()) return
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error)
    }
    if (!isAlive(pid)) {
      throw new Error(`${name} exited before becoming ready (pid ${pid}); last log lines (${logFile}):\n${tailFile(logFile)}`)
    }
    await sleep(intervalMs)
  }
  throw new Error(
    `${name} did not become ready in ${Math.round(timeoutMs / 1000)} s` +
      (lastError ? ` (last probe error: ${lastError})` : '') +
      `; last log lines (${logFile}):\n${tailFile(logFile)}`,
  )
}

/** Children of run() still running: an interrupted start stops them too (storage format, initdb, mvn). */
const running = new Set()

/** Sends `signal` to every command run() is still waiting for; returns how many there were. */
export function stopRunning(signal = 'SIGTERM') {
  for (const child of running) child.kill(signal)
  return running.size
}

/** Runs a command to completion, streaming its output to `log`; throws with its output on failure. */
export async function run(command, args, { log, cwd, env, uid, gid } = {}) {
  return new Promise((resolve, reject) => {
    /** @type {import('node:child_process').SpawnOptions} */
    const options = { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] }
    if (uid !== undefined) options.uid = uid
    if (gid !== undefined) options.gid = gid
    const child = spawn(command, args, options)
    running.add(child)
    let output = ''
    const onData = (chunk) => {
      const text = chunk.toString()
      output += text
      if (output.length > 200_000) output = output.slice(-100_000)
      if (log) for (const line of text.split('\n')) if (line.trim() !== '') log(line)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('error', (error) => {
      running.delete(child)
      reject(error)
    })
    child.on('close', (code) => {
      running.delete(child)
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(' ')} failed (exit ${code}):\n${output.trimEnd().split('\n').slice(-30).join('\n')}`))
    })
  })
}

/** Seconds since `start` (a Date.now() value), one decimal. */
export const seconds = (start) => ((Date.now() - start) / 1000).toFixed(1)
