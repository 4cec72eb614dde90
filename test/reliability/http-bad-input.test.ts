// The bad-input corpus against every function's CloudEvents endpoint, as `serve all` mounts them, in both
// HTTP modes: each request gets a 4xx whose body names the problem, never a 5xx; the process survives,
// memory stays bounded, Object.prototype stays clean, and persist stores nothing.
import t from 'tap'
import { mkdtempSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createFunction, FUNCTION_NAMES } from '../../cli/registry.js'
import { openDatabase } from '../../shared/db.js'
import { silentLogger } from '../../shared/logger.js'
import { startHost } from '../helpers/host.js'
import { attributeCases, dataCases, hugeCase, type BadRequest, type DataType } from './corpus.js'

const BODY_LIMIT = 1024 * 1024

const DATA_TYPE: Record<string, DataType> = {
  classify: 'dev.knative.apiserver.resource.add',
  alert: 'dev.kubereflex.event.classified',
  'auto-recover': 'dev.kubereflex.event.classified',
  persist: 'dev.kubereflex.event.classified',
}

interface Answer {
  readonly status: number
  readonly body: string
}

async function send(url: string, r: BadRequest): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: r.headers, body: r.body })
  return { status: res.status, body: await res.text() }
}

void t.test('every function refuses malformed and hostile CloudEvents with a 4xx', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kube-reflex-bad-input-'))
  t.teardown(() => import('node:fs/promises').then((fs) => fs.rm(dataDir, { recursive: true, force: true })))
  // Embedded store (PGlite), no cluster (auto-recover plans offline), alerts to the console.
  const env = { KUBE_REFLEX_DATA_DIR: dataDir, LOG_LEVEL: 'silent', RECOVERY_MODE: 'dry-run' }
  const mounts = []
  for (const name of FUNCTION_NAMES) mounts.push({ name, fn: await createFunction(name, env, silentLogger), path: `/${name}` })
  const host = await startHost(t, mounts, { bodyLimitBytes: BODY_LIMIT })
  // The functions open their embedded database in the background: wait for it, so that the baseline
  // includes the database and the growth below is what the hostile requests cost.
  for (const m of mounts) t.equal((await m.fn.ready?.()) ?? true, true, `${m.name} ready before the corpus`)
  const rssBefore = process.memoryUsage().rss
  let tried = 0

  const targets: { path: string; type: DataType; data: boolean }[] = mounts.map((m) => ({ path: `/${m.name}`, type: DATA_TYPE[m.name] ?? 'dev.kubereflex.event.classified', data: true }))
  // The dead-letter sink takes any event (failed events carry any data), but not a malformed one.
  targets.push({ path: '/persist/dead-letter', type: 'dev.kubereflex.event.classified', data: false })

  for (const target of targets) {
    const cases = [...attributeCases(target.type), ...(target.data ? dataCases(target.type) : []), hugeCase(target.type, BODY_LIMIT + 1024)]
    for (const c of cases) {
      tried++
      const a = await send(`${host.url}${target.path}`, c)
      const key = `${target.path} ${c.name}`
      if (c.expect === 'no-5xx') {
        t.ok(a.status < 500, `${key}: no 5xx (got ${a.status})`)
        continue
      }
      const ok = a.status >= 400 && a.status < 500
      t.ok(ok, `${key}: 4xx (got ${a.status} ${a.body.slice(0, 200)})`)
      if (ok && a.status !== 413 && a.status !== 415) {
        // The answer names the problem (a stable code and a message), never a stack or SQLSTATE.
        t.match(a.body, /"code":"[A-Z_]+"/, `${target.path} ${c.name}: error body has a code`)
        t.notMatch(a.body, /at .+\.(ts|js):\d+|SQLSTATE|\bstack\b/i, `${target.path} ${c.name}: no internals leaked`)
      }
    }
  }

  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
  const live = await fetch(`${host.url}/health/liveness`)
  t.equal(live.status, 200, 'the process is alive after the corpus')
  const grown = (process.memoryUsage().rss - rssBefore) / 1024 / 1024
  t.ok(grown < 300, `memory bounded: RSS grew ${grown.toFixed(0)} MiB over ${tried} hostile requests`)

  const db = await openDatabase({ databaseUrl: undefined, dataDir })
  try {
    const events = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_events')
    const dead = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_dead_letters')
    t.equal(events.rows[0]?.n, 0, 'nothing stored in the event store')
    t.equal(dead.rows[0]?.n, 0, 'nothing stored as a dead letter')
    const tables = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'persist_events'")
    t.equal(tables.rows[0]?.n, 1, 'the SQL-looking strings dropped nothing')
  } finally {
    await db.close()
  }
  t.comment(`bad-input corpus: ${tried} requests over ${targets.length} endpoints`)
})
