// The `services` CLI as people and CI use it: eval-able exports on stdout, idempotent start,
// status, environment pass-through, stop. Runs with its own TMPDIR so it never touches a
// developer's own CLI session.
import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { processGone } from './process-gone.js'

const exec = promisify(execFile)
const cli = path.resolve(import.meta.dirname, '../../scripts/test-services/cli.mjs')

void t.test('services CLI', async (t) => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'services-cli-'))
  // The cluster runs as the postgres user when we are root; it must be able to traverse this.
  chmodSync(tmp, 0o755)
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp }
  delete env.DATABASE_URL
  delete env.KAFKA_BROKERS
  delete env.KUBECONFIG
  const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => exec(process.execPath, [cli, ...args], { env: { ...env, ...extra } })
  t.teardown(async () => {
    await run(['stop', '--all']).catch(() => undefined)
    rmSync(tmp, { recursive: true, force: true })
  })

  // Exactly what a developer types: eval the output in a POSIX shell.
  const shell = await exec('sh', ['-c', `eval "$("${process.execPath}" "${cli}" start postgres)" && printf %s "$DATABASE_URL"`], { env })
  const url = shell.stdout
  t.match(url, /^postgres:\/\/kube_reflex:kube_reflex@127\.0\.0\.1:\d+\/kube_reflex$/, 'eval sets DATABASE_URL')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const one = await client.query('SELECT 1 AS one')
  await client.end()
  t.same(one.rows, [{ one: 1 }], 'the exported URL reaches the started server')

  const status = await run(['status'])
  const line = status.stdout.split('\n').find((l) => l.startsWith('postgres\t'))
  t.match(line, /^postgres\trunning\tsession=cli\tpids=\d+\t/, 'status lists the running service')
  const pid = Number(/pids=(\d+)/.exec(line ?? '')?.[1])

  const again = await run(['start', 'postgres'])
  t.equal(again.stdout, `export DATABASE_URL='${url}'\n`, 'second start reuses the running server')
  t.match(again.stderr, /already running/)

  const given = await run(['start', 'postgres'], { DATABASE_URL: "postgres://someone:it's@db.example:5432/x" })
  t.equal(given.stdout, `export DATABASE_URL='postgres://someone:it'\\''s@db.example:5432/x'\n`, 'a DATABASE_URL from the environment is passed through, shell-quoted')
  t.match(given.stderr, /using DATABASE_URL from the environment/)

  const stopped = await run(['stop'])
  t.match(stopped.stderr, /\[postgres\] stopped/)
  t.ok(await processGone(pid), 'postmaster gone after `stop`')
  t.equal((await run(['status'])).stdout, 'no services recorded\n')

  await t.rejects(run(['start', 'nosuch']), /unknown service "nosuch"/, 'unknown names are rejected')
})
