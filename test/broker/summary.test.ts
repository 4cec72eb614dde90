// The dev summary's bounded pieces: the latency histogram (quantiles) and the deduplication window, and
// the input→stored latency the counter derives from delivery reports.
import t from 'tap'
import { LatencyHistogram, RecentKeys, summaryCounter } from '../../broker/summary.js'
import { event } from './helpers.js'

void t.test('latency histogram: quantiles to 0.1 ms, max kept exactly', (t) => {
  const h = new LatencyHistogram()
  t.same(h.summary(), { count: 0, p50: 0, p99: 0, max: 0 })
  for (let i = 1; i <= 1000; i++) h.record(i / 10) // 0.1 … 100 ms
  const s = h.summary()
  t.equal(s.count, 1000)
  t.ok(Math.abs(s.p50 - 50) <= 0.2, `p50 ${s.p50}`)
  t.ok(Math.abs(s.p99 - 99) <= 0.2, `p99 ${s.p99}`)
  t.equal(s.max, 100)
  h.record(120_000) // a coarse (10 ms) bucket
  t.equal(h.summary().max, 120_000)
  t.equal(h.quantile(1), 120_000)
  const slow = new LatencyHistogram()
  for (let i = 0; i < 100; i++) slow.record(20_000 + i * 1000) // 20 s … 119 s
  t.ok(Math.abs(slow.quantile(0.5) - 69_000) <= 10, `p50 of slow values ${slow.quantile(0.5)}`)
  slow.record(5 * 3_600_000) // beyond one hour: the overflow bucket answers with the maximum
  t.equal(slow.quantile(1), 5 * 3_600_000)
  t.end()
})

void t.test('recent keys: duplicates within the window are caught, memory is bounded', (t) => {
  const k = new RecentKeys(3)
  t.ok(k.add('a'))
  t.notOk(k.add('a'), 'a duplicate')
  for (const x of ['b', 'c', 'd', 'e']) t.ok(k.add(x))
  t.notOk(k.add('c'), 'still in the previous generation')
  for (const x of ['f', 'g', 'h']) t.ok(k.add(x))
  t.ok(k.add('a'), 'forgotten after two generations')
  t.end()
})

void t.test('input→stored: from the origin of the input to persist acknowledging its classified event, once per event', (t) => {
  let clock = 1000
  const c = summaryCounter(new Set(['persist']), () => clock)
  const classified = { ...event('c1', 'dev.kubereflex.event.classified'), severity: 'critical' }
  clock = 1042
  c.delivered({ trigger: 'persist', event: classified, outcome: 'ack', status: 202, attempts: 1, origin: 1000 })
  c.delivered({ trigger: 'persist', event: classified, outcome: 'ack', status: 202, attempts: 1, origin: 1000 }) // redelivery
  c.delivered({ trigger: 'persist', event: event('a1', 'dev.kubereflex.alert.sent'), outcome: 'ack', status: 202, attempts: 1, origin: 1000 })
  c.delivered({ trigger: 'alert', event: { ...classified, id: 'c2' }, outcome: 'reply', status: 200, attempts: 1, origin: 1000 })
  t.equal(c.summary.persisted, 2)
  t.same(c.summary.inputToStoredMs, { count: 1, p50: 42, p99: 42, max: 42 })
  t.end()
})

void t.test('elapsedMs: from the first input taken to the end of the latest delivery; absent before any input', (t) => {
  let clock = 5000
  const c = summaryCounter(new Set(['persist']), () => clock)
  t.equal(c.summary.elapsedMs, undefined)
  c.accepted?.({ ...event('r1', 'dev.kubereflex.event.classified'), severity: 'info' }, 'reply')
  t.equal(c.summary.elapsedMs, undefined, 'a reply is not an input')
  clock = 5100
  c.accepted?.(event('i1'), 'source')
  clock = 5150
  c.accepted?.(event('i2'), 'source')
  c.delivered({ trigger: 'classify', event: event('i1'), outcome: 'reply', status: 200, attempts: 1, origin: 5100 })
  t.equal(c.summary.elapsedMs, 50)
  clock = 5400
  c.delivered({ trigger: 'persist', event: event('i2'), outcome: 'ack', status: 202, attempts: 1, origin: 5150 })
  t.equal(c.summary.elapsedMs, 300, 'up to the latest delivery')
  t.end()
})
