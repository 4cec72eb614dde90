// Validation of the query API's parameters: everything a caller can send is checked here and turned into
// typed filters; every problem found is reported in one 400 (errors.ts queryInvalid).
import { isRfc3339 } from '../../shared/cloudevent.js'
import { SEVERITIES, type Severity } from '../../shared/contracts.js'
import { queryInvalid, type QueryProblem } from './errors.js'

export type QueryInput = Readonly<Record<string, unknown>>

export interface Page {
  readonly limit: number
  readonly cursor: readonly [string, string] | undefined
}

export interface EventFilter {
  readonly namespace?: string | undefined
  readonly severity?: readonly Severity[] | undefined
  readonly category?: readonly string[] | undefined
  readonly reason?: string | undefined
  readonly kind?: string | undefined
  readonly name?: string | undefined
  /** One problem's history: the events classify gave this fingerprint (as listed by /problems). */
  readonly fingerprint?: string | undefined
  /** Exact type, or a prefix when it ends in `.*` (e.g. `dev.kubereflex.alert.*`). */
  readonly type?: string | undefined
  readonly since?: string | undefined
  readonly until?: string | undefined
  readonly q?: string | undefined
}

export const POD_STATUSES = ['CRITICAL', 'WARNING', 'NORMAL'] as const
export type PodStatus = (typeof POD_STATUSES)[number]

export const LIMIT = { default: 50, max: 500 } as const
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/
const TOKEN = /^[a-z0-9][a-z0-9-]{0,62}$/
const TYPE = /^[A-Za-z0-9._-]+(\.\*)?$/
const DURATION = /^(\d{1,6})([smhd])$/
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const KNOWN = {
  events: ['namespace', 'severity', 'category', 'reason', 'kind', 'name', 'fingerprint', 'type', 'since', 'until', 'q', 'limit', 'cursor'],
  podEvents: ['namespace', 'status', 'since', 'until', 'limit', 'cursor'],
  problems: ['status', 'namespace', 'severity', 'category', 'limit', 'cursor'],
  stats: ['since', 'until', 'namespace'],
  deadLetters: ['code', 'since', 'until', 'limit', 'cursor'],
} as const

class Reader {
  readonly problems: QueryProblem[] = []
  constructor(
    private readonly input: QueryInput,
    known: readonly string[],
    private readonly now: number,
  ) {
    for (const k of Object.keys(input)) if (!known.includes(k)) this.problems.push({ parameter: k, problem: `unknown parameter (expected one of ${known.join(', ')})` })
  }

  string(name: string, max = 253): string | undefined {
    const v = this.input[name]
    if (v === undefined) return undefined
    if (typeof v !== 'string') {
      this.problems.push({ parameter: name, problem: 'must be given once, as a plain value' })
      return undefined
    }
    if (v === '' || v.length > max) {
      this.problems.push({ parameter: name, problem: `must be 1 to ${max} characters` })
      return undefined
    }
    return v
  }

  name(name: string): string | undefined {
    const v = this.string(name)
    if (v !== undefined && !NAME.test(v)) this.problems.push({ parameter: name, problem: 'must be a Kubernetes-style name (letters, digits, . _ : -)' })
    return v
  }

  severities(name: string): Severity[] | undefined {
    const v = this.string(name)
    if (v === undefined) return undefined
    const list = v.split(',').map((s) => s.trim().toLowerCase())
    const bad = list.filter((s) => !(SEVERITIES as readonly string[]).includes(s))
    if (bad.length > 0) this.problems.push({ parameter: name, problem: `unknown severity '${bad.join(',')}' (one or more of ${SEVERITIES.join(', ')}, comma-separated)` })
    return list as Severity[]
  }

  tokens(name: string): string[] | undefined {
    const v = this.string(name)
    if (v === undefined) return undefined
    const list = v.split(',').map((s) => s.trim())
    if (list.some((s) => !TOKEN.test(s))) this.problems.push({ parameter: name, problem: 'must be lowercase words (letters, digits, -), comma-separated' })
    return list
  }

  /** RFC 3339 timestamp, or a duration back from now (`90s`, `15m`, `6h`, `7d`). Returns ISO. */
  time(name: string): string | undefined {
    const v = this.string(name, 64)
    if (v === undefined) return undefined
    const d = DURATION.exec(v)
    if (d !== null) return new Date(this.now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]).toISOString()
    if (!isRfc3339(v)) {
      this.problems.push({ parameter: name, problem: `'${v}' is not an RFC 3339 timestamp (2026-01-31T12:00:00Z) or a duration (15m, 6h, 7d)` })
      return undefined
    }
    return new Date(Date.parse(v)).toISOString()
  }

  page(): Page {
    let limit: number = LIMIT.default
    const l = this.string('limit', 6)
    if (l !== undefined) {
      const n = Number(l)
      if (!/^\d+$/.test(l) || n < 1 || n > LIMIT.max) this.problems.push({ parameter: 'limit', problem: `must be an integer from 1 to ${LIMIT.max}` })
      else limit = n
    }
    return { limit, cursor: this.cursor() }
  }

  private cursor(): readonly [string, string] | undefined {
    const c = this.string('cursor', 512)
    if (c === undefined) return undefined
    const parsed = decodeCursor(c)
    if (parsed === undefined) this.problems.push({ parameter: 'cursor', problem: 'is not a cursor this API issued (pass nextCursor back unchanged)' })
    return parsed
  }

  window(): { since?: string; until?: string } {
    const since = this.time('since')
    const until = this.time('until')
    if (since !== undefined && until !== undefined && since > until) this.problems.push({ parameter: 'until', problem: 'must not be before since' })
    return { ...(since === undefined ? {} : { since }), ...(until === undefined ? {} : { until }) }
  }

  done<T>(value: T): T {
    if (this.problems.length > 0) throw queryInvalid(this.problems)
    return value
  }
}

/** Cursors are opaque: base64url of [sort key, tiebreak], both strings as the database printed them. */
export function encodeCursor(key: string, tiebreak: string): string {
  return Buffer.from(JSON.stringify([key, tiebreak]), 'utf8').toString('base64url')
}

export function decodeCursor(cursor: string): readonly [string, string] | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]]
  } catch {
    // not JSON: fall through to "not a cursor"
  }
  return undefined
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

export function parseEventsQuery(input: QueryInput, now = Date.now()): { filter: EventFilter; page: Page } {
  const r = new Reader(input, KNOWN.events, now)
  const type = r.string('type')
  if (type !== undefined && !TYPE.test(type)) r.problems.push({ parameter: 'type', problem: 'must be an event type, or a prefix ending in .* (dev.kubereflex.alert.*)' })
  const filter: EventFilter = compact({
    namespace: r.name('namespace'),
    severity: r.severities('severity'),
    category: r.tokens('category'),
    reason: r.name('reason'),
    kind: r.name('kind'),
    name: r.name('name'),
    // Opaque (a hash from classify, or whatever a producer put there): compared as given.
    fingerprint: r.string('fingerprint'),
    type,
    q: r.string('q', 200),
    ...r.window(),
  })
  return r.done({ filter, page: r.page() })
}

export interface PodEventsQuery {
  readonly namespace?: string | undefined
  readonly status?: PodStatus | undefined
  readonly since?: string | undefined
  readonly until?: string | undefined
}

export function parsePodEventsQuery(input: QueryInput, path: { namespace?: string; status?: string }, now = Date.now()): { filter: PodEventsQuery; page: Page } {
  const r = new Reader({ ...input, ...path }, KNOWN.podEvents, now)
  const status = r.string('status')?.toUpperCase()
  if (status !== undefined && !(POD_STATUSES as readonly string[]).includes(status)) r.problems.push({ parameter: 'status', problem: `unknown status (one of ${POD_STATUSES.join(', ')})` })
  const filter: PodEventsQuery = compact({ namespace: r.name('namespace'), status: status as PodStatus | undefined, ...r.window() })
  return r.done({ filter, page: r.page() })
}

export interface ProblemsQuery {
  readonly status: 'open' | 'all'
  readonly namespace?: string | undefined
  readonly severity?: readonly Severity[] | undefined
  readonly category?: readonly string[] | undefined
}

export function parseProblemsQuery(input: QueryInput, now = Date.now()): { filter: ProblemsQuery; page: Page } {
  const r = new Reader(input, KNOWN.problems, now)
  const status = r.string('status') ?? 'open'
  if (status !== 'open' && status !== 'all') r.problems.push({ parameter: 'status', problem: "must be 'open' or 'all'" })
  const filter: ProblemsQuery = compact({
    status: status === 'all' ? ('all' as const) : ('open' as const),
    namespace: r.name('namespace'),
    severity: r.severities('severity'),
    category: r.tokens('category'),
  })
  return r.done({ filter, page: r.page() })
}

export interface StatsQuery {
  readonly since: string
  readonly until: string
  readonly namespace?: string | undefined
}

export function parseStatsQuery(input: QueryInput, now = Date.now()): StatsQuery {
  const r = new Reader(input, KNOWN.stats, now)
  const w = r.window()
  const since = w.since ?? new Date(now - 86_400_000).toISOString()
  const until = w.until ?? new Date(now).toISOString()
  if (since > until) r.problems.push({ parameter: 'since', problem: 'must not be after until (default until: now)' })
  return r.done(compact({ since, until, namespace: r.name('namespace') }))
}

export interface DeadLetterQuery {
  readonly code?: string | undefined
  readonly since?: string | undefined
  readonly until?: string | undefined
}

export function parseDeadLetterQuery(input: QueryInput, now = Date.now()): { filter: DeadLetterQuery; page: Page } {
  const r = new Reader(input, KNOWN.deadLetters, now)
  const code = r.string('code', 3)
  if (code !== undefined && !/^\d{3}$/.test(code)) r.problems.push({ parameter: 'code', problem: 'must be an HTTP status code (3 digits)' })
  return r.done({ filter: compact({ code, ...r.window() }), page: r.page() })
}
