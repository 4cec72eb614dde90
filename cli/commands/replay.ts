// `kube-reflex replay`: re-sends stored events (the persist store) or a recording (NDJSON of CloudEvents)
// to a broker or a function, in binary content mode with the original attributes, oldest first.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { Command, CommandIO } from '../io.js'
import { UsageError, cannotRead } from '../io.js'
import { toBinary, type CloudEventV1 } from '../../shared/cloudevent.js'
import { ReflexError } from '../../shared/errors.js'
import type { EventFilter } from '../../functions/persist/query-params.js'
import type { Queryable } from '../../shared/db.js'

export const REPLAY_HELP = `Usage: kube-reflex replay (--from-db | --from FILE) --to URL [options]

Re-sends events in CloudEvents binary mode, oldest first, with their original
attributes (receivers deduplicate on source + id).

Sources:
      --from-db          the persist event store: DATABASE_URL, else the embedded
                         store under KUBE_REFLEX_DATA_DIR (default ./.kube-reflex)
      --from <file>      an NDJSON recording: per line a CloudEvent (JSON format),
                         or a bare Kubernetes object, wrapped as ApiServerSource
                         would wrap it (a new id on every run)

The embedded store belongs to one process: stop persist (kube-reflex dev/serve)
before replaying from it, or use DATABASE_URL.

Options:
      --to <url>         where to send (a Broker ingress or a function); redirects
                         are not followed: a 3xx answer counts as rejected
      --since <time>     only events that occurred at or after: RFC 3339 or 15m, 6h, 7d
      --until <time>     only events that occurred before
                         (either way, --from-db sends only the events stored
                         when it starts: not those stored while it runs)
      --filter <k=v>     repeatable; k is one of namespace, severity, category,
                         reason, kind, name, fingerprint (one problem's history),
                         type (a prefix with .*), q (message text)
      --concurrency <n>  requests in flight (default 1: keeps the order)
      --retries <n>      attempts per event on 429/5xx/network errors (default 5)
  -h, --help             show this help

Progress goes to stderr; the final count to stdout. Exit code 1 if any event
was not accepted, or if the replay was stopped (Ctrl-C, SIGTERM) before every
event was sent: the count then says so ("interrupted: …, N not sent"). Running
it again is safe: receivers deduplicate.
`

/** A source that cannot be read: reported as one line, exit code 1. */
export class ReplayError extends Error {
  override readonly name = 'ReplayError'
}

const FILTER_KEYS = ['namespace', 'severity', 'category', 'reason', 'kind', 'name', 'fingerprint', 'type', 'q'] as const

export interface ReplayOptions {
  readonly source: { readonly db: true } | { readonly file: string }
  readonly to: URL
  readonly filter: EventFilter
  readonly concurrency: number
  readonly retries: number
}

/** Pure: argv → options, or a UsageError saying what is wrong. */
export async function parseOptions(argv: string[], now = Date.now()): Promise<ReplayOptions | 'help'> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'from-db': { type: 'boolean' },
        from: { type: 'string' },
        to: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        filter: { type: 'string', multiple: true },
        concurrency: { type: 'string' },
        retries: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const v = parsed.values
  if (v.help === true) return 'help'
  if ((v['from-db'] === true) === (v.from !== undefined)) throw new UsageError('give exactly one source: --from-db or --from FILE')
  if (v.to === undefined) throw new UsageError('--to URL is required')
  let to: URL
  try {
    to = new URL(v.to)
    if (to.protocol !== 'http:' && to.protocol !== 'https:') throw new Error('protocol')
  } catch {
    throw new UsageError(`--to must be an http(s) URL (got '${v.to}')`)
  }
  const query: Record<string, string> = {}
  if (v.since !== undefined) query.since = v.since
  if (v.until !== undefined) query.until = v.until
  for (const f of v.filter ?? []) {
    const eq = f.indexOf('=')
    const k = f.slice(0, eq)
    if (eq <= 0 || !(FILTER_KEYS as readonly string[]).includes(k)) throw new UsageError(`--filter takes key=value with key one of ${FILTER_KEYS.join(', ')} (got '${f}')`)
    if (query[k] !== undefined) throw new UsageError(`--filter ${k} given twice (use a comma list for severity/category)`)
    query[k] = f.slice(eq + 1)
  }
  // The same validation as the query API: one set of rules for what a filter means.
  const { parseEventsQuery } = await import('../../functions/persist/query-params.js')
  let filter: EventFilter
  try {
    filter = parseEventsQuery(query, now).filter
  } catch (err) {
    if (err instanceof ReflexError) throw new UsageError(err.message.replace(/^invalid query: /, ''))
    throw err
  }
  const int = (name: string, raw: string | undefined, fallback: number, max: number): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be an integer from 1 to ${max}`)
    return n
  }
  return {
    source: v.from !== undefined ? { file: v.from } : { db: true },
    to,
    filter,
    concurrency: int('concurrency', v.concurrency, 1, 64),
    retries: int('retries', v.retries, 5, 20),
  }
}

/** What --from-db reads: the persist event store. */
export type EventStoreReader = Queryable & { close(): Promise<void> }

export interface ReplayDeps {
  readonly fetch: typeof fetch
  /** Backoff between attempts, cut short by `stop` (sleepUntilStopped); tests pass a no-op. */
  readonly sleep: (ms: number, stop: AbortSignal) => Promise<void>
  /** The store --from-db reads (default: DATABASE_URL, else the embedded one); tests share a running persist's. */
  readonly openStore?: (io: CommandIO) => Promise<EventStoreReader>
}

export interface ReplayResult {
  /** Events to send: the recording's, or the store's matches when the replay started. */
  total: number
  sent: number
  rejected: number
  failed: number
  invalid: number
  /** Stopped (SIGINT/SIGTERM) before every event was tried; an event in flight then counts as not sent. */
  interrupted: boolean
}

/** The backoff: resolves after `ms`, or as soon as the process is asked to stop. */
export async function sleepUntilStopped(ms: number, stop: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal: stop }).catch(() => undefined)
}

type Outcome = { readonly outcome: 'sent' } | { readonly outcome: 'interrupted' } | { readonly outcome: 'rejected' | 'failed'; readonly why: string }

/** The stored JSON event back to a wire event: data_base64 becomes bytes again (CloudEvents JSON §3.1). */
function fromJson(json: Record<string, unknown>): CloudEventV1 {
  const { data_base64: b64, ...rest } = json
  const event = rest as CloudEventV1
  if (typeof b64 === 'string') event.data = Buffer.from(b64, 'base64')
  return event
}

async function send(event: CloudEventV1, to: URL, retries: number, deps: ReplayDeps, signal: AbortSignal): Promise<Outcome> {
  const { headers, body } = toBinary(event)
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) return { outcome: 'interrupted' }
    let retryAfter: number | undefined
    let why: string
    try {
      // Redirects are not followed: fetch would turn the POST into a GET on 301/302/303 (Fetch §4.4) and
      // the event would not arrive, yet count as sent. A receiver that redirects has not accepted it.
      const res = await deps.fetch(to, { method: 'POST', headers, body, signal, redirect: 'manual' })
      // The status decides: a stop (or a reset) while the body is drained does not undo a 2xx.
      await res.arrayBuffer().catch(() => undefined)
      if (res.status >= 200 && res.status < 300) return { outcome: 'sent' }
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location')
        return { outcome: 'rejected', why: `HTTP ${res.status} redirect${location === null ? ' without a Location' : ` to ${location}`} (not followed: give the final URL as --to)` }
      }
      why = `HTTP ${res.status}`
      // Knative's retry table: 429 and 5xx are worth retrying; other 4xx will fail again.
      if (res.status !== 429 && res.status < 500) return { outcome: 'rejected', why }
      const ra = Number(res.headers.get('retry-after'))
      if (Number.isFinite(ra) && ra > 0) retryAfter = Math.min(ra, 30) * 1000
    } catch (err) {
      // Stopped mid-request: whether the receiver took the event is unknown; re-sending it is safe (dedup).
      if (signal.aborted) return { outcome: 'interrupted' }
      why = err instanceof Error ? ((err.cause instanceof Error ? err.cause.message : undefined) ?? err.message) : String(err)
    }
    if (attempt >= retries) return { outcome: 'failed', why }
    await deps.sleep(retryAfter ?? Math.min(200 * 2 ** (attempt - 1), 5000), signal)
  }
}

class Progress {
  private last = -1
  private readonly tty: boolean
  constructor(
    private readonly io: CommandIO,
    private readonly total: number,
  ) {
    this.tty = (io.stderr as { isTTY?: boolean }).isTTY === true
  }

  tick(done: number): void {
    if (this.tty) {
      // Clamped: a count is a snapshot, and the store may gain or lose rows (a prune) while we send.
      const width = 30
      const filled = this.total === 0 ? width : Math.max(0, Math.min(width, Math.round((width * done) / this.total)))
      this.io.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${this.total}`)
      return
    }
    // Not a terminal (CI logs): a line per 10 % rather than a bar redrawn with \r.
    const step = Math.max(1, Math.ceil(this.total / 10))
    if (done - Math.max(this.last, 0) >= step) this.line(done)
  }

  /** The final state: the bar ends its line; a log ends with the final count. */
  finish(done: number): void {
    if (this.tty) {
      this.tick(done)
      this.io.stderr.write('\n')
    } else if (this.last !== done) this.line(done)
  }

  private line(done: number): void {
    this.last = done
    this.io.stderr.write(`replay: ${done}/${this.total}\n`)
  }
}

async function* fromFile(path: string, filter: EventFilter, result: ReplayResult, io: CommandIO): AsyncGenerator<CloudEventV1> {
  const { toRecord } = await import('../../functions/persist/record.js')
  const { matchesFilter } = await import('../../functions/persist/record-filter.js')
  const { replayLineToEvent, DEFAULT_API_SERVER_URL } = await import('../../broker/sources/replay.js')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ReplayError(cannotRead(path, err), { cause: err })
  }
  // Read as `kube-reflex dev --replay` reads a file (DESIGN.md "Command line"): a line is a CloudEvent, or a
  // bare Kubernetes object wrapped as ApiServerSource would send it (add, then update); # starts a comment.
  const seen = new Set<string>()
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const parsed = replayLineToEvent(line, seen, DEFAULT_API_SERVER_URL)
    if ('error' in parsed) {
      result.invalid++
      io.stderr.write(`replay: ${path}:${i + 1}: ${parsed.error}\n`)
      continue
    }
    const event = parsed.event
    let record
    try {
      record = toRecord(event, new Date())
    } catch {
      record = undefined // not something persist would store: filters on its fields cannot match, send it only unfiltered
    }
    if (Object.keys(filter).length > 0 && (record === undefined || !matchesFilter(record, filter))) continue
    yield event
  }
}

export async function replay(options: ReplayOptions, io: CommandIO, deps: ReplayDeps): Promise<ReplayResult> {
  const result: ReplayResult = { total: 0, sent: 0, rejected: 0, failed: 0, invalid: 0, interrupted: false }
  let events: AsyncIterable<CloudEventV1, unknown>
  let total: number
  let close = (): Promise<void> => Promise.resolve()
  if ('file' in options.source) {
    const collected: CloudEventV1[] = []
    for await (const e of fromFile(resolve(io.cwd, options.source.file), options.filter, result, io)) collected.push(e)
    const it = collected[Symbol.iterator]()
    events = { [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve(it.next()) }) }
    total = collected.length
  } else {
    const [{ listEvents, countEvents, lastEventSeq }, { decodeCursor }] = await Promise.all([
      import('../../functions/persist/store-read.js'),
      import('../../functions/persist/query-params.js'),
    ])
    const db = await (deps.openStore ?? openStore)(io)
    close = () => db.close()
    // The window ends at what is stored when the replay starts, --until or not: events stored while it runs
    // (the replies the replayed events cause, when persist is live) are not sent, and the count holds.
    let storedThrough: string
    try {
      storedThrough = await lastEventSeq(db)
      total = await countEvents(db, options.filter, storedThrough)
    } catch (err) {
      await close()
      throw new ReplayError('cannot read the event store (has persist run against this database?)', { cause: err })
    }
    const filter = options.filter
    events = (async function* () {
      let cursor: readonly [string, string] | undefined
      for (;;) {
        const page = await listEvents(db, filter, { limit: 200, cursor }, 'asc', storedThrough)
        for (const item of page.items) yield fromJson(item.event)
        if (page.nextCursor === null) return
        cursor = decodeCursor('events', page.nextCursor)
        if (cursor === undefined) throw new Error(`the store issued a cursor it does not accept: ${page.nextCursor}`)
      }
    })()
  }
  const progress = new Progress(io, total)
  let done = 0
  let stopped = false
  try {
    const iterator = events[Symbol.asyncIterator]()
    // A small pool pulling from one iterator: with concurrency 1, strictly in order.
    const worker = async (): Promise<void> => {
      for (;;) {
        if (io.stopSignal.aborted) {
          stopped = true
          return
        }
        const next = await iterator.next()
        if (next.done === true) return
        const delivery = await send(next.value, options.to, options.retries, deps, io.stopSignal)
        if (delivery.outcome === 'interrupted') {
          stopped = true
          return
        }
        result[delivery.outcome]++
        if (delivery.outcome !== 'sent') io.stderr.write(`replay: ${next.value.source} ${next.value.id}: ${delivery.outcome === 'rejected' ? 'rejected by the receiver' : 'gave up after retries'}: ${delivery.why}\n`)
        progress.tick(++done)
      }
    }
    await Promise.all(Array.from({ length: options.concurrency }, worker))
  } finally {
    await close()
  }
  progress.finish(done)
  result.total = total
  result.interrupted = stopped && done < total
  return result
}

async function openStore(io: CommandIO): Promise<EventStoreReader> {
  const { openDatabase } = await import('../../shared/db.js')
  const databaseUrl = io.env.DATABASE_URL || undefined
  const dataDir = resolve(io.cwd, io.env.KUBE_REFLEX_DATA_DIR || '.kube-reflex')
  // Opening a missing embedded store would create an empty one: say what is wrong instead.
  if (databaseUrl === undefined && !existsSync(resolve(dataDir, 'db'))) throw new ReplayError(`no event store under ${dataDir} (set KUBE_REFLEX_DATA_DIR or DATABASE_URL)`)
  return openDatabase({ databaseUrl, dataDir })
}

export const replayCommand: Command = async (argv: string[], io: CommandIO) => {
  const options = await parseOptions(argv)
  if (options === 'help') {
    io.stdout.write(REPLAY_HELP)
    return 0
  }
  let result: ReplayResult
  try {
    result = await replay(options, io, { fetch, sleep: sleepUntilStopped })
  } catch (err) {
    if (!(err instanceof ReplayError)) throw err
    io.stderr.write(`kube-reflex replay: ${err.message}\n`)
    return 1
  }
  const tried = result.sent + result.rejected + result.failed
  // Interrupted: out of the events there were to send; otherwise out of those tried (a prune may have removed some).
  const line = `replayed ${result.sent} of ${result.interrupted ? result.total : tried} events to ${options.to.origin}${options.to.pathname}` +
    `${result.rejected > 0 ? `, ${result.rejected} rejected` : ''}${result.failed > 0 ? `, ${result.failed} failed` : ''}${result.invalid > 0 ? `, ${result.invalid} invalid lines skipped` : ''}`
  if (result.interrupted) {
    io.stdout.write(`interrupted: ${line}, ${result.total - tried} not sent\n`)
    return 1
  }
  io.stdout.write(`${line}\n`)
  return result.rejected + result.failed + result.invalid > 0 ? 1 : 0
}
