// alert's own error codes (the shared catalogue covers the host's). Statuses per DESIGN.md "HTTP behaviour":
// a sink that asked to slow down → 429 with its Retry-After; a sink that is failing → 503; both are
// retried by the broker with backoff.
import { ReflexError } from '../../shared/errors.js'

export const ALERT_ERRORS = {
  /** A sink answered 429: the broker should come back after the sink's Retry-After. */
  SINK_RATE_LIMITED: 429,
  /** A sink answered 5xx, timed out or was unreachable. */
  SINK_UNAVAILABLE: 503,
  /** Another replica holds the claim on this event's notification and has not finished yet. */
  DELIVERY_IN_PROGRESS: 503,
} as const

export function alertError(code: keyof typeof ALERT_ERRORS, message: string, retryAfterSeconds: number): ReflexError {
  return new ReflexError(code, message, { status: ALERT_ERRORS[code], retryAfterSeconds })
}
