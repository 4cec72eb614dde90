// The dashboard page follows its mount point, and can be told where the API lives (serve all at /).
import t from 'tap'
import express from 'express'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { loadDashboard, mountDashboard } from '../../../functions/persist/index.js'

void t.test('asset and API paths in the served page', async (t) => {
  const files = await loadDashboard()
  const app = express()
  const own = express.Router()
  mountDashboard(own, files)
  app.use('/persist', own)
  const root = express.Router()
  mountDashboard(root, files, { apiPath: '/persist/api/v1' })
  app.use('/', root)
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const mounted = await (await fetch(`${base}/persist`)).text()
  t.match(mounted, 'src="/persist/dashboard/app.js" defer data-api="/persist/api/v1"')
  const atRoot = await fetch(`${base}/`)
  t.match(atRoot.headers.get('content-security-policy'), /default-src 'self'/)
  const html = await atRoot.text()
  t.match(html, 'src="/dashboard/app.js" defer data-api="/persist/api/v1"')
  t.notMatch(html, /\{\{(API|BASE)\}\}/, 'no placeholder left')
  const js = await fetch(`${base}/dashboard/app.js`)
  t.match(js.headers.get('content-type'), /text\/javascript/)
  t.equal(js.headers.get('x-content-type-options'), 'nosniff')
})
