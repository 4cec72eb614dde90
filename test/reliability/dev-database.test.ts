// `kube-reflex dev` with DATABASE_URL unreachable at start: it waits with a progress message naming
// DATABASE_URL on every attempt, and past DEV_DATABASE_WAIT_SECONDS exits with its own documented status
// (EXIT_DATABASE_UNAVAILABLE) and a message naming the variable — no stack trace, no exit 1 on the first try.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { dev, EXIT_DATABASE_UNAVAILABLE } from '../../cli/commands/dev.js'

/** A port on 127.0.0.1 that refuses connections: bound then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

void t.test('dev waits for an unreachable DATABASE_URL, then exits with its documented status', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-reflex-dev-db-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const replay = path.join(dir, 'events.ndjson')
  writeFileSync(replay, '')
  const port = await closedPort()
  const stderr = new PassThrough()
  let err = ''
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')))
  const started = Date.now()
  const code = await dev(['--replay', replay, '--once', '--data-dir', path.join(dir, 'data'), '--port', '0'], {
    stdout: new PassThrough(),
    stderr,
    env: { ...process.env, DATABASE_URL: `postgres://u:p@127.0.0.1:${port}/x`, DEV_DATABASE_WAIT_SECONDS: '5', LOG_LEVEL: 'silent' },
    cwd: dir,
    stopSignal: new AbortController().signal,
  })
  const took = Date.now() - started
  t.equal(code, EXIT_DATABASE_UNAVAILABLE, `exit status ${EXIT_DATABASE_UNAVAILABLE} (got ${code}; stderr: ${err.slice(0, 400)})`)
  t.match(err, /waiting for the database \(DATABASE_URL\).*attempt 1/, 'a progress message names DATABASE_URL')
  // 5 s, not less: on a loaded machine the first attempt alone (loading the functions, a refused connection)
  // can take seconds, and a second attempt must still fit in the wait.
  t.match(err, /attempt 2/, 'it retried')
  t.match(err, /gave up after 5s \(DEV_DATABASE_WAIT_SECONDS\)/, 'the final message names the wait setting')
  t.notMatch(err, /\n\s+at .+:\d+/, 'no stack trace')
  t.ok(took >= 4500 && took < 30_000, `it waited about the configured time (${took} ms)`)
})
