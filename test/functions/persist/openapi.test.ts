// The OpenAPI document and the API agree: every mounted /api/v1 route is described (and nothing else is),
// and real answers — 200s over a seeded store, 400s, 404s — validate against the documented schemas.
import t from 'tap'
import express from 'express'
import { Ajv } from 'ajv'
import { isRfc3339, toBinary } from '../../../shared/cloudevent.js'
import { hostMetrics } from '../../../shared/metrics.js'
import { silentLogger } from '../../../shared/logger.js'
import { openApiDocument } from '../../../functions/persist/index.js'
import { classified } from './fixtures.js'
import { eachBackend, startPersist } from './backends.js'
import { seed } from './seed.js'

const NOW = new Date('2026-11-27T12:00:00Z')

interface Operation {
  parameters: { name: string; in: string }[]
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>
}
type Doc = { paths: Record<string, Record<string, Operation>> } & Record<string, unknown>

const doc = openApiDocument() as Doc
const toExpress = (p: string): string => p.replace(/\{(\w+)\}/g, ':$1')

void t.test('every /api/v1 route is in the document, and every documented path is a route', async (t) => {
  const { createPersist, EventStore } = await import('../../../functions/persist/index.js')
  const fakeDb = { kind: 'pglite' as const, query: () => Promise.reject(new Error('unused')), transaction: () => Promise.reject(new Error('unused')), close: () => Promise.resolve() }
  const fn = createPersist(
    { apiToken: undefined, problemOpenHours: 24, bodyLimitBytes: 1 << 20, retentionDays: 30, pruneIntervalSeconds: 3600 },
    { store: new EventStore(fakeDb, { groupCommitMs: 1, groupCommitMax: 10, outbox: false }), log: silentLogger },
  )
  t.teardown(() => fn.close?.())
  const router = express.Router()
  fn.routes?.(router, { log: silentLogger, metrics: hostMetrics(undefined, false) })
  const mounted = new Set<string>()
  for (const layer of router.stack as unknown as { route?: { path: string; methods: Record<string, boolean> } }[]) {
    const route = layer.route
    if (route === undefined || !route.path.startsWith('/api/v1/') || route.path.includes('{*')) continue
    for (const m of Object.keys(route.methods)) mounted.add(`${m.toUpperCase()} ${route.path}`)
  }
  const documented = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) for (const m of Object.keys(item)) documented.add(`${m.toUpperCase()} ${toExpress(path)}`)
  t.same([...mounted].sort(), [...documented].sort())
  // Path parameters named in the template are declared, and the other way round.
  for (const [path, item] of Object.entries(doc.paths)) {
    const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()
    for (const op of Object.values(item)) t.same(op.parameters?.filter((p) => p.in === 'path').map((p) => p.name).sort() ?? [], inTemplate, `${path} path parameters`)
  }
})

eachBackend(t, 'answers validate against the documented schemas', async (t, backend) => {
  const { url } = await startPersist(t, backend, { now: () => NOW.getTime() })
  const sent = await seed(url, 60, NOW)
  const ajv = new Ajv({ strict: false, allErrors: true })
  ajv.addFormat('date-time', { validate: (s: string) => isRfc3339(s) })
  ajv.addSchema(doc, 'openapi')
  const validate = (op: Operation, status: string, body: unknown): string => {
    const schema = op.responses[status]?.content?.['application/json']?.schema
    if (schema === undefined) return `status ${status} is not documented`
    const v = ajv.compile({ ...rewriteRefs(schema) })
    return v(body) ? '' : ajv.errorsText(v.errors)
  }
  const first = sent.find((e) => e.type === 'dev.kubereflex.event.classified') ?? classified({ namespace: 'x', name: 'y', reason: 'BackOff', message: 'm', severity: 'critical', category: 'crashloop', at: NOW })
  const { headers, body } = toBinary({ ...first, knativeerrordest: 'http://kube-reflex-alert.kube-reflex.svc.cluster.local', knativeerrorcode: '503' })
  t.equal((await fetch(`${url}/dead-letter`, { method: 'POST', headers, body })).status, 202)
  const eventsOp = doc.paths['/api/v1/events']?.get
  if (eventsOp === undefined) throw new Error('no GET /api/v1/events')
  t.not(validate(eventsOp, '200', { items: [{ source: 's' }], nextCursor: null }), '', 'the schemas do reject a wrong shape')
  const v1 = '/api/v1'
  const concrete: Record<string, string[]> = {
    '/api/v1/events': [`${v1}/events`, `${v1}/events?namespace=shop&severity=critical&limit=5`, `${v1}/events?type=dev.kubereflex.alert.*`, `${v1}/events?limit=0`],
    '/api/v1/events/{source}/{id}': [`${v1}/events/${encodeURIComponent(first.source)}/${encodeURIComponent(first.id)}`, `${v1}/events/nope/nope`],
    '/api/v1/pod-events': [`${v1}/pod-events`, `${v1}/pod-events?limit=3`, `${v1}/pod-events?since=bad`],
    '/api/v1/pod-events/{namespace}': [`${v1}/pod-events/shop`],
    '/api/v1/pod-events/status/{status}': [`${v1}/pod-events/status/CRITICAL`, `${v1}/pod-events/status/warning`, `${v1}/pod-events/status/broken`],
    '/api/v1/problems': [`${v1}/problems`, `${v1}/problems?status=all&limit=2`, `${v1}/problems?status=closed`],
    '/api/v1/stats': [`${v1}/stats`, `${v1}/stats?since=7d&namespace=payments`, `${v1}/stats?since=x`],
    '/api/v1/dead-letters': [`${v1}/dead-letters`, `${v1}/dead-letters?code=5x`],
    '/api/v1/openapi.json': [`${v1}/openapi.json`],
  }
  t.same(Object.keys(concrete).sort(), Object.keys(doc.paths).sort(), 'every documented path is exercised')
  for (const [template, examples] of Object.entries(concrete)) {
    const op = doc.paths[template]?.get
    if (op === undefined) throw new Error(`no GET ${template}`)
    for (const path of examples) {
      const res = await fetch(url + path)
      const body: unknown = await res.json()
      t.equal(validate(op, String(res.status), body), '', `GET ${path} → ${res.status} matches the document`)
    }
  }
})

/** Component refs point into the document registered as 'openapi'. */
function rewriteRefs(schema: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema).replace(/"#\/components\//g, '"openapi#/components/')) as Record<string, unknown>
}

