// Knative's delivery spec (duckv1.DeliverySpec) as the local broker applies it: retry count, backoff
// policy and delay, per-request timeout (with a default bound, see DEFAULT_ATTEMPT_TIMEOUT_MS), Retry-After,
// and which answers are worth retrying. Mirrors
// knative/eventing pkg/kncloudevents (RetryConfigFromDeliverySpec, SelectiveRetry, generateBackoffFn).

/** A destination as in duckv1.Destination: a ref to an addressable, a URI, or a ref plus a relative URI. */
export interface Destination {
  readonly ref?: { readonly apiVersion?: string; readonly kind?: string; readonly name: string; readonly namespace?: string }
  readonly uri?: string
}

export type BackoffPolicy = 'exponential' | 'linear'

export interface DeliverySpec {
  readonly retry?: number
  readonly backoffPolicy?: BackoffPolicy
  readonly backoffDelay?: string
  readonly timeout?: string
  readonly retryAfterMax?: string
  readonly deadLetterSink?: Destination
}

/**
 * Per-attempt timeout of a delivery whose spec sets none (or PT0S). Knative Eventing has no such default:
 * without DeliverySpec.timeout its dispatcher's http.Client has no Timeout (kncloudevents
 * client.DoWithRetries; the transport only bounds connecting), so a subscriber that takes the request and
 * never answers keeps that attempt open. On a
 * cluster the bound comes from Knative Serving instead: the queue-proxy in front of a Knative Service
 * answers 504 once the revision's `timeoutSeconds` is over, 300 s unless set (config-defaults
 * `revision-timeout-seconds`). The local broker applies that same 300 s to every destination, so a hung
 * subscriber's attempt fails, is retried per the delivery spec and ends in the dead-letter sink.
 */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 300_000

export interface RetryPolicy {
  /** Retries after the first attempt (DeliverySpec.retry); 0 = one attempt only. */
  readonly retries: number
  /** Delay before retry number `attempt` (0-based, as go-retryablehttp counts) given the failed answer. */
  backoffMs(attempt: number, failure: AttemptFailure): number
  /** Per-attempt timeout: DeliverySpec.timeout, else the default (DEFAULT_ATTEMPT_TIMEOUT_MS). */
  readonly timeoutMs: number
}

/** What an unsuccessful attempt looked like: a status (0 for a network error) and response headers. */
export interface AttemptFailure {
  readonly status: number
  readonly retryAfter?: string | undefined
}

const DURATION =
  /^P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/

// rickb777/date period.Duration approximations for the calendar units.
const MS = { Y: 365.2425 * 86_400_000, M: 30.436875 * 86_400_000, W: 7 * 86_400_000, D: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }

/** Parses an ISO-8601 duration (`PT0.5S`, `PT1M`, `P1D`) into milliseconds; throws on anything else. */
export function parseIsoDuration(text: string): number {
  const m = DURATION.exec(text)
  if (m === null || text === 'P' || text.endsWith('T')) throw new Error(`'${text}' is not an ISO-8601 duration`)
  const n = (i: number): number => Number((m[i] ?? '0').replace(',', '.'))
  return Math.round(n(1) * MS.Y + n(2) * MS.M + n(3) * MS.W + n(4) * MS.D + n(5) * MS.h + n(6) * MS.m + n(7) * MS.s)
}

/** Problems with a delivery spec, the way the Knative webhook (DeliverySpec.Validate) reports them. */
export function validateDelivery(spec: unknown, path: string): string[] {
  if (spec === undefined || spec === null) return []
  if (typeof spec !== 'object' || Array.isArray(spec)) return [`${path}: must be an object`]
  const d = spec as Record<string, unknown>
  const problems: string[] = []
  if (d.retry !== undefined && (typeof d.retry !== 'number' || !Number.isInteger(d.retry) || d.retry < 0)) problems.push(`${path}.retry: must be a non-negative integer`)
  if (d.backoffPolicy !== undefined && d.backoffPolicy !== 'exponential' && d.backoffPolicy !== 'linear') problems.push(`${path}.backoffPolicy: must be exponential or linear`)
  for (const key of ['backoffDelay', 'timeout', 'retryAfterMax'] as const) {
    const v = d[key]
    if (v === undefined) continue
    if (typeof v !== 'string') {
      problems.push(`${path}.${key}: must be an ISO-8601 duration string`)
      continue
    }
    try {
      parseIsoDuration(v)
    } catch {
      problems.push(`${path}.${key}: invalid ISO-8601 duration '${v}'`)
    }
  }
  return problems
}

/**
 * SelectiveRetry: network errors (status 0 here), 5xx, 404 (a pod becoming ready), 408, 409 and 429.
 * Everything else — 1xx/2xx/3xx and the other 4xx — is final.
 */
export function isRetryable(status: number): boolean {
  return status === 0 || status >= 500 || status === 404 || status === 408 || status === 409 || status === 429
}

/** Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, at - now)
}

/**
 * The retry policy for a delivery spec. As in Knative, backoff applies only when both policy and delay
 * are set (otherwise retries are immediate). A 429/503 Retry-After counts only when retryAfterMax is
 * set (the alpha feature delivery-retryafter is opt-in: generateBackoffFn ignores the header while
 * RetryAfterMaxDuration is nil, and PT0S ignores it too); it then wins when longer than the backoff,
 * capped at retryAfterMax.
 */
export function retryPolicy(spec: DeliverySpec | undefined, now: () => number = Date.now, defaultTimeoutMs = DEFAULT_ATTEMPT_TIMEOUT_MS): RetryPolicy {
  const retries = spec?.retry ?? 0
  const delay = spec?.backoffDelay === undefined ? undefined : parseIsoDuration(spec.backoffDelay)
  const policy = spec?.backoffPolicy
  const retryAfterMax = spec?.retryAfterMax === undefined ? undefined : parseIsoDuration(spec.retryAfterMax)
  const timeoutMs = spec?.timeout === undefined ? undefined : parseIsoDuration(spec.timeout)
  return {
    retries,
    // PT0S is no timeout of its own in Knative either (RequestTimeout 0 leaves the client as it is).
    timeoutMs: timeoutMs === undefined || timeoutMs === 0 ? defaultTimeoutMs : timeoutMs,
    backoffMs(attempt, failure) {
      let backoff = 0
      if (delay !== undefined && policy === 'exponential') backoff = delay * 2 ** attempt
      else if (delay !== undefined && policy === 'linear') backoff = delay * attempt
      if (retryAfterMax !== undefined && (failure.status === 429 || failure.status === 503)) {
        const after = Math.min(parseRetryAfter(failure.retryAfter, now()) ?? 0, retryAfterMax)
        if (after > backoff) return after
      }
      return backoff
    },
  }
}

/**
 * The delivery a Trigger's subscription gets. MTChannelBasedBroker's trigger reconciler takes the
 * Trigger's `spec.delivery` as a whole when it is set and the Broker's otherwise — no field-by-field
 * merge, so a Trigger delivery without `deadLetterSink` means no dead-letter sink for that Trigger.
 */
export function effectiveDelivery(broker: DeliverySpec | undefined, trigger: DeliverySpec | undefined): DeliverySpec | undefined {
  return trigger ?? broker
}
