// The one HTTP host every function runs in (DESIGN.md "HTTP behaviour"): express for routing, a lean
// event path that checks the raw request once, binary-mode replies, the Knative status table, health and
// metrics endpoints, tracing, and a graceful shutdown that finishes in-flight events.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer, IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import express, { type Express, type Request, type Response, type Router } from 'express'
import type { Logger } from 'pino'
import { parseHttpEvent, toBinary, type CloudEventV1 } from './cloudevent.js'
import type { HostConfig } from './config.js'
import { ReflexError, publicBody, toReflexError } from './errors.js'
import { hostMetrics, type HostMetrics } from './metrics.js'
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
  /** Extra routes (e.g. persist's query API), mounted under the function's base path. */
  routes?(router: Router, host: HostServices): void
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
}

export interface Host {
  readonly app: Express
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

/** A binary- or structured-mode CloudEvent message, as headers (lowercase names) and body. */
export interface InProcessRequest {
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

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
    end(body) {
      if (sent) return
      sent = true
      done({ status: this.statusCode, headers, body: body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8') })
    },
  }
}
// ---- end of in-process delivery types ----

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new ReflexError('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`))
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > limit) {
        req.removeAllListeners('data')
        req.resume()
        reject(new ReflexError('BODY_TOO_LARGE', `request body exceeds ${limit} bytes`))
        return
      }
      chunks.push(chunk)
    })
    req.on('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)))
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

export function createHost(options: HostOptions): Host {
  const { config, log, mounts } = options
  const metrics = options.metrics ?? hostMetrics()
  const app = express()
  app.disable('x-powered-by')
  app.set('etag', false)
  let shuttingDown = false
  let inFlight = 0
  let idle: (() => void) | undefined
  const abort = new AbortController()

  app.get('/health/liveness', (_req, res) => {
    res.status(200).json({ status: 'ok' })
  })
  app.get('/health/readiness', (_req, res) => {
    if (shuttingDown) {
      res.status(503).json({ status: 'shutting-down' })
      return
    }
    Promise.all(mounts.map(async (m) => (m.fn.ready === undefined ? true : m.fn.ready()))).then(
      (states) => {
        const ok = states.every(Boolean)
        res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not-ready' })
      },
      (err: unknown) => {
        log.warn({ err }, 'readiness check failed')
        res.status(503).json({ status: 'not-ready' })
      },
    )
  })
  app.get('/metrics', (_req, res) => {
    metrics.registry.metrics().then(
      (text) => {
        res.setHeader('Content-Type', metrics.registry.contentType)
        res.send(text)
      },
      (err: unknown) => {
        log.error({ err }, 'metrics collection failed')
        res.status(500).end()
      },
    )
  })

  // The event endpoints, served straight from node:http (see listener below); express keeps the same routes.
  const eventRoutes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>()
  const inProcessRoutes = new Map<string, (req: IncomingMessage | InProcessRequest, res: EventResponse) => void>()
  // A function's own router mounted at the root could claim any path: then every request goes through
  // express, as before, so that its routes keep their precedence.
  const rootRouter = mounts.some((m) => m.path === '' && m.fn.routes !== undefined)
  for (const { fn, path } of mounts) {
    // Only functions with extra routes get a router: an empty one would still be walked on every event.
    if (fn.routes !== undefined) {
      const router = express.Router()
      fn.routes(router, { log, metrics })
      app.use(path === '' ? '/' : path, router)
    }
    const fnLog = log.child({ fn: fn.name })
    const onEvent = (req: IncomingMessage | InProcessRequest, res: EventResponse): void => {
      if (shuttingDown) {
        sendError(res, new ReflexError('SHUTTING_DOWN', 'shutting down', { retryAfterSeconds: 1 }))
        return
      }
      inFlight++
      void handleEvent(fn, fnLog, req, res).finally(() => {
        inFlight--
        if (inFlight === 0) idle?.()
      })
    }
    app.post(path === '' ? '/' : path, onEvent)
    if (!rootRouter && fn.routes === undefined) eventRoutes.set(path === '' ? '/' : path, onEvent)
    inProcessRoutes.set(path === '' ? '/' : path, onEvent)
  }

  /** POST to an event endpoint's exact path skips express's router (its cost is per event); all else goes to express. */
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method === 'POST' && req.url !== undefined) {
      const q = req.url.indexOf('?')
      const route = eventRoutes.get(q === -1 ? req.url : req.url.slice(0, q))
      if (route !== undefined) {
        route(req, res)
        return
      }
    }
    app(req, res)
  }

  async function handleEvent(fn: ReflexFunction, fnLog: Logger, req: IncomingMessage | InProcessRequest, res: EventResponse): Promise<void> {
    const start = performance.now()
    let type = 'unknown'
    let outcome = 'error'
    let span: ReturnType<typeof startEventSpan> | undefined
    let failure: ReflexError | undefined
    try {
      const body = req instanceof IncomingMessage ? await readBody(req, config.bodyLimitBytes) : req.body
      const event = parseHttpEvent(req.headers, body)
      type = event.type
      metrics.received.inc({ function: fn.name, type })
      if (typeof event.time === 'string') {
        const lag = (Date.now() - Date.parse(event.time)) / 1000
        if (lag >= 0) metrics.lag.observe({ function: fn.name }, lag)
      }
      span = startEventSpan(fn.name, type, event.traceparent ?? req.headers.traceparent)
      const reply = await fn.handle(event, { log: fnLog, traceparent: span.traceparent, signal: abort.signal, receivedAt: Date.now() })
      if (reply === undefined) {
        outcome = 'ack'
        res.statusCode = 202
        res.end()
      } else {
        if (reply.traceparent === undefined) reply.traceparent = span.traceparent
        const { headers, body: out } = toBinary(reply)
        res.statusCode = 200
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
        res.end(out)
        outcome = 'reply'
        metrics.replies.inc({ function: fn.name, type: reply.type })
      }
      // Guarded: the log object would otherwise be built for every event even with debug off.
      if (fnLog.isLevelEnabled('debug')) fnLog.debug({ id: event.id, source: event.source, type, status: res.statusCode, ms: performance.now() - start, traceparent: span.traceparent }, 'event')
    } catch (err) {
      failure = toReflexError(err)
      outcome = failure.status >= 500 || failure.status === 429 ? 'retry' : 'rejected'
      metrics.failures.inc({ function: fn.name, code: String(failure.code) })
      if (failure.status >= 500) fnLog.error({ err: failure.cause ?? failure, code: failure.code }, 'event processing failed')
      else fnLog.debug({ code: failure.code, msg: failure.message }, 'event rejected')
      if (!res.headersSent) sendError(res, failure)
    } finally {
      if (span !== undefined) endEventSpan(span, failure === undefined ? undefined : { code: String(failure.code), status: failure.status })
      metrics.duration.observe({ function: fn.name, type, outcome }, (performance.now() - start) / 1000)
    }
  }

  // Errors from other routes (e.g. malformed query strings) never leak a stack.
  app.use((err: unknown, _req: Request, res: Response, _next: (e?: unknown) => void) => {
    const re = err instanceof ReflexError ? err : toReflexError(err)
    if (re.status >= 500) log.error({ err }, 'request failed')
    if (!res.headersSent) sendError(res, re)
  })

  let server: Server | undefined
  let url = ''
  return {
    app,
    metrics,
    get url() {
      return url
    },
    inProcess(path) {
      const route = inProcessRoutes.get(path === '' ? '/' : path)
      if (route === undefined) return undefined
      return (request) =>
        new Promise<InProcessAnswer>((resolve) => {
          if (request.body.length > config.bodyLimitBytes) {
            sendError(inProcessResponse(resolve), new ReflexError('BODY_TOO_LARGE', `request body exceeds ${config.bodyLimitBytes} bytes`))
            return
          }
          route(request, inProcessResponse(resolve))
        })
    },
    async listen() {
      server = createServer(listener)
      server.listen(config.port, config.host)
      await once(server, 'listening')
      server.keepAliveTimeout = 65_000 // longer than Knative's queue-proxy idle timeout
      const addr = server.address() as AddressInfo
      url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      return addr
    },
    async close() {
      shuttingDown = true
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
