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
// toISOString writes year 0 as 0000 (out of range for PostgreSQL, whose 1 BC is '0001 BC') and years past
// 0–9999 as ±YYYYYY, which PostgreSQL cannot parse: a time outside the years 1–9999 is a 400, not a failed statement.
const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z')
const LATEST = Date.parse('9999-12-31T23:59:59.999Z')
const inStoreRange = (ms: number): boolean => ms >= EARLIEST && ms <= LATEST
/** RFC 3339's date part names a real day: Date.parse rolls 2026-02-30 over to March 2. */
function realDate(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(text)
  if (m === null) return false
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const last = new Date(0)
  last.setUTCFullYear(year, month, 0) // day 0 of the next month: the month's last day
  return day >= 1 && day <= last.getUTCDate()
}
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
    // PostgreSQL text cannot hold U+0000: the statement would fail (a 500) instead of matching nothing.
    if (v.includes('\u0000')) {
      this.problems.push({ parameter: name, problem: 'must not contain a NUL character' })
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
    if (d !== null) {
      const at = this.now - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]
      if (inStoreRange(at)) return new Date(at).toISOString()
      this.problems.push({ parameter: name, problem: `'${v}' reaches back before the year 1` })
      return undefined
    }
    if (!isRfc3339(v) || !realDate(v)) {
      this.problems.push({ parameter: name, problem: `'${v}' is not an RFC 3339 timestamp (2026-01-31T12:00:00Z) or a duration (15m, 6h, 7d)` })
      return undefined
    }
    const at = Date.parse(v)
    if (!inStoreRange(at)) {
      this.problems.push({ parameter: name, problem: `'${v}' is outside the years 1 to 9999 (UTC)` })
      return undefined
    }
    return new Date(at).toISOString()
  }

  page(kind: CursorKind): Page {
    let limit: number = LIMIT.default
    const l = this.string('limit', 6)
    if (l !== undefined) {
      const n = Number(l)
      if (!/^\d+$/.test(l) || n < 1 || n > LIMIT.max) this.problems.push({ parameter: 'limit', problem: `must be an integer from 1 to ${LIMIT.max}` })
      else limit = n
    }
    return { limit, cursor: this.cursor(kind) }
  }

  private cursor(kind: CursorKind): readonly [string, string] | undefined {
    const c = this.string('cursor', 512)
    if (c === undefined) return undefined
    const parsed = decodeCursor(kind, c)
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

/**
 * The list a cursor pages through. A cursor is valid only on the list that issued it: the others sort on
 * other columns, and /problems' tiebreak is a fingerprint where the rest have a bigint sequence number.
 */
export type CursorKind = 'events' | 'pod-events' | 'problems' | 'dead-letters'

/** Sort keys as store-read.ts prints them (RFC 3339 UTC with microseconds). */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/
/** A bigserial: 1 to 2^63 - 1. */
const SEQ = /^[1-9]\d{0,18}$/
const MAX_BIGINT = 2n ** 63n - 1n

function validTiebreak(kind: CursorKind, tiebreak: string): boolean {
  if (kind === 'problems') return tiebreak !== '' && !tiebreak.includes('\u0000')
  return SEQ.test(tiebreak) && BigInt(tiebreak) <= MAX_BIGINT
}

/** Cursors are opaque: base64url of [list, sort key, tiebreak], key and tiebreak as the database printed them. */
export function encodeCursor(kind: CursorKind, key: string, tiebreak: string): string {
  return Buffer.from(JSON.stringify([kind, key, tiebreak]), 'utf8').toString('base64url')
}

/**
 * [sort key, tiebreak] of a cursor issued by `kind`'s list, checked as far as the SQL will cast them
 * (timestamptz, bigint): a cursor that is not one is a 400 here, never a failed statement.
 */
export function decodeCursor(kind: CursorKind, cursor: string): readonly [string, string] | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    return undefined // not JSON: not a cursor
  }
  if (!Array.isArray(v) || v.length !== 3 || v[0] !== kind || typeof v[1] !== 'string' || typeof v[2] !== 'string') return undefined
  const [, key, tiebreak] = v as [string, string, string]
  if (!CURSOR_TIME.test(key) || !isRfc3339(key) || !realDate(key) || !inStoreRange(Date.parse(key))) return undefined
  return validTiebreak(kind, tiebreak) ? [key, tiebreak] : undefined
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
  return r.done({ filter, page: r.page('events') })
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
  return r.done({ filter, page: r.page('pod-events') })
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
  return r.done({ filter, page: r.page('problems') })
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
  return r.done({ filter: compact({ code, ...r.window() }), page: r.page('dead-letters') })
}
