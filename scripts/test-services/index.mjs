// Test-services layer: real PostgreSQL, Kafka (KRaft) and Kubernetes API server on 127.0.0.1.
// See README.md in this folder. Used by the `services` npm script (cli.mjs) and by the tests
// (test/services/env.ts).
import process from 'node:process'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import path from 'node:path'
import { ensureDir, runRoot, seconds, stopGroup, isAlive, stopRunning } from './lib/process.mjs'
import { createPostgres, provisionPostgres } from './postgres.mjs'

export { findPostgresBin } from './postgres.mjs'
export { kubernetesHome } from './kubernetes.mjs'
import { createKafka, provisionKafka } from './kafka.mjs'
import { createKubernetes, provisionKubernetes } from './kubernetes.mjs'

/** Service name -> the environment variable that carries its connection info. */
export const ENV_VARS = Object.freeze({ postgres: 'DATABASE_URL', kafka: 'KAFKA_BROKERS', kubernetes: 'KUBECONFIG' })
export const SERVICE_NAMES = Object.freeze(/** @type {const} */ (['postgres', 'kafka', 'kubernetes']))

const modules = {
  postgres: { provision: provisionPostgres, create: createPostgres },
  kafka: { provision: provisionKafka, create: createKafka },
  kubernetes: { provision: provisionKubernetes, create: createKubernetes },
}

const defaultLog = (line) => process.stderr.write(line + '\n')

/** @param {readonly string[] | undefined} names */
function normalise(names) {
  const list = names === undefined || names.length === 0 ? [...SERVICE_NAMES] : [...names]
  for (const n of list) if (!SERVICE_NAMES.includes(/** @type {never} */ (n))) throw new Error(`unknown service "${n}" (known: ${SERVICE_NAMES.join(', ')})`)
  // Keep a fixed order so teardown order (reverse) is predictable.
  return SERVICE_NAMES.filter((n) => list.includes(n))
}

/**
 * Installs/builds what the named services need (cached under ~/.cache/kube-reflex), timing each.
 * @param {readonly string[]} [names]
 * @param {{ log?: (line: string) => void }} [options]
 */
export async function provision(names, { log = defaultLog } = {}) {
  /** @type {Record<string, number>} */
  const timings = {}
  for (const name of normalise(names)) {
    const started = Date.now()
    await modules[name].provision({ log })
    timings[name] = Number(seconds(started))
    log(`[provision] ${name}: ${timings[name]} s`)
  }
  return timings
}

function writeState(dir, name, handle) {
  const file = path.join(dir, 'state.json')
  writeFileSync(file, JSON.stringify({ name, owner: process.pid, env: handle.env, ...handle.toState() }, null, 2) + '\n')
  chmodSync(file, 0o644)
}

/**
 * Starts the named services (all by default) and waits until each answers.
 * A service whose variable (DATABASE_URL / KAFKA_BROKERS / KUBECONFIG) is already set in
 * `env` is not started: the given value is passed through and no handle is returned for it.
 * @param {readonly string[]} [names]
 * @param {{ log?: (line: string) => void, env?: NodeJS.ProcessEnv, reuseEnv?: boolean, session?: string, controllers?: boolean, durable?: boolean }} [options]
 */
export async function startServices(names, { log = defaultLog, env = process.env, reuseEnv = true, session, controllers = true, durable = false } = {}) {
  const sessionDir = ensureDir(path.join(ensureDir(runRoot(env)), session ?? `${process.pid}-${Date.now().toString(36)}`))
  /** @type {Record<string, string>} */
  const resultEnv = {}
  /** @type {Record<string, ReturnType<typeof createPostgres>>} */
  const services = {}
  const toStart = []
  for (const name of normalise(names)) {
    const given = env[ENV_VARS[name]]
    if (reuseEnv && given !== undefined && given !== '') {
      log(`[${name}] using ${ENV_VARS[name]} from the environment; not starting one`)
      resultEnv[ENV_VARS[name]] = given
      continue
    }
    toStart.push(name)
  }

  const stopAll = async () => {
    const errors = []
    for (const name of [...SERVICE_NAMES].reverse()) {
      const handle = services[name]
      if (handle === undefined) continue
      try {
        await handle.stop()
      } catch (error) {
        errors.push(error)
      }
    }
    // Only what this call created: a CLI session may hold services started by earlier calls.
    for (const name of Object.keys(services)) rmSync(path.join(sessionDir, name), { recursive: true, force: true })
    try {
      if (readdirSync(sessionDir).length === 0) rmSync(sessionDir, { recursive: true, force: true })
    } catch {
      // already gone
    }
    if (errors.length > 0) throw new AggregateError(errors, `stopping services failed: ${errors.map(String).join('; ')}`)
  }

  // If we are interrupted while starting, the detached children would outlive us: stop them,
  // then let the signal take its default effect.
  const onSignal = (signal) => {
    log(`[services] ${signal} while starting; stopping what was started`)
    stopRunning('SIGTERM')
    stopAll().finally(() => {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
      process.kill(process.pid, signal)
    })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    for (const name of toStart) await modules[name].provision({ log })
    const results = await Promise.allSettled(
      toStart.map(async (name) => {
        const dir = ensureDir(path.join(sessionDir, name))
        const handle = modules[name].create({ dir, log, controllers, durable })
        services[name] = wrapPersisting(dir, name, handle)
        await services[name].start()
        Object.assign(resultEnv, handle.env)
      }),
    )
    const failures = results.filter((r) => r.status === 'rejected').map((r) => /** @type {PromiseRejectedResult} */ (r).reason)
    if (failures.length > 0) {
      await stopAll().catch((error) => log(`[services] cleanup after failed start: ${String(error)}`))
      throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map((f) => (f instanceof Error ? f.message : String(f))).join('\n'))
    }
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
  return { env: resultEnv, services, sessionDir, stop: stopAll }
}

/** Keeps <dir>/state.json current across restarts so `status` / `stop` see the live pids. */
function wrapPersisting(dir, name, handle) {
  for (const method of ['start', 'stop', 'startApiServer', 'stopApiServer']) {
    const original = handle[method]
    if (typeof original !== 'function') continue
    handle[method] = async () => {
      try {
        await original.call(handle)
      } finally {
        // Also after a failed start: the spawned pid must be on record for `stop`.
        writeState(dir, name, handle)
      }
    }
  }
  return handle
}

/**
 * Recorded services under the run root, optionally only one session's.
 * @param {{ session?: string, env?: NodeJS.ProcessEnv }} [options]
 */
export function listRecorded({ session, env = process.env } = {}) {
  const root = runRoot(env)
  if (!existsSync(root)) return []
  const sessions = session === undefined ? readdirSync(root) : [session]
  const found = []
  for (const s of sessions) {
    const sdir = path.join(root, s)
    if (!existsSync(sdir)) continue
    for (const name of readdirSync(sdir)) {
      const file = path.join(sdir, name, 'state.json')
      if (!existsSync(file)) continue
      try {
        const state = JSON.parse(readFileSync(file, 'utf8'))
        const processes = Array.isArray(state.processes) ? state.processes : []
        found.push({ session: s, dir: path.join(sdir, name), ...state, processes, running: processes.some((p) => isAlive(p.pid)) })
      } catch {
        // a half-written state file of a crashed start; stop --all removes the dir
      }
    }
  }
  return found
}

/**
 * Stops services recorded on disk (those of `session`, or of every session) and removes their
 * run directories. Used by the CLI's `stop`, and as a safety net by CI.
 * @param {{ session?: string, env?: NodeJS.ProcessEnv, log?: (line: string) => void }} [options]
 */
export async function stopRecorded({ session, env = process.env, log = defaultLog } = {}) {
  const recorded = listRecorded({ session, env })
  const order = (n) => SERVICE_NAMES.length - SERVICE_NAMES.indexOf(n)
  recorded.sort((a, b) => order(a.name) - order(b.name))
  for (const service of recorded) {
    for (const p of [...service.processes].reverse()) {
      await stopGroup(p.pid, { signal: p.signal ?? 'SIGTERM', leaderOnly: p.leaderOnly === true, graceMs: typeof p.graceMs === 'number' ? p.graceMs : 15_000 })
    }
    log(`[${service.name}] stopped (session ${service.session})`)
  }
  const root = runRoot(env)
  const sessions = session === undefined ? (existsSync(root) ? readdirSync(root) : []) : [session]
  for (const s of sessions) rmSync(path.join(root, s), { recursive: true, force: true })
  return recorded.map((s) => s.name)
}
