// Tracing on and off: without an OTLP endpoint no OpenTelemetry module is loaded and the host still
// continues or starts a trace; with one, the SDK exports one span per event to the collector, parented by
// the incoming traceparent, and the reply carries that span's id.
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { startEventSpan, startTracing, stopTracing } from '../../shared/tracing.js'
import { silentLogger } from '../../shared/logger.js'
import { binaryHeaders, startHost } from '../helpers/host.js'

const PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'

void t.test('without an SDK: the parent context passes through, else fresh valid ids, all different', (t) => {
  t.equal(startEventSpan('f', 't', PARENT).traceparent, PARENT)
  const seen = new Set<string>()
  const malformed: string[] = []
  for (let i = 0; i < 1000; i++) {
    const tp = startEventSpan('f', 't', undefined).traceparent
    if (!/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/.test(tp)) malformed.push(tp)
    seen.add(tp.slice(3, 35))
    seen.add(tp.slice(36, 52))
  }
  t.same(malformed, [], 'every fresh traceparent is W3C-formatted')
  t.equal(seen.size, 2000, 'no id repeats across 1000 events (pooled random bytes are never reused)')
  t.end()
})

void t.test('with OTLP configured: one exported span per event, child of the incoming traceparent', async (t) => {
  const bodies: { url: string; type: string; size: number }[] = []
  const collector = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      bodies.push({ url: req.url ?? '', type: String(req.headers['content-type']), size: Buffer.concat(chunks).length })
      res.statusCode = 200
      res.setHeader('content-type', 'application/json')
      res.end('{}')
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const { port } = collector.address() as AddressInfo
  // The OTLP exporter reads the standard variables from process.env itself (as in a Pod).
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`
  t.teardown(() => {
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  })
  await startTracing(process.env, 'test', silentLogger)
  t.teardown(stopTracing)
  const host = await startHost(t, { name: 'echo', handle: async (e) => ({ specversion: '1.0', source: e.source, id: `${e.id}-r`, type: 'reply' }) })
  const res = await fetch(host.url, { method: 'POST', headers: binaryHeaders({ specversion: '1.0', id: '1', source: '/s', type: 't', traceparent: PARENT }), body: '{}' })
  t.equal(res.status, 200)
  const tp = res.headers.get('ce-traceparent') ?? ''
  t.match(tp, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, 'same trace, sampled')
  t.not(tp.slice(36, 52), '00f067aa0ba902b7', 'a span of its own (a child), not the parent passed through')
  await stopTracing() // flushes the batch span processor
  t.ok(bodies.some((b) => b.url === '/v1/traces' && b.size > 0), `the span reached the collector (${JSON.stringify(bodies)})`)
})
