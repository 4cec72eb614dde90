import t from 'tap'
import { closestSeriesName, exportedSeriesNames, metricNamesIn } from '../../../cli/validate/metrics.js'

void t.test('metric names in PromQL, without functions, labels, durations or strings', (t) => {
  t.same(metricNamesIn('sum by (function) (rate(events_received_total{function="classify",type=~"a.b"}[5m]))'), ['events_received_total'])
  t.same(
    metricNamesIn('histogram_quantile(0.99, sum by (function, le) (rate(event_processing_duration_seconds_bucket[$__rate_interval]))) > 2'),
    ['event_processing_duration_seconds_bucket'],
  )
  t.same(metricNamesIn('a_total / ignoring(code) group_left b_total and on() vector(0) == 0 offset 5m'), ['a_total', 'b_total'])
  t.same(metricNamesIn('max(last_over_time(recovery_budget_remaining{scope="global"}[15m])) <= 0'), ['recovery_budget_remaining'])
  t.end()
})

void t.test('exported series names expand histograms', (t) => {
  const names = exportedSeriesNames()
  t.ok(names.has('event_lag_seconds_bucket'))
  t.ok(names.has('event_lag_seconds_count'))
  t.notOk(names.has('event_lag_seconds'), 'a histogram has no bare series')
  t.ok(names.has('recovery_budget_remaining'))
  t.equal(closestSeriesName('events_recieved_total', names), 'events_received_total')
  t.equal(closestSeriesName('completely_unrelated_thing', names), undefined)
  t.end()
})
