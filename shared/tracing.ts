// OpenTelemetry tracing, following the CloudEvents distributed-tracing extension: the incoming
// `traceparent` (event extension, else the HTTP header) parents one span per event, and every reply
// carries the span's `traceparent`, so a trace follows an event across functions.
// The SDK (and its exporter) is loaded only when an OTLP endpoint is configured: these functions scale
// from zero, and the SDK costs start-up time that nobody should pay for tracing that is switched off.
import { randomBytes } from 'node:crypto'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type SpanContext, TraceFlags } from '@opentelemetry/api'
import type { Logger } from 'pino'

// W3C Trace Context §3.2: version-traceid-parentid-flags.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== 'string') return undefined
  const m = TRACEPARENT.exec(value.trim().toLowerCase())
  if (m === null) return undefined
  const [, version, traceId, spanId, flags] = m
  if (version === 'ff' || traceId === '0'.repeat(32) || spanId === '0'.repeat(16)) return undefined
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
  const [{ NodeSDK }, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ])
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? `kube-reflex-${serviceName}`,
    traceExporter: new OTLPTraceExporter(),
    instrumentations: [],
  })
  sdk.start()
  sdkShutdown = () => sdk.shutdown()
  log.info({ endpoint: new URL(endpoint).origin }, 'tracing: exporting spans over OTLP')
}

export async function stopTracing(): Promise<void> {
  const stop = sdkShutdown
  sdkShutdown = undefined
  if (stop !== undefined) await stop()
}

const tracer = () => trace.getTracer('kube-reflex')

export interface EventSpan {
  readonly span: Span
  /** The traceparent to put on replies and outbound events. */
  readonly traceparent: string
}

/** Starts the span for one event; without an SDK it still continues (or starts) the trace id. */
export function startEventSpan(functionName: string, eventType: string, incoming: unknown): EventSpan {
  const parent = parseTraceparent(incoming)
  const ctx = parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, parent)
  const span = tracer().startSpan(`${functionName} ${eventType}`, { kind: SpanKind.SERVER, attributes: { 'cloudevents.event_type': eventType } }, ctx)
  let sc = span.spanContext()
  if (!trace.isSpanContextValid(sc)) {
    // No SDK and no parent: start a trace of our own so the next hop can still be correlated.
    sc = { traceId: randomBytes(16).toString('hex'), spanId: randomBytes(8).toString('hex'), traceFlags: TraceFlags.NONE }
  }
  return { span, traceparent: formatTraceparent(sc) }
}

export function endEventSpan(es: EventSpan, error?: { code: string; status: number }): void {
  if (error !== undefined && error.status >= 500) {
    es.span.setStatus({ code: SpanStatusCode.ERROR, message: error.code })
    es.span.setAttribute('error.type', error.code)
  }
  es.span.end()
}
