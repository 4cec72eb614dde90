// Secrets never appear in logs, replies or error answers: every log line (level trace) is captured while
// alert goes through success, sink failures, retries and config errors, then searched for the secrets.
import t from 'tap'
import { fromEnv, loadConfig } from '../../../functions/alert/index.js'
import { toBinary } from '../../../shared/cloudevent.js'
import { ConfigError } from '../../../shared/config.js'
import { createHost } from '../../../shared/host.js'
import { createLogger } from '../../../shared/logger.js'
import { classifiedEvent, WEBHOOK_SECRET } from './fixtures.js'
import { startReceiver } from './receivers/index.js'

const ROUTING_KEY = 'R0UT1NGKEYsecret0123456789abcdef'

void t.test('no secret reaches a log line, a reply or an error answer', async (t) => {
  const lines: string[] = []
  const log = createLogger({ level: 'trace', name: 'alert', destination: { write: (s: string) => void lines.push(s) } })
  const slack = await startReceiver('slack')
  const teams = await startReceiver('teams')
  const hook = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  const pd = await startReceiver('pagerduty', { routingKey: ROUTING_KEY })
  const env = {
    ALERT_ALLOW_HOSTS: '127.0.0.1',
    KUBE_REFLEX_DATA_DIR: t.testdir({}),
    ALERT_SLACK_WEBHOOK_URL: slack.url,
    ALERT_TEAMS_WEBHOOK_URL: teams.url,
    ALERT_WEBHOOK_URL: hook.url,
    ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ALERT_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
    ALERT_PAGERDUTY_URL: pd.url,
  }
  const fn = await fromEnv(env, log)
  const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log, mounts: [{ fn, path: '' }] })
  await host.listen()
  t.teardown(async () => {
    await host.close()
    for (const r of [slack, teams, hook, pd]) await r.close()
  })
  const answers: string[] = []
  const post = async (ev: ReturnType<typeof classifiedEvent>): Promise<Response> => {
    const { headers, body } = toBinary(ev)
    const res = await fetch(host.url, { method: 'POST', headers, body })
    answers.push(JSON.stringify([...res.headers]), await res.clone().text())
    return res
  }
  // 1. everything works
  t.equal((await post(classifiedEvent({ fingerprint: 'fp-a' }))).status, 200)
  // 2. Slack fails (500) then is revoked; Teams rate-limits; PagerDuty is down
  slack.queue({ status: 500, headers: { 'retry-after': '1' }, body: 'internal_error' })
  teams.queue({ status: 429, headers: { 'retry-after': '1' } })
  pd.queue({ status: 502, headers: { 'retry-after': '1' } })
  const ev = classifiedEvent({ fingerprint: 'fp-b' })
  t.equal((await post(ev)).status, 429)
  slack.revoke(410)
  await new Promise((r) => setTimeout(r, 1_100))
  const last = await post(ev)
  t.equal(last.status, 200)
  t.equal(last.headers.get('ce-type'), 'dev.kubereflex.alert.failed')
  // 3. metrics name sinks, not URLs
  const metrics = await (await fetch(`${host.url}/metrics`)).text()
  t.match(metrics, /alert_notifications_total\{sink="slack",outcome="sent"\} 1/)
  t.match(metrics, /alert_notifications_total\{sink="slack",outcome="failed"\} 1/)
  answers.push(metrics)
  // 4. config errors name the variable, never the value
  let configError = ''
  try {
    loadConfig({ ALERT_SLACK_WEBHOOK_URL: 'ftp://hooks.slack.com/services/T0/B0/CFGSECRET', ALERT_WEBHOOK_URL: hook.url, ALERT_WEBHOOK_SECRET: 'short' })
  } catch (err) {
    t.ok(err instanceof ConfigError)
    configError = String(err)
  }
  t.match(configError, /ALERT_SLACK_WEBHOOK_URL/)
  t.notMatch(configError, /CFGSECRET|short'/)
  log.flush()
  await new Promise((r) => setTimeout(r, 100))
  const logText = lines.join('')
  t.ok(lines.length > 5, 'logs were captured')
  t.match(logText, /alert configured/)
  const secrets = [new URL(slack.url).pathname, 'XXXXSECRETXXXX', 'SECRETSIG', new URL(teams.url).search, WEBHOOK_SECRET, WEBHOOK_SECRET.replace('whsec_', ''), ROUTING_KEY, hook.url, slack.url, teams.url]
  for (const s of secrets) {
    t.notOk(logText.includes(s), `logs do not contain ${s.slice(0, 12)}…`)
    t.notOk(answers.join('\n').includes(s), `answers do not contain ${s.slice(0, 12)}…`)
  }
})
