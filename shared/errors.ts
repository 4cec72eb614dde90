// The error catalogue shared by the host and the functions. Each code has a stable name, an HTTP status
// from the Knative data-plane table (DESIGN.md "HTTP behaviour") and a message that is safe to send to a
// caller. Internal detail travels in `cause` and is only logged.

export interface ErrorSpec {
  readonly status: number
  /** What a caller may be told. 5xx messages never carry internal detail. */
  readonly publicMessage: string
}

export const ERRORS = {
  EVENT_INVALID: { status: 400, publicMessage: 'invalid CloudEvent' },
  EVENT_DATA_INVALID: { status: 400, publicMessage: 'event data does not match the expected input' },
  BODY_TOO_LARGE: { status: 413, publicMessage: 'request body too large' },
  NOT_FOUND: { status: 404, publicMessage: 'not found' },
  BAD_REQUEST: { status: 400, publicMessage: 'bad request' },
  UNAUTHORIZED: { status: 401, publicMessage: 'unauthorized' },
  DOWNSTREAM_RATE_LIMITED: { status: 429, publicMessage: 'downstream asked to slow down' },
  DOWNSTREAM_UNAVAILABLE: { status: 503, publicMessage: 'temporarily unavailable, retry later' },
  SHUTTING_DOWN: { status: 503, publicMessage: 'shutting down, retry later' },
  INTERNAL: { status: 500, publicMessage: 'internal error' },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS | (string & {})

export interface ReflexErrorOptions {
  readonly cause?: unknown
  /** For 429/503: how long the broker should wait before the retry (`Retry-After`). */
  readonly retryAfterSeconds?: number
  /** Structured problems for 4xx answers (e.g. which attribute is wrong); never used for 5xx. */
  readonly problems?: readonly unknown[]
  /** Override the catalogue status (functions' own catalogues). */
  readonly status?: number
}

export class ReflexError extends Error {
  override readonly name = 'ReflexError'
  readonly code: ErrorCode
  readonly status: number
  readonly retryAfterSeconds: number | undefined
  readonly problems: readonly unknown[] | undefined

  constructor(code: ErrorCode, message: string, options: ReflexErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    const spec = (ERRORS as Record<string, ErrorSpec | undefined>)[code]
    this.status = options.status ?? spec?.status ?? 500
    this.retryAfterSeconds = options.retryAfterSeconds
    this.problems = options.problems
  }

  /** True when the broker should retry (Knative retries 5xx, 429, 408, 409, 404). */
  get retryable(): boolean {
    return this.status >= 500 || this.status === 429
  }
}

/** What the caller sees for any error: the code, plus detail only when it is about their own input. */
export function publicBody(err: ReflexError): { code: string; message: string; problems?: readonly unknown[] } {
  if (err.status >= 500) {
    const spec = (ERRORS as Record<string, ErrorSpec | undefined>)[err.code]
    return { code: String(err.code), message: spec?.publicMessage ?? 'internal error' }
  }
  return err.problems === undefined
    ? { code: String(err.code), message: err.message }
    : { code: String(err.code), message: err.message, problems: err.problems }
}

/** Anything thrown that is not a ReflexError is an internal error: detail is logged, never sent. */
export function toReflexError(err: unknown): ReflexError {
  if (err instanceof ReflexError) return err
  // body-parser / http-errors (express.raw, express.json on extra routes) mark client errors with a 4xx
  // `status` and `expose: true`: a body over the limit is the caller's 413, not our 500.
  if (typeof err === 'object' && err !== null && (err as { expose?: unknown }).expose === true) {
    const status = (err as { status?: unknown }).status
    if (status === 413) return new ReflexError('BODY_TOO_LARGE', 'request body too large', { cause: err })
    if (typeof status === 'number' && status >= 400 && status < 500) return new ReflexError('BAD_REQUEST', 'bad request', { cause: err })
  }
  return new ReflexError('INTERNAL', 'internal error', { cause: err })
}
