// classify's own error codes (the shared catalogue covers the host's). Status per DESIGN.md.
import { ReflexError } from '../../shared/errors.js'

export const CLASSIFY_ERRORS = {
  /** The sweep needs K_SINK (a SinkBinding) to send its findings on. */
  SINK_NOT_CONFIGURED: 500,
  /** The Broker ingress did not take a finding: retry the whole sweep (findings are idempotent). */
  SINK_UNAVAILABLE: 503,
} as const

export function classifyError(code: keyof typeof CLASSIFY_ERRORS, message: string, cause?: unknown): ReflexError {
  return new ReflexError(code, message, { status: CLASSIFY_ERRORS[code], cause, ...(code === 'SINK_UNAVAILABLE' ? { retryAfterSeconds: 5 } : {}) })
}
