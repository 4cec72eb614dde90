#!/usr/bin/env node
// `npm run -s services -- <command> [service...]`
//   start [postgres] [kafka] [kubernetes]   start (all by default), print `export` lines on stdout
//   stop [--all]                             stop what `start` started (--all: every recorded session)
//   status                                   what runs, with connection info
//   provision [service...]                   install/build only, with timings
// Progress goes to stderr so that `eval "$(npm run -s services -- start)"` works.
import process from 'node:process'
import { ENV_VARS, listRecorded, provision, startServices, stopRecorded } from './index.mjs'

const CLI_SESSION = 'cli'
const log = (line) => process.stderr.write(line + '\n')

/** Single-quoted for POSIX shells. */
const shellQuote = (value) => `'${value.replaceAll("'", `'\\''`)}'`

async function start(names) {
  const wanted = names.length === 0 ? Object.keys(ENV_VARS) : names
  // Idempotent: services this CLI already runs are reused, not started twice. A variable set in
  // the environment wins over both (startServices passes it through without starting anything).
  const running = listRecorded({ session: CLI_SESSION }).filter((s) => s.running && wanted.includes(s.name))
  const givenInEnv = (name) => (process.env[ENV_VARS[name]] ?? '') !== ''
  /** @type {Record<string, string>} */
  const env = {}
  const reused = new Set()
  for (const s of running) {
    if (givenInEnv(s.name)) continue
    log(`[${s.name}] already running (session ${CLI_SESSION})`)
    Object.assign(env, s.env)
    reused.add(s.name)
  }
  const toStart = wanted.filter((n) => !reused.has(n))
  if (toStart.length > 0) {
    const started = await startServices(toStart, { log, session: CLI_SESSION })
    Object.assign(env, started.env)
  }
  for (const [key, value] of Object.entries(env)) process.stdout.write(`export ${key}=${shellQuote(value)}\n`)
}

function status() {
  const recorded = listRecorded()
  if (recorded.length === 0) {
    process.stdout.write('no services recorded\n')
    return
  }
  for (const s of recorded) {
    const pids = s.processes.map((p) => p.pid).join(',')
    const info = Object.entries(s.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')
    process.stdout.write(`${s.name}\t${s.running ? 'running' : 'stopped'}\tsession=${s.session}\tpids=${pids}\t${info}\n`)
  }
}

async function main(argv) {
  const [command, ...rest] = argv
  const names = rest.filter((a) => !a.startsWith('--'))
  switch (command) {
    case 'start':
      await start(names)
      return 0
    case 'stop': {
      const stopped = await stopRecorded(rest.includes('--all') ? { log } : { session: CLI_SESSION, log })
      if (stopped.length === 0) log('nothing to stop')
      return 0
    }
    case 'status':
      status()
      return 0
    case 'provision': {
      const timings = await provision(names, { log })
      process.stdout.write(Object.entries(timings).map(([n, s]) => `${n}: ${s} s`).join('\n') + '\n')
      return 0
    }
    default:
      log('usage: services start [postgres] [kafka] [kubernetes] | stop [--all] | status | provision [service...]')
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code },
  (error) => {
    log(error instanceof Error ? (error.stack ?? error.message) : String(error))
    process.exitCode = 1
  },
)
