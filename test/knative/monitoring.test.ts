// promtool checks the PrometheusRule's groups and runs the unit tests in knative/monitoring/tests;
// then, for each alert, the tests run against rules WITHOUT that alert and must fail — proof that
// every alert is really exercised. Debian package for CI: `prometheus` (provides /usr/bin/promtool).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cp, readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { exportedSeriesNames, metricNamesIn } from '../../cli/validate/metrics.js'
import { repoRoot } from '../cli/validate/helpers.js'

const run = promisify(execFile)
const monitoring = path.join(repoRoot, 'knative', 'monitoring')

function findPromtool(): string | undefined {
  const candidates = [process.env['PROMTOOL'], ...(process.env['PATH'] ?? '').split(path.delimiter).map((d) => path.join(d, 'promtool'))]
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c))
}

interface Rule { alert?: string; record?: string; expr: string }
interface Group { name: string; rules: Rule[] }

async function ruleGroups(): Promise<Group[]> {
  const rule = parse(await readFile(path.join(monitoring, 'prometheusrule.yaml'), 'utf8')) as { spec: { groups: Group[] } }
  return rule.spec.groups
}

async function prepare(dir: string, groups: Group[]): Promise<string[]> {
  // The unit tests name `kube-reflex.rules.yaml`: the PrometheusRule's spec is exactly a rules file.
  await writeFile(path.join(dir, 'kube-reflex.rules.yaml'), stringify({ groups }))
  const tests = (await readdir(path.join(monitoring, 'tests'))).filter((f) => f.endsWith('.test.yaml')).sort()
  for (const f of tests) await cp(path.join(monitoring, 'tests', f), path.join(dir, f))
  return tests
}

const promtool = findPromtool()

void t.test('promtool check rules and test rules', { skip: promtool === undefined ? 'promtool not installed (Debian: apt-get install prometheus; or set PROMTOOL)' : false }, async (t) => {
  if (promtool === undefined) return
  const dir = t.testdir()
  const groups = await ruleGroups()
  const tests = await prepare(dir, groups)
  t.ok(tests.length >= 4, `${tests.length} unit-test files`)
  const check = await run(promtool, ['check', 'rules', 'kube-reflex.rules.yaml'], { cwd: dir })
  t.match(check.stdout, /SUCCESS: \d+ rules found/)
  const unit = await run(promtool, ['test', 'rules', ...tests], { cwd: dir })
  t.notMatch(unit.stdout + unit.stderr, /FAILED/)

  const alerts = groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => a !== undefined)
  t.ok(alerts.length >= 8, `${alerts.length} alerts`)
  for (const alert of alerts) {
    const without = groups.map((g) => ({ ...g, rules: g.rules.filter((r) => r.alert !== alert) })).filter((g) => g.rules.length > 0)
    const mutated = t.testdir()
    await prepare(mutated, without)
    const failed = await run(promtool, ['test', 'rules', ...tests], { cwd: mutated }).then(
      () => false,
      (err: unknown) => (err as { code?: number }).code === 1,
    )
    t.ok(failed, `the unit tests fail when ${alert} is removed`)
  }
})

void t.test('the Grafana dashboard parses and queries only exported metrics', async (t) => {
  const dashboard = JSON.parse(await readFile(path.join(monitoring, 'grafana-dashboard.json'), 'utf8')) as {
    uid: string
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>
  }
  t.equal(dashboard.uid, 'kube-reflex')
  const known = exportedSeriesNames()
  const used = new Set<string>()
  for (const panel of dashboard.panels) {
    t.ok(panel.targets.length > 0, `${panel.title} has queries`)
    for (const target of panel.targets) {
      for (const name of metricNamesIn(target.expr)) {
        used.add(name)
        t.ok(known.has(name), `${panel.title}: ${name} is exported`)
      }
    }
  }
  // The contract's own metrics all appear somewhere on the dashboard.
  for (const name of ['events_received_total', 'event_processing_failures_total', 'event_replies_total', 'dead_lettered_events_total', 'alert_notifications_total', 'recovery_actions_total', 'recovery_budget_remaining', 'persist_events_stored_total', 'persist_duplicates_total']) {
    t.ok(used.has(name), `${name} is on the dashboard`)
  }
})
