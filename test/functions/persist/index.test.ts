// What `kube-reflex serve persist` runs: fromEnv opens the embedded store, applies the migrations from
// ./migrations, serves events, the dead-letter sink, the API and the dashboard; a restart keeps the data.
import t from 'tap'
import { toBinary } from '../../../shared/cloudevent.js'
import { createHost } from '../../../shared/host.js'
import { silentLogger } from '../../../shared/logger.js'
import { fromEnv } from '../../../functions/persist/index.js'
import { history } from './fixtures.js'

const HOST = { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }

void t.test('fromEnv: embedded store under KUBE_REFLEX_DATA_DIR, data survives a restart', async (t) => {
  const dir = t.testdir()
  const env = { KUBE_REFLEX_DATA_DIR: dir, PERSIST_RETENTION_DAYS: '3650' }
  const events = history(12, new Date()).classified
  {
    const fn = await fromEnv(env, silentLogger)
    const host = createHost({ config: HOST, log: silentLogger, mounts: [{ fn, path: '' }] })
    await host.listen()
    for (const e of events) {
      const { headers, body } = toBinary(e)
      t.equal((await fetch(host.url, { method: 'POST', headers, body })).status, 202)
    }
    t.equal((await fetch(`${host.url}/health/readiness`)).status, 200)
    const page = await fetch(`${host.url}/`)
    t.equal(page.status, 200)
    t.match(page.headers.get('content-type'), /text\/html/)
    t.match(await page.text(), /src="\/dashboard\/app.js"/, 'asset paths follow the mount point')
    t.equal((await fetch(`${host.url}/dashboard/vendor/uplot.js`)).status, 200, 'uPlot is served from node_modules')
    await host.close()
  }
  const fn = await fromEnv(env, silentLogger)
  const host = createHost({ config: HOST, log: silentLogger, mounts: [{ fn, path: '/persist' }] })
  await host.listen()
  t.teardown(() => host.close())
  const body = (await (await fetch(`${host.url}/persist/api/v1/events?limit=500`)).json()) as { items: unknown[] }
  t.equal(body.items.length, events.length, 'the second start sees what the first stored (migrations not re-applied)')
  t.match(await (await fetch(`${host.url}/persist`)).text(), /src="\/persist\/dashboard\/app.js" defer data-api="\/persist\/api\/v1"/, 'mounted under /persist (serve all)')
})

void t.test('fromEnv fails fast on bad configuration, naming the variable', async (t) => {
  await t.rejects(fromEnv({ PERSIST_GROUP_COMMIT_MS: 'soon', KUBE_REFLEX_DATA_DIR: t.testdir() }, silentLogger), /PERSIST_GROUP_COMMIT_MS must be an integer/)
})
