// alert's configuration (STYLE.md practice 2; names from DESIGN.md "Configuration names"): routes from
// ALERT_ROUTES_FILE, or one route to the single-sink shortcuts, or the console when nothing is set.
import { ConfigError, EnvReader, readHostConfig, type Env, type HostConfig } from '../../shared/config.js'
import { loadRoutesFile, parseDuration, RoutesError, sinkSpec, type RouteDefaults, type Routing, type SinkSpec } from './routing.js'
import { parseAllowList, type AllowList } from './ssrf.js'

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue'

export interface AlertConfig extends HostConfig {
  readonly routing: Routing
  readonly allow: AllowList
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  /** Per outbound request (issue 5: 10 s). */
  readonly timeoutMs: number
  /** How long a claimed notification is reserved for the replica sending it; a crashed claim is taken over after it. */
  readonly leaseMs: number
  /** How often pending digests and resolution notices are looked at. */
  readonly flushIntervalMs: number
  /** How long a replica waits for another replica that holds the claim on the same notification. */
  readonly claimWaitMs: number
}

function duration(r: EnvReader, name: string, fallback: string): number {
  const v = r.raw(name) ?? fallback
  const ms = parseDuration(v)
  if (ms === undefined) {
    r.problems.push(`${name} must be a duration such as 30s, 10m or 1h30m (got '${v}')`)
    return 0
  }
  return ms
}

/** The sinks the single-sink shortcuts describe, in a stable order. */
function shortcutSinks(r: EnvReader, pagerdutyUrl: string | undefined): SinkSpec[] {
  const sinks: SinkSpec[] = []
  const problems = r.problems
  const slack = r.raw('ALERT_SLACK_WEBHOOK_URL')
  if (slack !== undefined) sinks.push(sinkSpec('slack', 'slack', { url: slack }, 'ALERT_SLACK_WEBHOOK_URL', problems))
  const webhook = r.raw('ALERT_WEBHOOK_URL')
  const secret = r.raw('ALERT_WEBHOOK_SECRET')
  if (webhook !== undefined) sinks.push(sinkSpec('webhook', 'webhook', { url: webhook, secret }, 'ALERT_WEBHOOK_URL/ALERT_WEBHOOK_SECRET', problems))
  else if (secret !== undefined) problems.push('ALERT_WEBHOOK_SECRET is set but ALERT_WEBHOOK_URL is not')
  const key = r.raw('ALERT_PAGERDUTY_ROUTING_KEY')
  if (key !== undefined) sinks.push(sinkSpec('pagerduty', 'pagerduty', { routingKey: key, url: pagerdutyUrl }, 'ALERT_PAGERDUTY_ROUTING_KEY', problems))
  const teams = r.raw('ALERT_TEAMS_WEBHOOK_URL')
  if (teams !== undefined) sinks.push(sinkSpec('teams', 'teams', { url: teams }, 'ALERT_TEAMS_WEBHOOK_URL', problems))
  return sinks
}

/** One route to every shortcut sink; nothing configured: the console (the `npm start` demo needs no account). */
function shortcutRouting(r: EnvReader, pagerdutyUrl: string, defaults: RouteDefaults, dashboardUrl: URL | undefined): Routing {
  const sinks = shortcutSinks(r, pagerdutyUrl)
  if (sinks.length === 0) sinks.push(sinkSpec('console', 'console', {}, 'console', r.problems))
  return {
    sinks: new Map(sinks.map((s) => [s.name, s])),
    routes: [
      {
        name: 'default',
        match: { severity: null, category: null, kind: null, namespaceInclude: null, namespaceExclude: [] },
        sinks: sinks.map((s) => s.name),
        ...defaults,
        template: {},
        continue: false,
      },
    ],
    dashboardUrl,
  }
}

export function loadConfig(env: Env = process.env): Readonly<AlertConfig> {
  const r = new EnvReader(env)
  const host = readHostConfig(r)
  const { allow, problems: allowProblems } = parseAllowList(r.raw('ALERT_ALLOW_HOSTS'))
  for (const p of allowProblems) r.problems.push(`ALERT_ALLOW_HOSTS: ${p}`)
  const pagerdutyUrl = r.url('ALERT_PAGERDUTY_URL')?.toString() ?? PAGERDUTY_EVENTS_URL
  const dashboardUrl = r.url('ALERT_DASHBOARD_URL')
  const defaults = {
    groupWindowMs: duration(r, 'ALERT_GROUP_WINDOW', '10m'),
    repeatIntervalMs: duration(r, 'ALERT_REPEAT_INTERVAL', '30m'),
    sendResolved: r.bool('ALERT_SEND_RESOLVED', false),
  }
  const problemsBefore = r.problems.length
  const routesFile = r.file('ALERT_ROUTES_FILE')
  const routesFileOk = r.problems.length === problemsBefore
  let routing: Routing = { sinks: new Map(), routes: [], dashboardUrl }
  // A missing file or a directory is already reported by r.file: no read attempt, no second message.
  if (routesFile !== undefined && routesFileOk) {
    try {
      const loaded = loadRoutesFile(routesFile, env, defaults, dashboardUrl)
      if (loaded.routes.length === 0) {
        // The file routes nothing (the shipped placeholder ConfigMap): the shortcuts, with its defaults.
        routing = shortcutRouting(r, pagerdutyUrl, loaded.defaults, loaded.dashboardUrl)
      } else {
        // PagerDuty sinks without their own endpoint use the Events API v2 (or ALERT_PAGERDUTY_URL).
        const sinks = new Map([...loaded.sinks].map(([n, s]) => [n, s.type === 'pagerduty' && s.url === undefined ? { ...s, url: new URL(pagerdutyUrl) } : s]))
        routing = { sinks, routes: loaded.routes, dashboardUrl: loaded.dashboardUrl }
      }
    } catch (err) {
      if (!(err instanceof RoutesError)) throw err
      for (const p of err.problems) r.problems.push(`ALERT_ROUTES_FILE (${routesFile}): ${p}`)
    }
  } else if (routesFile === undefined) {
    routing = shortcutRouting(r, pagerdutyUrl, defaults, dashboardUrl)
  }
  const config = {
    ...host,
    routing,
    allow,
    databaseUrl: r.optionalString('DATABASE_URL'),
    dataDir: r.string('KUBE_REFLEX_DATA_DIR', '.kube-reflex'),
    timeoutMs: r.int('ALERT_TIMEOUT_MS', 10_000, 100, 60_000),
    leaseMs: r.int('ALERT_CLAIM_LEASE_MS', 30_000, 1_000, 600_000),
    flushIntervalMs: r.int('ALERT_FLUSH_INTERVAL_MS', 1_000, 100, 60_000),
    claimWaitMs: r.int('ALERT_CLAIM_WAIT_MS', 5_000, 0, 60_000),
  }
  if (r.problems.length === 0 && config.leaseMs <= config.timeoutMs) r.problems.push('ALERT_CLAIM_LEASE_MS must be longer than ALERT_TIMEOUT_MS')
  return r.done(config)
}

export { ConfigError }
