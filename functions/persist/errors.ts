// persist's own error codes (the shared catalogue covers the host's). Status per DESIGN.md.
import { ReflexError } from '../../shared/errors.js'

export const PERSIST_ERRORS = {
  /** A query parameter is malformed or out of range: the message says which and why. */
  QUERY_INVALID: 400,
  /** The API needs a bearer token (PERSIST_API_TOKEN) and the request has none or a wrong one. */
  UNAUTHORIZED: 401,
  /** No stored event has that (source, id). */
  NOT_FOUND: 404,
} as const

export interface QueryProblem {
  readonly parameter: string
  readonly problem: string
}

/** One 400 carrying every problem found in the query string, so a caller fixes them all at once. */
export function queryInvalid(problems: readonly QueryProblem[]): ReflexError {
  const detail = problems.map((p) => `${p.parameter}: ${p.problem}`).join('; ')
  return new ReflexError('QUERY_INVALID', `invalid query: ${detail}`, { status: PERSIST_ERRORS.QUERY_INVALID, problems })
}

export function persistError(code: 'UNAUTHORIZED' | 'NOT_FOUND', message: string): ReflexError {
  return new ReflexError(code, message, { status: PERSIST_ERRORS[code] })
}
