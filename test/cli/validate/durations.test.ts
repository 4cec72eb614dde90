import t from 'tap'
import { cronProblem, isIso8601Duration } from '../../../cli/validate/durations.js'

void t.test('ISO-8601 durations as Knative parses them', (t) => {
  for (const ok of ['PT0.5S', 'PT2S', 'PT1M', 'P1D', 'P1DT2H', 'PT1H30M', 'P1W', 'PT0,5S']) t.ok(isIso8601Duration(ok), ok)
  for (const bad of ['', 'P', 'PT', '2s', 'PT5', '500ms', '-PT1S', 'pt1s', 'P1DT']) t.notOk(isIso8601Duration(bad), bad)
  t.end()
})

void t.test('cron schedules as robfig/cron standard parser reads them', (t) => {
  for (const ok of ['*/10 * * * *', '0 3 * * 1-5', '15,45 * 1 jan-jun mon', '@hourly', '@every 10m', 'CRON_TZ=Europe/Paris 0 9 * * *', '0 0 ? * *']) t.equal(cronProblem(ok), undefined, ok)
  t.match(cronProblem('* * * *'), /expected 5 fields/)
  t.match(cronProblem('60 * * * *'), /minute: "60" is not in 0-59/)
  t.match(cronProblem('0 5-1 * * *'), /runs backwards/)
  t.match(cronProblem('*/0 * * * *'), /bad step/)
  t.match(cronProblem('@sometimes'), /unknown descriptor/)
  t.end()
})
