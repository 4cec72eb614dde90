// The one HTTP host every function runs in (DESIGN.md "HTTP behaviour"): a lean event path that checks the
// raw request once, binary-mode replies, the Knative status table, health and metrics endpoints, tracing,
// and a graceful shutdown that finishes in-flight events. Events, health and metrics are served by
// node:http itself; express (and its body-parser chain, ≈ 1 MB of code) is loaded only when a function has
// routes of its own (persist's API) or the caller adds some: a function that scales from zero should not
// pay for a router it does not use.
import { once, setMaxListeners } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer, IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { Express, Request, Response, Router } from 'express'
import type { Logger } from 'pino'
import { binaryParts, parseHttpEvent, receivedAsBinary, type CloudEventV1 } from './cloudevent.js'
import type { HostConfig } from './config.js'
import { ReflexError, publicBody, toReflexError } from './errors.js'
import { hostMetrics, type HostMetrics } from './event-metrics.js'
import { endEventSpan, startEventSpan } from './tracing.js'

export interface FunctionContext {
  readonly log: Logger
  /** traceparent of this event's span: put it on every event sent on (replies get it automatically). */
  readonly traceparent: string
  /** Aborted when the host shuts down past its grace period. */
  readonly signal: AbortSignal
  readonly receivedAt: number
}

export type HandlerResult = CloudEventV1 | undefined

export interface HostServices {
  readonly log: Logger
  readonly metrics: HostMetrics
}

/** What a function folder gives the host. */
export interface ReflexFunction {
  readonly name: string
  handle(event: CloudEventV1, ctx: FunctionContext): Promise<HandlerResult>
  /**
   * Extra routes (e.g. persist's query API), mounted under the function's base path; loading express for
   * them costs start-up time and ≈ 5 MiB. POST on the base path itself is the event endpoint, never a route.
   */
  routes?(router: Router, host: HostServices): void
  /** Called once when the host is created: the host's services (e.g. to register metrics) without routes. */
  attach?(host: HostServices): void
  /** Readiness beyond "the process is up" (e.g. the database answers). */
  ready?(): Promise<boolean>
  close?(): Promise<void>
}

export interface Mount {
  readonly fn: ReflexFunction
  /** Base path: '' for the function's own Service (events on POST /), '/classify' in `serve all`. */
  readonly path: string
}

export interface HostOptions {
  readonly config: Pick<HostConfig, 'port' | 'host' | 'bodyLimitBytes' | 'shutdownGraceMs'>
  readonly log: Logger
  readonly mounts: readonly Mount[]
  readonly metrics?: HostMetrics
  /** More express routes on the app itself (e.g. the dashboard at the root in `serve all`). */
  readonly configureApp?: (app: Express) => void
}

export interface Host {
  readonly metrics: HostMetrics
  /** In-process delivery to an event endpoint of this host (see `InProcessRequest`); undefined for any other path. */
  inProcess(path: string): ((request: InProcessRequest) => Promise<InProcessAnswer>) | undefined
  listen(): Promise<AddressInfo>
  /** Stop accepting, finish in-flight events (bounded by the grace period), close the functions. */
  close(): Promise<void>
  readonly url: string
}

// ---- In-process delivery (kube-reflex dev's broker, for subscribers hosted in this very process) ----
// The request and answer an HTTP POST to an event endpoint would carry, without the socket: the event goes
// through the same handleEvent as over HTTP (parse and validation of the binary-mode message, handler,
// status table, Retry-After, reply serialization, metrics, tracing, shutdown answers).

/**
 * A binary- or structured-mode CloudEvent message, as headers (lowercase names) and body; or the event
 * itself, when the sender holds it parsed already (canHandOver): the handler then gets what the binary-mode
 * message would have given it (receivedAsBinary), without the message being written and parsed again, and
 * the headers carry only what is not an attribute (Prefer, traceparent).
 */
export type InProcessRequest =
  | { readonly headers: IncomingHttpHeaders; readonly body: Buffer; readonly event?: undefined }
  | { readonly headers: IncomingHttpHeaders; readonly event: CloudEventV1; readonly body?: undefined }

export interface InProcessAnswer {
  readonly status: number
  /** Lowercase names, as node:http's IncomingMessage gives them to an HTTP client. */
  readonly headers: Record<string, string>
  readonly body: Buffer
}

/** What handleEvent writes its answer to: node:http's ServerResponse, or an in-process answer. */
interface EventResponse {
  statusCode: number
  readonly headersSent: boolean
  setHeader(name: string, value: string | number): unknown
  /** Status and every header at once (node:http builds the header block without per-header bookkeeping). */
  writeHead(status: number, headers: Record<string, string>): unknown
  end(body?: Buffer | string): unknown
}

function inProcessResponse(done: (answer: InProcessAnswer) => void): EventResponse {
  const headers: Record<string, string> = {}
  let sent = false
  return {
    statusCode: 200,
    get headersSent() {
      return sent
    },
    setHeader(name, value) {
      headers[name.toLowerCase()] = String(value)
    },
    writeHead(status, more) {
      this.statusCode = status
      for (const name in more) headers[name.toLowerCase()] = more[name] ?? ''
    },
    end(body) {
      if (sent) return
      sent = true
      done({ status: this.statusCode, headers, body: body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8') })
    },
  }
}
// ---- end of in-process delivery types ----

const EMPTY = Buffer.alloc(0)
/** How long after listening the host's metrics registry is made when nothing asked for it before. */
const METRICS_WARM_MS = 1000

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new ReflexError('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`))
  }
  return new Promise((resolve, reject) => {
    // An event body usually arrives as one chunk: keep it as is, and make a list only for a second one.
    let first: Buffer | undefined
    let more: Buffer[] | undefined
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new ReflexError('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`))
        return
      }
      if (first === undefined) first = chunk
      else (more ??= [first]).push(chunk)
    })
    req.on('end', () => resolve(more !== undefined ? Buffer.concat(more, size) : (first ?? EMPTY)))
    req.on('error', reject)
  })
}

// Plain node:http calls (what express's res.status().json() sends: same status, JSON body and
// content type), so that the event path also works on requests that never went through express.
function sendError(res: EventResponse, err: ReflexError): void {
  if (err.retryAfterSeconds !== undefined && (err.status === 429 || err.status === 503)) {
    res.setHeader('Retry-After', String(Math.max(0, Math.ceil(err.retryAfterSeconds))))
  }
  const body = JSON.stringify(publicBody(err))
  res.statusCode = err.status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  res.statusCode = status
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.end(body)
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

let turn: Promise<void> | undefined
/**
 * Resolves in this event-loop turn's check phase, the same promise for every caller of the turn: the events
 * read from all ready sockets in one poll are handled first and their replies written after, one after
 * another, instead of each write waking the peer while other requests still wait to be read (issue 9:
 * CPU per request under load ≈ 95 → 70 µs, A/B; p50 and p99 latency no higher; an idle server answers one
 * loop turn later).
 */
function nextTurn(): Promise<void> {
  return (turn ??= new Promise<void>((resolve) => {
    setImmediate(() => {
      turn = undefined
      resolve()
    })
  }))
}

export function createHost(options: HostOptions): Host {
  const { config, log, mounts } = options
  const metrics = options.metrics ?? hostMetrics()
  let shuttingDown = false
  let inFlight = 0
  let idle: (() => void) | undefined
  const abort = new AbortController()
  // Every event in flight shares this one signal, and each outbound request or wait a handler makes while
  // it runs listens on it (alert: one per webhook send and per retry pause). Ten concurrent webhook sends are
  // ordinary load, not a leak, so the default limit of 10 would print MaxListenersExceededWarning under it
  // (seen in `dev --kafka` after a restart, when the backlog is delivered at once). Each listener goes away
  // when its request or wait ends (test/shared/host.test.ts checks the count returns to 0).
  setMaxListeners(0, abort.signal)

  const gets = new Map<string, Handler>()
  gets.set('/health/liveness', (_req, res) => {
    sendJson(res, 200, { status: 'ok' })
  })
  gets.set('/health/readiness', (_req, res) => {
    if (shuttingDown) {
      sendJson(res, 503, { status: 'shutting-down' })
      return
    }
    Promise.all(mounts.map(async (m) => (m.fn.ready === undefined ? true : m.fn.ready()))).then(
      (states) => {
        const ok = states.every(Boolean)
        sendJson(res, ok ? 200 : 503, { status: ok ? 'ready' : 'not-ready' })
      },
      (err: unknown) => {
        log.warn({ err }, 'readiness check failed')
        sendJson(res, 503, { status: 'not-ready' })
      },
    )
  })
  gets.set('/metrics', (_req, res) => {
    metrics.registry.metrics().then(
      (text) => {
        res.statusCode = 200
        res.setHeader('Content-Type', metrics.registry.contentType)
        res.setHeader('Content-Length', Buffer.byteLength(text))
        res.end(text)
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed')
        res.statusCode = 500
        res.end()
      },
    )
  })

  // The event endpoints, served straight from node:http (see listener below), and the same handlers for
  // in-process delivery (Host.inProcess, used by `kube-reflex dev`'s broker).
  const eventRoutes = new Map<string, (req: IncomingMessage | InProcessRequest, res: EventResponse) => void>()
  for (const { fn, path } of mounts) {
    const fnLog = log.child({ fn: fn.name })
    const onEvent = (req: IncomingMessage | InProcessRequest, res: EventResponse): void => {
      if (shuttingDown) {
        sendError(res, new ReflexError('SHUTTING_DOWN', 'shutting down', { retryAfterSeconds: 1 }))
        return
      }
      inFlight++
      // handleEvent never rejects (its catch answers every failure) and counts itself out when done.
      void handleEvent(fn, fnLog, req, res)
    }
    // Events always take the node:http path, also for functions with routes of their own (persist):
    // POST on the event path belongs to the event contract, a function's router never defines it.
    eventRoutes.set(path === '' ? '/' : path, onEvent)
    fn.attach?.({ log, metrics })
  }
  const needsExpress = options.configureApp !== undefined || mounts.some((m) => m.fn.routes !== undefined)
  let app: Express | undefined

  /** Builds the express app for functions' own routes; loaded only when there are some. */
  async function buildApp(): Promise<Express> {
    const { default: express } = await import('express')
    const a = express()
    a.disable('x-powered-by')
    a.set('etag', false)
    for (const { fn, path } of mounts) {
      if (fn.routes === undefined) continue
      const router = express.Router()
      fn.routes(router, { log, metrics })
      a.use(path === '' ? '/' : path, router)
    }
    options.configureApp?.(a)
    // Errors from other routes (e.g. malformed query strings) never leak a stack.
    a.use((err: unknown, _req: Request, res: Response, _next: (e?: unknown) => void) => {
      const re = err instanceof ReflexError ? err : toReflexError(err)
      if (re.status >= 500) log.error({ err }, 'request failed')
      if (!res.headersSent) sendError(res, re)
    })
    return a
  }

  /** Events, health and metrics are answered here; everything else goes to express when there is an app. */
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const rawUrl = req.url ?? '/'
    const q = rawUrl.indexOf('?')
    let path = q === -1 ? rawUrl : rawUrl.slice(0, q)
    // What express's default (non-strict, case-insensitive) routing matched: `/classify/`, `/Classify`.
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
    if (/[A-Z]/.test(path)) path = path.toLowerCase()
    if (req.method === 'POST') {
      const route = eventRoutes.get(path)
      if (route !== undefined) {
        route(req, res)
        return
      }
    } else if (req.method === 'GET' || req.method === 'HEAD') {
      const route = gets.get(path)
      if (route !== undefined) {
        route(req, res)
        return
      }
    }
    if (app !== undefined) {
      app(req, res)
      return
    }
    sendError(res, new ReflexError('NOT_FOUND', `no route for ${req.method ?? 'GET'} ${path}`))
  }

  async function handleEvent(fn: ReflexFunction, fnLog: Logger, req: IncomingMessage | InProcessRequest, res: EventResponse): Promise<void> {
    const start = performance.now()
    let type = 'unknown'
    let outcome = 'error'
    let span: ReturnType<typeof startEventSpan> | undefined
    let failure: ReflexError | undefined
    try {
      const event =
        req instanceof IncomingMessage
          ? parseHttpEvent(req.headers, await readBody(req, config.bodyLimitBytes))
          : req.event === undefined
            ? parseHttpEvent(req.headers, req.body)
            : receivedAsBinary(req.event)
      type = event.type
      metrics.received.inc(fn.name, type)
      const receivedAt = Date.now()
      if (typeof event.time === 'string') {
        const lag = (receivedAt - Date.parse(event.time)) / 1000
        if (lag >= 0) metrics.lag.observe(lag, fn.name)
      }
      span = startEventSpan(fn.name, type, event.traceparent ?? req.headers.traceparent)
      const reply = await fn.handle(event, { log: fnLog, traceparent: span.traceparent, signal: abort.signal, receivedAt })
      if (reply === undefined) {
        outcome = 'ack'
        res.statusCode = 202
        res.end()
      } else {
        if (reply.traceparent === undefined) reply.traceparent = span.traceparent
        // Replies over HTTP are written together once per event-loop turn (see nextTurn).
        if (req instanceof IncomingMessage) await nextTurn()
        const { headers, body: out } = binaryParts(reply)
        // Content-Length must be given with writeHead (otherwise the body would go chunked).
        headers['content-length'] = String(typeof out === 'string' ? Buffer.byteLength(out) : out.length)
        res.writeHead(200, headers)
        res.end(out)
        outcome = 'reply'
        metrics.replies.inc(fn.name, reply.type)
      }
      // Guarded: the log object would otherwise be built for every event even with debug off.
      if (fnLog.isLevelEnabled('debug')) fnLog.debug({ id: event.id, source: event.source, type, status: res.statusCode, ms: performance.now() - start, traceparent: span.traceparent }, 'event')
    } catch (err) {
      failure = toReflexError(err)
      outcome = failure.status >= 500 || failure.status === 429 ? 'retry' : 'rejected'
      metrics.failures.inc(fn.name, String(failure.code))
      if (failure.status >= 500) fnLog.error({ err: failure.cause ?? failure, code: failure.code }, 'event processing failed')
      else fnLog.debug({ code: failure.code, msg: failure.message }, 'event rejected')
      if (!res.headersSent) sendError(res, failure)
    } finally {
      if (span !== undefined) endEventSpan(span, failure === undefined ? undefined : { code: String(failure.code), status: failure.status })
      metrics.duration.observe((performance.now() - start) / 1000, fn.name, type, outcome)
      inFlight--
      if (inFlight === 0) idle?.()
    }
  }

  let server: Server | undefined
  let warmMetrics: NodeJS.Timeout | undefined
  let url = ''
  return {
    metrics,
    get url() {
      return url
    },
    inProcess(path) {
      const route = eventRoutes.get(path === '' ? '/' : path)
      if (route === undefined) return undefined
      return (request) =>
        new Promise<InProcessAnswer>((resolve) => {
          if (request.body !== undefined && request.body.length > config.bodyLimitBytes) {
            sendError(inProcessResponse(resolve), new ReflexError('BODY_TOO_LARGE', `request body exceeds ${config.bodyLimitBytes} bytes`))
            return
          }
          route(request, inProcessResponse(resolve))
        })
    },
    async listen() {
      if (needsExpress && app === undefined) app = await buildApp()
      server = createServer(listener)
      server.listen(config.port, config.host)
      await once(server, 'listening')
      server.keepAliveTimeout = 65_000 // longer than Knative's queue-proxy idle timeout
      const addr = server.address() as AddressInfo
      url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      // The registry (prom-client and Node's default metrics) is made lazily, after the first events rather
      // than before them (event-metrics.ts); a scrape makes it sooner.
      warmMetrics = setTimeout(() => metrics.registry, METRICS_WARM_MS)
      warmMetrics.unref()
      return addr
    },
    async close() {
      shuttingDown = true
      clearTimeout(warmMetrics)
      const closed = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server?.close(() => resolve()))
      server?.closeIdleConnections()
      if (inFlight > 0) {
        const drained = new Promise<void>((resolve) => {
          idle = resolve
        })
        let timer: NodeJS.Timeout | undefined
        const grace = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, config.shutdownGraceMs)
        })
        await Promise.race([drained, grace])
        clearTimeout(timer)
      }
      abort.abort() // anything still running past the grace period is told to give up
      server?.closeAllConnections()
      await closed
      for (const { fn } of mounts) await fn.close?.()
    },
  }
}
