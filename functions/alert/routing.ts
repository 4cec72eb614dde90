// Sinks and routes (docs/ALERT.md "Routes file"): which notifications go where, how they are grouped.
// Sinks carry credentials, which come only from environment variables (Kubernetes Secret references):
// the routes file names the variable (`urlFromEnv`), never the value.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Env } from '../../shared/config.js'
import { CATEGORIES } from '../../shared/contracts.js'
import type { AlertSeverity, AlertSubject, SubjectKind } from './subject.js'

export const SINK_TYPES = ['slack', 'webhook', 'pagerduty', 'teams', 'console'] as const
export type SinkType = (typeof SINK_TYPES)[number]

export interface RateLimit {
  /** Sustained messages per second. */
  readonly perSecond: number
  /** Messages that may go out back to back before the sustained rate applies. */
  readonly burst: number
}

/** A configured destination. Holds secrets: never log it. */
export interface SinkSpec {
  readonly name: string
  readonly type: SinkType
  readonly url: URL | undefined
  /** Standard Webhooks signing secret (`whsec_…` base64), webhook sinks only. */
  readonly secret: string | undefined
  readonly routingKey: string | undefined
  /** null: not rate limited (console). */
  readonly rate: RateLimit | null
}

export interface Template {
  readonly title?: string
  readonly text?: string
}

export interface RouteMatch {
  readonly severity: ReadonlySet<string> | null
  readonly category: ReadonlySet<string> | null
  readonly kind: ReadonlySet<string> | null
  readonly namespaceInclude: readonly RegExp[] | null
  readonly namespaceExclude: readonly RegExp[]
}

export interface Route {
  readonly name: string
  readonly match: RouteMatch
  readonly sinks: readonly string[]
  /** A group with no new occurrence for this long is over: the next occurrence is a new problem. */
  readonly groupWindowMs: number
  /** While a group keeps firing, notify again this often ("still failing, N times in 30 min"). */
  readonly repeatIntervalMs: number
  /** Send a resolution notice when a group has been quiet for the group window. */
  readonly sendResolved: boolean
  readonly template: Template
  /** Keep looking for further matching routes after this one (default: first match wins). */
  readonly continue: boolean
}

export interface Routing {
  readonly sinks: ReadonlyMap<string, SinkSpec>
  readonly routes: readonly Route[]
  /** Base URL of the kube-reflex dashboard, for links in messages. */
  readonly dashboardUrl: URL | undefined
}

/** A routes document as read: its sinks and routes, and the defaults it set (for the shortcut route when it has none). */
export interface ParsedRouting extends Routing {
  readonly defaults: RouteDefaults
}

export class RoutesError extends Error {
  override readonly name = 'RoutesError'
  constructor(readonly problems: readonly string[], where: string) {
    super(`invalid alert routes (${where}):\n  - ${problems.join('\n  - ')}`)
  }
}

/** Default rate limits per sink type: Slack documents 1 message per second per webhook with short bursts. */
export const DEFAULT_RATES: Record<SinkType, RateLimit | null> = {
  slack: { perSecond: 1, burst: 3 },
  teams: { perSecond: 1, burst: 3 },
  pagerduty: { perSecond: 2, burst: 10 },
  webhook: { perSecond: 10, burst: 20 },
  console: null,
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

/** `90`, `90s`, `5m`, `1h30m` → milliseconds; undefined when malformed. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined
  if (typeof value !== 'string') return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const m = DURATION.exec(v)
  if (m === null || v === '') return undefined
  return (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000
}

/** Shell-style namespace pattern (`prod-*`, `team-?`) as an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

export interface RouteDefaults {
  readonly groupWindowMs: number
  readonly repeatIntervalMs: number
  readonly sendResolved: boolean
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)
const NAME = /^[a-z0-9]([a-z0-9_-]{0,62})$/i
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function stringList(v: unknown, where: string, problems: string[]): string[] | null {
  if (v === undefined) return null
  const list = typeof v === 'string' ? [v] : v
  if (!Array.isArray(list) || !list.every((x): x is string => typeof x === 'string' && x !== '')) {
    problems.push(`${where} must be a string or a list of strings`)
    return null
  }
  return list
}

function secretFromEnv(o: Obj, key: string, env: Env, where: string, problems: string[]): string | undefined {
  const ref = o[key]
  if (ref === undefined) return undefined
  if (typeof ref !== 'string' || !ENV_NAME.test(ref)) {
    problems.push(`${where}.${key} must name an environment variable`)
    return undefined
  }
  const value = env[ref]
  if (value === undefined || value.trim() === '') {
    problems.push(`${where}.${key}: environment variable ${ref} is not set`)
    return undefined
  }
  return value.trim()
}

function checkUrl(value: string | undefined, where: string, problems: string[]): URL | undefined {
  if (value === undefined) return undefined
  try {
    const u = new URL(value)
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('protocol')
    return u
  } catch {
    problems.push(`${where} must be an http(s) URL`) // never echo the value: it is a credential
    return undefined
  }
}

/** Builds a sink from its parts, checking what its type needs. */
/** The HMAC key of a Standard Webhooks signing secret: base64, optionally `whsec_`-prefixed. */
export function signingKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64')
}

export function sinkSpec(
  name: string,
  type: SinkType,
  parts: { url?: string | undefined; secret?: string | undefined; routingKey?: string | undefined; rate?: RateLimit | null | undefined },
  where: string,
  problems: string[],
): SinkSpec {
  const url = checkUrl(parts.url, `${where} URL`, problems)
  if ((type === 'slack' || type === 'teams' || type === 'webhook') && url === undefined && parts.url === undefined) problems.push(`${where}: a ${type} sink needs a URL`)
  if (type === 'pagerduty' && parts.routingKey === undefined) problems.push(`${where}: a pagerduty sink needs a routing key`)
  if (type === 'webhook') {
    if (parts.secret === undefined) problems.push(`${where}: a webhook sink needs a signing secret`)
    else if (!/^(whsec_)?[A-Za-z0-9+/]+={0,2}$/.test(parts.secret) || signingKey(parts.secret).length < 16) {
      problems.push(`${where}: the signing secret must be base64 (optionally 'whsec_'-prefixed) of at least 16 bytes`)
    }
  }
  return { name, type, url, secret: parts.secret, routingKey: parts.routingKey, rate: parts.rate === undefined ? DEFAULT_RATES[type] : parts.rate }
}

function parseRate(v: unknown, where: string, problems: string[]): RateLimit | null | undefined {
  if (v === undefined) return undefined
  if (v === null || v === false) return null
  if (!isObj(v) || typeof v.perSecond !== 'number' || !(v.perSecond > 0) || v.perSecond > 1000) {
    problems.push(`${where}.rateLimit.perSecond must be a number > 0 and ≤ 1000`)
    return undefined
  }
  const burst = v.burst === undefined ? Math.max(1, Math.ceil(v.perSecond)) : v.burst
  if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 1 || burst > 10_000) {
    problems.push(`${where}.rateLimit.burst must be an integer ≥ 1`)
    return undefined
  }
  return { perSecond: v.perSecond, burst }
}

/** What a subject can carry (subject.ts): alert never sees an info event. */
const ALERT_SEVERITIES: readonly AlertSeverity[] = ['critical', 'warning']
const SUBJECT_KINDS: readonly SubjectKind[] = ['problem', 'escalation']

function parseMatch(v: unknown, where: string, problems: string[]): RouteMatch {
  const m = v === undefined ? {} : v
  if (!isObj(m)) {
    problems.push(`${where}.match must be a mapping`)
    return { severity: null, category: null, kind: null, namespaceInclude: null, namespaceExclude: [] }
  }
  for (const key of Object.keys(m)) {
    if (!['severity', 'category', 'kind', 'namespaces'].includes(key)) problems.push(`${where}.match.${key} is not a known matcher`)
  }
  const set = (k: string, known?: readonly string[]): ReadonlySet<string> | null => {
    const list = stringList(m[k], `${where}.match.${k}`, problems)
    // Each matcher but namespaces has a closed set of values: a typo would silently match nothing.
    const unknown = known === undefined ? [] : (list ?? []).filter((x) => !known.includes(x))
    if (unknown.length > 0) problems.push(`${where}.match.${k}: ${unknown.map((x) => `'${x}'`).join(', ')} is not one of ${known?.join(', ') ?? ''}`)
    return list === null ? null : new Set(list)
  }
  let include: RegExp[] | null = null
  let exclude: RegExp[] = []
  const ns = m.namespaces
  if (ns !== undefined) {
    if (!isObj(ns)) problems.push(`${where}.match.namespaces must have include and/or exclude`)
    else {
      include = stringList(ns.include, `${where}.match.namespaces.include`, problems)?.map(globToRegExp) ?? null
      exclude = stringList(ns.exclude, `${where}.match.namespaces.exclude`, problems)?.map(globToRegExp) ?? []
    }
  }
  return {
    severity: set('severity', ALERT_SEVERITIES),
    category: set('category', [...CATEGORIES, 'escalation']),
    kind: set('kind', SUBJECT_KINDS),
    namespaceInclude: include,
    namespaceExclude: exclude,
  }
}

function parseTemplate(v: unknown, where: string, problems: string[]): Template {
  if (v === undefined) return {}
  if (!isObj(v) || (v.title !== undefined && typeof v.title !== 'string') || (v.text !== undefined && typeof v.text !== 'string')) {
    problems.push(`${where}.template must have string title and/or text`)
    return {}
  }
  return { ...(typeof v.title === 'string' ? { title: v.title } : {}), ...(typeof v.text === 'string' ? { text: v.text } : {}) }
}

/**
 * Parses the routes document (already YAML-decoded); every problem is reported at once. A document with
 * neither sinks nor routes (empty, comments only, `routes: []`: the shipped ConfigMap) routes nothing
 * itself: the caller falls back to the single-sink shortcuts, else the console, with its defaults.
 */
export function parseRouting(doc: unknown, env: Env, defaults: RouteDefaults, where: string, dashboardUrl: URL | undefined): ParsedRouting {
  const problems: string[] = []
  if (doc === null || doc === undefined) doc = {} // an empty file, or comments only
  if (!isObj(doc)) throw new RoutesError(['the document must be a mapping with sinks and routes'], where)
  for (const key of Object.keys(doc)) if (!['sinks', 'routes', 'dashboardUrl', 'defaults'].includes(key)) problems.push(`unknown key '${key}'`)
  const sinks = new Map<string, SinkSpec>()
  const rawSinks = doc.sinks
  const isEmpty = (v: unknown): boolean => v === undefined || v === null || (Array.isArray(v) && v.length === 0)
  const routesNothing = isEmpty(rawSinks) && isEmpty(doc.routes)
  if (!routesNothing && (!Array.isArray(rawSinks) || rawSinks.length === 0)) problems.push('sinks must be a non-empty list')
  else if (Array.isArray(rawSinks)) {
    rawSinks.forEach((s: unknown, i) => {
      const at = `sinks[${i}]`
      if (!isObj(s)) return void problems.push(`${at} must be a mapping`)
      const name = s.name
      if (typeof name !== 'string' || !NAME.test(name)) return void problems.push(`${at}.name must be a short name (letters, digits, - and _)`)
      if (sinks.has(name)) return void problems.push(`${at}: sink '${name}' is defined twice`)
      const type = s.type
      if (typeof type !== 'string' || !(SINK_TYPES as readonly string[]).includes(type)) return void problems.push(`${at}.type must be one of ${SINK_TYPES.join(', ')}`)
      for (const key of ['url', 'secret', 'routingKey']) {
        if (s[key] !== undefined) problems.push(`${at}.${key}: credentials come from the environment only; use ${key}FromEnv`)
      }
      sinks.set(
        name,
        sinkSpec(
          name,
          type as SinkType,
          {
            url: secretFromEnv(s, 'urlFromEnv', env, at, problems),
            secret: secretFromEnv(s, 'secretFromEnv', env, at, problems),
            routingKey: secretFromEnv(s, 'routingKeyFromEnv', env, at, problems),
            rate: parseRate(s.rateLimit, at, problems),
          },
          `${at} (${name})`,
          problems,
        ),
      )
    })
  }
  const d = isObj(doc.defaults) ? doc.defaults : {}
  const base = {
    groupWindowMs: d.groupWindow === undefined ? defaults.groupWindowMs : (parseDuration(d.groupWindow) ?? (problems.push('defaults.groupWindow must be a duration such as 10m'), defaults.groupWindowMs)),
    repeatIntervalMs: d.repeatInterval === undefined ? defaults.repeatIntervalMs : (parseDuration(d.repeatInterval) ?? (problems.push('defaults.repeatInterval must be a duration such as 30m'), defaults.repeatIntervalMs)),
    sendResolved: typeof d.sendResolved === 'boolean' ? d.sendResolved : defaults.sendResolved,
  }
  const routes: Route[] = []
  const rawRoutes = doc.routes
  if (!routesNothing && (!Array.isArray(rawRoutes) || rawRoutes.length === 0)) problems.push('routes must be a non-empty list')
  else if (Array.isArray(rawRoutes)) {
    rawRoutes.forEach((r: unknown, i) => {
      const at = `routes[${i}]`
      if (!isObj(r)) return void problems.push(`${at} must be a mapping`)
      const name = typeof r.name === 'string' && NAME.test(r.name) ? r.name : `route-${i + 1}`
      if (r.name !== undefined && name !== r.name) problems.push(`${at}.name must be a short name`)
      if (routes.some((x) => x.name === name)) problems.push(`${at}: route '${name}' is defined twice`)
      const sinkNames = stringList(r.sinks, `${at}.sinks`, problems) ?? []
      if (sinkNames.length === 0) problems.push(`${at}.sinks must name at least one sink`)
      for (const s of sinkNames) if (Array.isArray(rawSinks) && !sinks.has(s) && problems.every((p) => !p.includes(`'${s}'`))) problems.push(`${at}.sinks: unknown sink '${s}'`)
      const duration = (key: string, fallback: number): number => {
        if (r[key] === undefined) return fallback
        const ms = parseDuration(r[key])
        if (ms === undefined) problems.push(`${at}.${key} must be a duration such as 10m or 1h30m`)
        return ms ?? fallback
      }
      if (r.sendResolved !== undefined && typeof r.sendResolved !== 'boolean') problems.push(`${at}.sendResolved must be true or false`)
      if (r.continue !== undefined && typeof r.continue !== 'boolean') problems.push(`${at}.continue must be true or false`)
      routes.push({
        name,
        match: parseMatch(r.match, at, problems),
        sinks: [...new Set(sinkNames)],
        groupWindowMs: duration('groupWindow', base.groupWindowMs),
        repeatIntervalMs: duration('repeatInterval', base.repeatIntervalMs),
        sendResolved: typeof r.sendResolved === 'boolean' ? r.sendResolved : base.sendResolved,
        template: parseTemplate(r.template, at, problems),
        continue: r.continue === true,
      })
    })
  }
  let dashboard = dashboardUrl
  if (doc.dashboardUrl !== undefined) {
    dashboard = typeof doc.dashboardUrl === 'string' ? checkUrl(doc.dashboardUrl, 'dashboardUrl', problems) : (problems.push('dashboardUrl must be a URL'), undefined)
  }
  if (problems.length > 0) throw new RoutesError(problems, where)
  return { sinks, routes, dashboardUrl: dashboard, defaults: base }
}

export function loadRoutesFile(path: string, env: Env, defaults: RouteDefaults, dashboardUrl: URL | undefined): ParsedRouting {
  let doc: unknown
  try {
    // yaml costs ~90 ms of start-up to import and only a routes file needs it (the ALERT_* variables do not);
    // required synchronously because loading the configuration is synchronous (CommonJS, external in bundles).
    const { parse } = createRequire(import.meta.url)('yaml') as typeof import('yaml')
    doc = parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new RoutesError([err instanceof Error ? err.message : String(err)], path)
  }
  return parseRouting(doc, env, defaults, path, dashboardUrl)
}

/** The routes a subject goes to, in order; first match wins unless a route says `continue: true`. */
export function matchRoutes(routes: readonly Route[], s: AlertSubject): Route[] {
  const out: Route[] = []
  for (const r of routes) {
    const m = r.match
    if (m.severity !== null && !m.severity.has(s.severity)) continue
    if (m.category !== null && !m.category.has(s.category)) continue
    if (m.kind !== null && !m.kind.has(s.kind)) continue
    // Cluster-scoped subjects (no namespace) are matched as the empty string.
    const ns = s.namespace ?? ''
    if (m.namespaceInclude !== null && !m.namespaceInclude.some((re) => re.test(ns))) continue
    if (m.namespaceExclude.some((re) => re.test(ns))) continue
    out.push(r)
    if (!r.continue) break
  }
  return out
}
