import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { parseOptions } from '../../cli/commands/serve.js'
import { toBinary } from '../../shared/cloudevent.js'
import { apiServerEvent } from '../helpers/events.js'
import { coreEvent } from '../helpers/k8s-fixtures.js'

const bin = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url))

t.test('parseOptions: flags override env, env overrides defaults', async (t) => {
  const o = parseOptions(['classify'], {})
  if (o === 'help') throw new Error('help')
  t.same(o.functions, ['classify'])
  t.equal(o.host.port, 8080)
  t.equal(o.host.host, '0.0.0.0')
  const e = parseOptions(['classify'], { PORT: '9000', LOG_LEVEL: 'debug' })
  if (e === 'help') throw new Error('help')
  t.equal(e.host.port, 9000)
  t.equal(e.host.logLevel, 'debug')
  const f = parseOptions(['classify', '--port', '7000', '--host', '127.0.0.1'], { PORT: '9000' })
  if (f === 'help') throw new Error('help')
  t.equal(f.host.port, 7000)
  t.equal(f.host.host, '127.0.0.1')
  const all = parseOptions(['all'], {})
  if (all === 'help') throw new Error('help')
  t.same(all.functions, ['classify', 'alert', 'auto-recover', 'persist'])
  t.equal(parseOptions(['--help'], {}), 'help')
})

t.test('parseOptions: every mistake is named', async (t) => {
  t.throws(() => parseOptions([], {}), /which function/)
  t.throws(() => parseOptions(['classify', 'extra'], {}), /unexpected argument 'extra'/)
  t.throws(() => parseOptions(['classify'], { PORT: 'eighty' }), /PORT must be an integer/)
  t.throws(() => parseOptions(['classify', '--port', '99999'], {}), { name: 'UsageError', message: "--port must be 0..65535 (got '99999')" }, 'a flag is named as a flag')
  t.throws(() => parseOptions(['classify', '-p', 'abc'], { PORT: '8080' }), { name: 'UsageError', message: /--port must be 0\.\.65535/ })
  t.throws(() => parseOptions(['classify', '--host='], {}), { name: 'UsageError', message: '--host needs a value' })
  const both = t.throws(() => parseOptions(['classify'], { LOG_LEVEL: 'loud', PORT: '-1' })) as Error
  t.match(both.message, /LOG_LEVEL must be one of/)
  t.match(both.message, /PORT must be an integer/)
})

t.test('the built binary serves classify, answers a real event, and stops cleanly on SIGTERM', async (t) => {
  const child = spawn(process.execPath, [bin, 'serve', 'classify', '--port', '0', '--host', '127.0.0.1'], { env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let log = ''
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      log += c.toString()
      const m = /"port":(\d+)/.exec(log)
      if (m?.[1] !== undefined) resolve(Number(m[1]))
    })
    child.on('exit', () => reject(new Error(`exited early: ${log}`)))
  })
  const { headers, body } = toBinary(apiServerEvent(coreEvent({ reason: 'OOMKilling', kind: 'Node', name: 'node-2', component: 'kernel-monitor', message: 'Memory cgroup out of memory: Killed process 1 (java)' })))
  const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers, body })
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-category'), 'oom')
  t.equal((await fetch(`http://127.0.0.1:${port}/health/readiness`)).status, 200)
  child.kill('SIGTERM')
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 0)
  t.match(log, /stopping: finishing in-flight events/)
})

t.test('bad configuration refuses to start with the variable named', async (t) => {
  const child = spawn(process.execPath, [bin, 'serve', 'classify'], { env: { ...process.env, PORT: '0', CLASSIFY_RULES_FILE: '/nonexistent.yaml' }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 2)
  t.match(err, /CLASSIFY_RULES_FILE names a file that does not exist: \/nonexistent\.yaml/)
})
