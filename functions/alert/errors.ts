// alert's own error codes (the shared catalogue covers the host's). Statuses per DESIGN.md "HTTP behaviour":
// a sink that asked to slow down → 429 with its Retry-After; a sink that is failing → 503; both are
// retried by the broker with backoff.
import { ReflexError } from '../../shared/errors.js'

// The codes are the shared catalogue's (so callers get its safe public message and the failure metric
// uses the stable names); what differs is the internal message that is logged.
export const ALERT_ERRORS = {
  /** A sink answered 429: the broker should come back after the sink's Retry-After. */
  SINK_RATE_LIMITED: 'DOWNSTREAM_RATE_LIMITED',
  /** A sink answered 5xx, timed out or was unreachable. */
  SINK_UNAVAILABLE: 'DOWNSTREAM_UNAVAILABLE',
  /** Another replica holds the claim on this event's notification and has not finished yet. */
  DELIVERY_IN_PROGRESS: 'DOWNSTREAM_UNAVAILABLE',
} as const

export function alertError(kind: keyof typeof ALERT_ERRORS, message: string, retryAfterSeconds: number): ReflexError {
  return new ReflexError(ALERT_ERRORS[kind], message, { retryAfterSeconds })
}
