// The host's metrics keep plain numbers per series; what /metrics shows must stay exactly what prom-client's
// own Counter and Histogram print for the same values (dashboards and the PrometheusRule read these names).
import t from 'tap'
import { Counter, Histogram, Registry } from 'prom-client'
import { EventCounter, EventHistogram, hostMetrics } from '../../shared/metrics.js'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// Values below, on and above bounds, above the largest bound, and zero.
const VALUES = [0, 0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.1, 0.1000001, 2.5, 9.99, 10, 11, 3600]
// Label values prom-client has to escape, empty ones, and pairs a joined key would confuse.
const TYPES = ['dev.knative.apiserver.resource.update', 'a"b', 'back\\slash', 'new\nline', '', 'x', 'ünï']

void t.test('EventCounter prints what prom-client Counter prints', async (t) => {
  const ours = new Registry()
  const theirs = new Registry()
  const a = new EventCounter(ours, { name: 'events_received_total', help: 'CloudEvents received, by function and type.', labelNames: ['function', 'type'] })
  const b = new Counter({ name: 'events_received_total', help: 'CloudEvents received, by function and type.', labelNames: ['function', 'type'], registers: [theirs] })
  t.equal(await ours.metrics(), await theirs.metrics(), 'nothing counted yet')
  for (const [i, type] of TYPES.entries()) {
    for (let n = 0; n <= i; n++) {
      a.inc('classify', type)
      b.inc({ function: 'classify', type })
    }
  }
  // ('ab','c') and ('a','bc') are different series.
  a.inc('ab', 'c')
  b.inc({ function: 'ab', type: 'c' })
  a.inc('a', 'bc')
  b.inc({ function: 'a', type: 'bc' })
  t.equal(await ours.metrics(), await theirs.metrics())
  // Counts made after a scrape are added at the next one.
  a.inc('classify', 'x')
  b.inc({ function: 'classify', type: 'x' })
  const text = await ours.metrics()
  t.equal(text, await theirs.metrics())
  t.match(text, /events_received_total\{function="classify",type="x"\} 7\n/)
  t.match(text, /events_received_total\{function="a",type="bc"\} 1\n/)
  t.same(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON())
})

void t.test('EventHistogram prints what prom-client Histogram prints', async (t) => {
  const ours = new Registry()
  const theirs = new Registry()
  const config = { name: 'event_processing_duration_seconds', help: 'Time from request to answer, by function, event type and outcome.', labelNames: ['function', 'type', 'outcome'], buckets: BUCKETS }
  const a = new EventHistogram(ours, config)
  const b = new Histogram({ ...config, registers: [theirs] })
  t.equal(await ours.metrics(), await theirs.metrics(), 'nothing observed yet')
  for (const type of TYPES) {
    for (const outcome of ['reply', 'ack']) {
      for (const v of VALUES) {
        a.observe(v, 'classify', type, outcome)
        b.observe({ function: 'classify', type, outcome }, v)
      }
    }
  }
  a.observe(0.2, 'ab', 'c', 'd')
  b.observe({ function: 'ab', type: 'c', outcome: 'd' }, 0.2)
  a.observe(0.3, 'a', 'bc', 'd')
  b.observe({ function: 'a', type: 'bc', outcome: 'd' }, 0.3)
  const text = await ours.metrics()
  t.equal(text, await theirs.metrics())
  t.match(text, /event_processing_duration_seconds_bucket\{le="0.0005",function="classify",type="x",outcome="ack"\} 3\n/, 'le first, then the series labels')
  t.match(text, /event_processing_duration_seconds_count\{function="a",type="bc",outcome="d"\} 1\n/)
  t.same(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON())

  const one = new EventHistogram(ours, { name: 'event_lag_seconds', help: 'lag', labelNames: ['function'], buckets: [0.01, 1, 60] })
  const two = new Histogram({ name: 'event_lag_seconds', help: 'lag', labelNames: ['function'], buckets: [0.01, 1, 60], registers: [theirs] })
  for (const v of VALUES) {
    one.observe(v, 'alert')
    two.observe({ function: 'alert' }, v)
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'one label')
  ours.resetMetrics()
  theirs.resetMetrics()
  t.equal(await ours.metrics(), await theirs.metrics(), 'after a reset')
})

void t.test('EventHistogram checks its configuration like prom-client', async (t) => {
  t.throws(() => new EventHistogram(new Registry(), { name: 'bad name', help: 'x', labelNames: [], buckets: [1] }))
  t.throws(() => new EventHistogram(new Registry(), { name: 'h', help: 'x', labelNames: ['le'], buckets: [1] }), 'le is reserved')
  const r = new Registry()
  hostMetrics(r, false)
  t.throws(() => new EventHistogram(r, { name: 'event_lag_seconds', help: 'x', labelNames: [], buckets: [1] }), 'a name registered twice')
})

void t.test('hostMetrics registers the names DESIGN.md lists, once per registry', async (t) => {
  const r = new Registry()
  const m = hostMetrics(r, false)
  t.equal(hostMetrics(r, false), m)
  t.same(
    r.getMetricsAsArray().map((x) => x.name),
    ['events_received_total', 'event_processing_failures_total', 'event_replies_total', 'event_processing_duration_seconds', 'event_lag_seconds'],
  )
})

void t.test('hostMetrics without a registry makes one on first use, showing what was counted before', async (t) => {
  const m = hostMetrics(undefined, false)
  m.received.inc('classify', 'dev.knative.apiserver.resource.update')
  m.received.inc('classify', 'dev.knative.apiserver.resource.update')
  m.duration.observe(0.003, 'classify', 'dev.knative.apiserver.resource.update', 'reply')
  m.lag.observe(2, 'classify')
  const r = m.registry
  t.equal(m.registry, r, 'one registry')
  t.equal(hostMetrics(r, false), m, 'found again by its registry')
  t.same(
    r.getMetricsAsArray().map((x) => x.name),
    ['events_received_total', 'event_processing_failures_total', 'event_replies_total', 'event_processing_duration_seconds', 'event_lag_seconds'],
  )
  m.received.inc('classify', 'dev.knative.apiserver.resource.update')
  const text = await r.metrics()
  t.match(text, /^events_received_total\{function="classify",type="dev\.knative\.apiserver\.resource\.update"\} 3$/m)
  t.match(text, /^event_processing_duration_seconds_count\{function="classify",type="dev\.knative\.apiserver\.resource\.update",outcome="reply"\} 1$/m)
  t.match(text, /^event_lag_seconds_sum\{function="classify"\} 2$/m)
  t.notMatch(text, /process_cpu_seconds_total/, 'no default metrics when not asked for')
  const withDefaults = hostMetrics()
  t.match(await withDefaults.registry.metrics(), /^process_cpu_seconds_total /m, "Node's default metrics when asked for")
})
