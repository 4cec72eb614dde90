// express is loaded only for functions with routes of their own (its own process: tap runs each file in
// one, so the module cache shows exactly what this file's hosts loaded). Functions that only need the host's
// services (alert, auto-recover: their metrics registry) use attach(); events never go through express.
import t from 'tap'
import { createRequire } from 'node:module'
import { Counter } from 'prom-client'
import type { ReflexFunction } from '../../shared/host.js'
import { binaryHeaders, startHost } from '../helpers/host.js'

const require = createRequire(import.meta.url)
const expressLoaded = (): boolean => Object.keys(require.cache).some((k) => /[\\/]node_modules[\\/]express[\\/]/.test(k))
const event = { specversion: '1.0', id: 'e-1', source: '/test', type: 'com.example.ping' }

void t.test('attach() hands over the host services without loading express; routes() loads it; events take node:http either way', async (t) => {
  t.equal(expressLoaded(), false, 'nothing loaded express before')
  let attached = 0
  const plain: ReflexFunction = {
    name: 'alert',
    handle: () => Promise.resolve(undefined),
    attach(host) {
      attached++
      host.metrics.registry.registerMetric(new Counter({ name: 'attached_total', help: 'registered through attach()', registers: [] }))
    },
  }
  const host = await startHost(t, plain)
  t.equal(attached, 1, 'attach() called once, when the host is created')
  const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders(event), body: '{}' })
  t.equal(res.status, 202)
  t.match(await (await fetch(`${host.url}/metrics`)).text(), /attached_total/, 'what attach() registered is exposed')
  t.equal(expressLoaded(), false, 'a host without routes never loads express')

  let posts = 0
  const withRoutes: ReflexFunction = {
    name: 'persist',
    handle: () => {
      posts++
      return Promise.resolve(undefined)
    },
    routes(router) {
      router.get('/api/thing', (_req, res) => res.json({ ok: true }))
    },
  }
  const routed = await startHost(t, withRoutes)
  t.equal(expressLoaded(), true, 'routes() loads express (the check above can fail)')
  t.same(await (await fetch(`${routed.url}/api/thing`)).json(), { ok: true }, 'its routes answer')
  const ev = await fetch(routed.url, { method: 'POST', headers: binaryHeaders(event), body: '{}' })
  t.equal(ev.status, 202, 'events at the root still reach the handler')
  t.equal(posts, 1)
  const missing = await fetch(`${routed.url}/nowhere`, { method: 'POST', headers: binaryHeaders(event), body: '{}' })
  t.equal(missing.status, 404, 'other POSTs fall through to express and its 404')
})
