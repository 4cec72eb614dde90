#!/usr/bin/env node
// `npm test`: build, start the real services the suites need (PostgreSQL, Kafka, a Kubernetes API
// server — unless DATABASE_URL / KAFKA_BROKERS / KUBECONFIG already point at your own), run the whole
// tap suite against them, stop what was started, and end with one line: "N passed, N failed".
// Extra arguments go to tap (e.g. `npm test -- test/functions/classify`).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const log = (msg) => process.stderr.write(`[test] ${msg}\n`)

function run(cmd, argv, env, onStdout) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: root, env, stdio: ['ignore', onStdout ? 'pipe' : 'inherit', 'inherit'] })
    if (onStdout) {
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk)
        onStdout(chunk.toString('utf8'))
      })
    }
    const forward = (sig) => child.kill(sig)
    process.on('SIGINT', forward)
    process.on('SIGTERM', forward)
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward)
      process.off('SIGTERM', forward)
      resolve(code ?? (signal ? 1 : 0))
    })
  })
}

const WANTED = { postgres: 'DATABASE_URL', kafka: 'KAFKA_BROKERS', kubernetes: 'KUBECONFIG' }

async function main() {
  const env = { ...process.env }
  if ((await run('npm', ['run', '-s', 'build'], env)) !== 0) {
    log('build failed')
    process.stdout.write('0 passed, 1 failed\n')
    return 1
  }
  let services
  const layer = join(root, 'scripts', 'test-services', 'index.mjs')
  const choice = env.KUBE_REFLEX_TEST_SERVICES ?? 'postgres,kafka,kubernetes'
  const names = choice === 'none' ? [] : choice.split(',').map((s) => s.trim()).filter((n) => n in WANTED && !env[WANTED[n]])
  if (names.length > 0 && existsSync(layer)) {
    const { startServices } = await import(layer)
    log(`starting real services: ${names.join(', ')}`)
    const started = Date.now()
    services = await startServices(names, { log })
    Object.assign(env, services.env)
    log(`services ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  let summary = ''
  let tail = ''
  let code
  try {
    code = await run('npx', ['tap', '--reporter=terse', '--no-color', ...args], env, (text) => {
      tail = (tail + text).slice(-4096)
      const m = [...tail.matchAll(/^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?(?:, skip: (\d+))?/gm)].pop()
      if (m) summary = m
    })
  } finally {
    if (services) {
      log('stopping services')
      await services.stop().catch((err) => log(`stopping services failed: ${err?.message ?? err}`))
    }
  }
  if (summary) {
    const [, total, pass, fail = '0', skip = '0'] = summary
    const failed = Number(fail) || (code !== 0 && Number(pass) === Number(total) ? 1 : 0)
    process.stdout.write(`${pass} passed, ${failed} failed${skip !== '0' ? `, ${skip} skipped` : ''}\n`)
  } else {
    process.stdout.write(`0 passed, 1 failed\n`)
  }
  return code
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    log(err?.stack ?? String(err))
    process.stdout.write('0 passed, 1 failed\n')
    process.exitCode = 1
  },
)
