// Start-up failures are bounded and explain themselves (last log lines), and a start that is
// interrupted by SIGINT leaves no service process behind.
import t from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnDetached, stopGroup, waitReady } from '../../scripts/test-services/lib/process.mjs'
import { processGone } from './process-gone.js'

// The interrupted start spawns a JVM: allow for a loaded machine (the default file timeout is 120 s).
t.setTimeout(300_000)

const cli = path.resolve(import.meta.dirname, '../../scripts/test-services/cli.mjs')

/** Pids of live processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(needle)) found.push(Number(name))
    } catch {
      // exited meanwhile
    }
  }
  return found
}

void t.test('a service that never becomes ready: bounded wait, error carries the log tail', async (t) => {
  const dir = t.testdir({})
  const logFile = path.join(dir, 'svc.log')
  const pid = spawnDetached('sh', ['-c', 'echo "binding port 1234: address already in use"; exec sleep 60'], { logFile })
  t.teardown(() => stopGroup(pid, { graceMs: 1000 }))
  const started = Date.now()
  await t.rejects(
    waitReady({ name: 'Fake', pid, logFile, timeoutMs: 1000, probe: () => Promise.resolve(false) }),
    /^Fake did not become ready in 1 s; last log lines \(.*svc\.log\):\nbinding port 1234: address already in use$/,
  )
  t.ok(Date.now() - started < 5000, 'the wait is bounded')
  await stopGroup(pid, { graceMs: 1000 })
  t.ok(await processGone(pid), 'stopGroup leaves nothing')
})

void t.test('a service that dies during start-up is reported at once with its log', async (t) => {
  const dir = t.testdir({})
  const logFile = path.join(dir, 'svc.log')
  const pid = spawnDetached('sh', ['-c', 'echo "FATAL: bad config"; exit 3'], { logFile })
  const started = Date.now()
  await t.rejects(
    waitReady({ name: 'Fake', pid, logFile, timeoutMs: 30_000, probe: () => Promise.resolve(false) }),
    /Fake exited before becoming ready \(pid \d+\); last log lines .*\nFATAL: bad config/,
  )
  t.ok(Date.now() - started < 10_000, 'does not wait for the timeout')
})

void t.test('stopGroup also kills what the service forked, and SIGKILLs what ignores SIGTERM', async (t) => {
  const dir = t.testdir({})
  const logFile = path.join(dir, 'svc.log')
  const pid = spawnDetached('sh', ['-c', "trap '' TERM; sleep 60 & sleep 60 & wait"], { logFile })
  await new Promise((resolve) => setTimeout(resolve, 200))
  await stopGroup(pid, { graceMs: 500 })
  t.ok(await processGone(pid), 'the whole group is gone')
})

void t.test('SIGINT while `start` is still waiting stops what it started', async (t) => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'services-sigint-'))
  chmodSync(tmp, 0o755)
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp }
  delete env.KAFKA_BROKERS
  const child = spawn(process.execPath, [cli, 'start', 'kafka'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  // Interrupt as soon as `start` has a process of its own running: the storage formatter (a JVM run to
  // completion) or the broker itself. Either must be stopped; the first can take long on a loaded machine.
  const deadline = Date.now() + 180_000
  while (processesMentioning(tmp).length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(processesMentioning(tmp).length > 0, 'a process of the start is running')
  child.kill('SIGINT')
  const { signal } = await exited
  t.equal(signal, 'SIGINT', 'the CLI ends by the signal')
  t.equal(stdout, '', 'no exports printed for an interrupted start')
  t.same(processesMentioning(tmp), [], 'no process of the interrupted start is left')
})
