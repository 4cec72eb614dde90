// OpenTelemetry tracing, following the CloudEvents distributed-tracing extension: the incoming
// `traceparent` (event extension, else the HTTP header) parents one span per event, and every reply
// carries the span's `traceparent`, so a trace follows an event across functions.
// The SDK (and its exporter) is loaded only when an OTLP endpoint is configured: these functions scale
// from zero, and the SDK costs start-up time that nobody should pay for tracing that is switched off.
// The API itself is loaded then too: without an SDK every span is a no-op, and the host keeps the trace
// going with the incoming traceparent or fresh ids of its own — no need for 60-odd modules at start-up.
import { randomFillSync } from 'node:crypto'
import type { Span, SpanContext } from '@opentelemetry/api'
import type { Logger } from 'pino'

type OtelApi = typeof import('@opentelemetry/api')
let api: OtelApi | undefined

// W3C Trace Context §3.2: version-traceid-parentid-flags.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
// §3.2.2.3/§3.2.2.4: all-zero ids are invalid.
const ZERO_TRACE_ID = '0'.repeat(32)
const ZERO_SPAN_ID = '0'.repeat(16)

export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined
  const m = TRACEPARENT.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  const [, version, traceId, spanId, flags] = m
  if (version === 'ff' || traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined
  return { traceId: traceId ?? '', spanId: spanId ?? '', traceFlags: parseInt(flags ?? '0', 16), isRemote: true }
}

export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, '0')}`
}

let sdkShutdown: (() => Promise<void>) | undefined

/** Starts the OpenTelemetry SDK when the standard OTEL_* variables ask for an exporter. */
export async function startTracing(env: Readonly<Record<string, string | undefined>>, serviceName: string, log: Logger): Promise<void> {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT
  const exporter = env.OTEL_TRACES_EXPORTER
  if (sdkShutdown !== undefined || endpoint === undefined || exporter === 'none') return
  const [{ NodeSDK }, { OTLPTraceExporter }, otel] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/api'),
  ])
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? `kube-reflex-${serviceName}`,
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [],
  })
  sdk.start()
  api = otel
  sdkShutdown = () => sdk.shutdown()
  log.info({ endpoint: new URL(endpoint).origin }, 'tracing: exporting spans over OTLP')
}

export async function stopTracing(): Promise<void> {
  const stop = sdkShutdown
  sdkShutdown = undefined
  api = undefined
  if (stop !== undefined) await stop()
}

export interface EventSpan {
  /** Only when the SDK runs: otherwise a span would be a no-op object allocated per event. */
  readonly span: Span | undefined
  /** The traceparent to put on replies and outbound events. */
  readonly traceparent: string
}

// Fresh trace/span ids come from a pooled random buffer: one randomFillSync per 170 events instead of two
// randomBytes calls (and their Buffer allocations) per event.
const POOL = Buffer.alloc(24 * 170)
let poolOffset = POOL.length

function freshTraceparent(): string {
  if (poolOffset + 24 > POOL.length) {
    randomFillSync(POOL)
    poolOffset = 0
  }
  const traceId = POOL.toString('hex', poolOffset, poolOffset + 16)
  const spanId = POOL.toString('hex', poolOffset + 16, poolOffset + 24)
  poolOffset += 24
  // W3C Trace Context §3.2.2.3/§3.2.2.4: all-zero ids are invalid (one chance in 2^64, but cheap to rule out).
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return freshTraceparent()
  return `00-${traceId}-${spanId}-00`
}

/** Starts the span for one event; without an SDK it still continues (or starts) the trace id. */
export function startEventSpan(functionName: string, eventType: string, incoming: unknown): EventSpan {
  const parent = parseTraceparent(incoming)
  const otel = api
  if (otel === undefined) {
    // No SDK: what the no-op tracer would give — the parent's context as is, or a trace of our own so the next
    // hop can still be correlated.
    return { span: undefined, traceparent: parent === undefined ? freshTraceparent() : formatTraceparent(parent) }
  }
  const ctx = parent === undefined ? otel.ROOT_CONTEXT : otel.trace.setSpanContext(otel.ROOT_CONTEXT, parent)
  const span = otel.trace.getTracer('kube-reflex').startSpan(`${functionName} ${eventType}`, { kind: otel.SpanKind.SERVER, attributes: { 'cloudevents.event_type': eventType } }, ctx)
  const sc = span.spanContext()
  return { span, traceparent: otel.trace.isSpanContextValid(sc) ? formatTraceparent(sc) : parent === undefined ? freshTraceparent() : formatTraceparent(parent) }
}

export function endEventSpan(es: EventSpan, error?: { code: string; status: number }): void {
  const span = es.span
  if (span === undefined) return
  if (error !== undefined && error.status >= 500) {
    span.setStatus({ code: api?.SpanStatusCode.ERROR ?? 2, message: error.code })
    span.setAttribute('error.type', error.code)
  }
  span.end()
}
