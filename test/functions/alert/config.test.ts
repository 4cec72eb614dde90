// loadConfig: shortcuts, routes file, defaults, and errors that name the variable but never the secret.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import { loadConfig } from '../../../functions/alert/config.js'
import { ConfigError } from '../../../shared/config.js'
import { WEBHOOK_SECRET } from './fixtures.js'

function errorOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  return ''
}

void t.test('nothing configured → one default route to the console sink', (t) => {
  const c = loadConfig({})
  t.same([...c.routing.sinks.keys()], ['console'])
  t.equal(c.routing.routes.length, 1)
  t.same(c.routing.routes[0]?.sinks, ['console'])
  t.equal(c.routing.routes[0]?.groupWindowMs, 600_000)
  t.equal(c.routing.routes[0]?.repeatIntervalMs, 1_800_000)
  t.equal(c.timeoutMs, 10_000)
  t.equal(c.allow.empty, true)
  t.end()
})

void t.test('shortcuts make one route to every configured sink', (t) => {
  const c = loadConfig({
    ALERT_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/abc',
    ALERT_WEBHOOK_URL: 'https://hooks.example.com/in',
    ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ALERT_PAGERDUTY_ROUTING_KEY: 'k'.repeat(32),
    ALERT_TEAMS_WEBHOOK_URL: 'https://example.webhook.office.com/x',
    ALERT_REPEAT_INTERVAL: '1h30m',
    ALERT_SEND_RESOLVED: 'true',
  })
  t.same([...c.routing.sinks.keys()], ['slack', 'webhook', 'pagerduty', 'teams'])
  t.equal(c.routing.sinks.get('pagerduty')?.url?.toString(), 'https://events.pagerduty.com/v2/enqueue')
  t.same(c.routing.sinks.get('slack')?.rate, { perSecond: 1, burst: 3 })
  t.equal(c.routing.routes[0]?.repeatIntervalMs, 5_400_000)
  t.equal(c.routing.routes[0]?.sendResolved, true)
  t.end()
})

void t.test('every problem is reported, naming the variable, never the value', (t) => {
  const msg = errorOf(() =>
    loadConfig({
      ALERT_SLACK_WEBHOOK_URL: 'not a url /T0/B0/SECRETPATH',
      ALERT_WEBHOOK_SECRET: 'TOPSECRETVALUE',
      ALERT_GROUP_WINDOW: 'soon',
      ALERT_ALLOW_HOSTS: '10.0.0.0/40',
      ALERT_TIMEOUT_MS: '5',
    }),
  )
  for (const name of ['ALERT_SLACK_WEBHOOK_URL', 'ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not', 'ALERT_GROUP_WINDOW', 'ALERT_ALLOW_HOSTS', 'ALERT_TIMEOUT_MS']) t.match(msg, name)
  t.notMatch(msg, /SECRETPATH|TOPSECRETVALUE/)
  t.match(errorOf(() => loadConfig({ ALERT_WEBHOOK_URL: 'https://h.example/x', ALERT_WEBHOOK_SECRET: 'c2hvcnQ=' })), /at least 16 bytes/)
  t.match(errorOf(() => loadConfig({ ALERT_WEBHOOK_URL: 'https://h.example/x' })), /needs a signing secret/)
  t.match(errorOf(() => loadConfig({ ALERT_TIMEOUT_MS: '20000', ALERT_CLAIM_LEASE_MS: '15000' })), /ALERT_CLAIM_LEASE_MS must be longer/)
  t.end()
})

void t.test('routes file: loaded, validated, credentials only by env reference', (t) => {
  const dir = t.testdir({
    'ok.yaml': `
defaults: { repeatInterval: 2h }
sinks:
  - { name: team, type: slack, urlFromEnv: TEAM_URL, rateLimit: { perSecond: 0.5, burst: 2 } }
  - { name: pd, type: pagerduty, routingKeyFromEnv: PD_KEY }
routes:
  - { name: a, match: { severity: critical }, sinks: [team, pd], groupWindow: 90s }
  - { name: b, sinks: [team] }
`,
    'bad.yaml': `
sinks:
  - { name: team, type: slack, url: "https://hooks.slack.com/services/INLINESECRET" }
  - { name: hook, type: webhook, urlFromEnv: UNSET_VAR }
  - { name: x, type: carrier-pigeon }
routes:
  - { name: a, sinks: [nope], match: { colour: red }, groupWindow: often }
unexpected: 1
`,
    'broken.yaml': 'sinks: [',
  })
  const c = loadConfig({ ALERT_ROUTES_FILE: `${dir}/ok.yaml`, TEAM_URL: 'https://hooks.slack.com/services/T/B/x', PD_KEY: 'key', ALERT_PAGERDUTY_URL: 'http://127.0.0.1:9/v2/enqueue' })
  t.same(c.routing.sinks.get('team')?.rate, { perSecond: 0.5, burst: 2 })
  t.equal(c.routing.sinks.get('pd')?.url?.toString(), 'http://127.0.0.1:9/v2/enqueue')
  t.equal(c.routing.routes[0]?.groupWindowMs, 90_000)
  t.equal(c.routing.routes[1]?.repeatIntervalMs, 7_200_000, 'file defaults apply')
  const msg = errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/bad.yaml` }))
  for (const p of ['credentials come from the environment only', 'UNSET_VAR is not set', 'type must be one of', "unknown sink 'nope'", 'match.colour is not a known matcher', 'groupWindow must be a duration', "unknown key 'unexpected'"]) t.match(msg, p)
  t.notMatch(msg, /INLINESECRET/)
  t.match(errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/broken.yaml` })), /ALERT_ROUTES_FILE/)
  t.match(errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/missing.yaml` })), /ALERT_ROUTES_FILE/)
  t.end()
})

void t.test('a routes file that routes nothing (the shipped ConfigMap) leaves the shortcuts, else the console, in force', (t) => {
  const configMap = parse(readFileSync(new URL('../../../knative/base/config/alert-routes.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> }
  const shipped = configMap.data['routes.yaml'] ?? ''
  t.match(shipped, /routes: \[\]/, 'the shipped placeholder, as the pod sees it')
  const dir = t.testdir({
    'shipped.yaml': shipped,
    'empty.yaml': '',
    'comments.yaml': '# nothing yet\n',
    'defaults-only.yaml': 'defaults: { groupWindow: 1m, sendResolved: true }\ndashboardUrl: https://reflex.example.com/\nsinks: []\nroutes: []\n',
    'sinks-only.yaml': 'sinks:\n  - { name: team, type: slack, urlFromEnv: TEAM_URL }\n',
    'routes-only.yaml': 'routes:\n  - { sinks: [team] }\n',
  })
  const slack = 'https://hooks.slack.com/services/T0/B0/secret'
  for (const file of ['shipped.yaml', 'empty.yaml', 'comments.yaml']) {
    const withSlack = loadConfig({ ALERT_ROUTES_FILE: `${dir}/${file}`, ALERT_SLACK_WEBHOOK_URL: slack })
    t.same([...withSlack.routing.sinks.keys()], ['slack'], `${file}: the Secret's shortcut is used`)
    t.same(withSlack.routing.routes.map((r) => r.sinks), [['slack']])
    t.same([...loadConfig({ ALERT_ROUTES_FILE: `${dir}/${file}` }).routing.sinks.keys()], ['console'], `${file}: no shortcut → the console`)
  }
  const d = loadConfig({ ALERT_ROUTES_FILE: `${dir}/defaults-only.yaml`, ALERT_TEAMS_WEBHOOK_URL: 'https://example.webhook.office.com/x' })
  t.same([...d.routing.sinks.keys()], ['teams'])
  t.match(d.routing.routes[0], { groupWindowMs: 60_000, repeatIntervalMs: 1_800_000, sendResolved: true }, "the file's defaults apply to the shortcut route")
  t.equal(d.routing.dashboardUrl?.toString(), 'https://reflex.example.com/')
  t.match(errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/sinks-only.yaml`, TEAM_URL: slack })), /routes must be a non-empty list/, 'sinks that nothing routes to are a mistake')
  t.match(errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/routes-only.yaml` })), /sinks must be a non-empty list/)
  t.end()
})

void t.test('route matchers with a closed set of values refuse a value outside it (a typo would match nothing)', (t) => {
  const dir = t.testdir({
    'typos.yaml': 'sinks: [{ name: log, type: console }]\nroutes:\n  - { sinks: [log], match: { severity: [Critical, info], category: [crashloop, crashlop], kind: [problems] } }\n',
    'ok.yaml': 'sinks: [{ name: log, type: console }]\nroutes:\n  - { sinks: [log], match: { severity: [critical, warning], category: [oom, escalation], kind: [problem, escalation] } }\n',
  })
  const msg = errorOf(() => loadConfig({ ALERT_ROUTES_FILE: `${dir}/typos.yaml` }))
  t.match(msg, /routes\[0\]\.match\.severity: 'Critical', 'info' is not one of critical, warning/)
  t.match(msg, /routes\[0\]\.match\.category: 'crashlop' is not one of .*crashloop.*escalation/)
  t.match(msg, /routes\[0\]\.match\.kind: 'problems' is not one of problem, escalation/)
  t.same([...(loadConfig({ ALERT_ROUTES_FILE: `${dir}/ok.yaml` }).routing.routes[0]?.match.category ?? [])], ['oom', 'escalation'])
  t.end()
})
