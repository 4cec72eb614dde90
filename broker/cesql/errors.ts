/**
 * CESQL error kinds (CloudEvents SQL v1, §3.3 "Errors"). The string values are the ones the
 * CESQL TCK uses in its `error:` field, so a result can be compared with the TCK directly.
 */
export type CesqlErrorKind =
  | 'parse'
  | 'math'
  | 'cast'
  | 'missingAttribute'
  | 'missingFunction'
  | 'functionEvaluation'
  | 'generic'

/**
 * An error collected while evaluating an expression. Evaluation is total (§3.3): errors never
 * abort the caller, they come back next to the value. A plain object, not an `Error`, because
 * capturing a stack trace for every failed filter evaluation would be pure waste.
 */
export interface CesqlError {
  readonly kind: CesqlErrorKind
  readonly message: string
}

/** Thrown by `compile` when the expression does not conform to the grammar (§2). */
export class CesqlParseError extends Error implements CesqlError {
  readonly kind = 'parse' as const
  /** 0-based offset (UTF-16 code unit) into the expression where the problem was found. */
  readonly position: number
  /** The message without the position suffix. */
  readonly reason: string

  constructor(reason: string, position: number) {
    super(`${reason} at position ${position}`)
    this.name = 'CesqlParseError'
    this.reason = reason
    this.position = position
  }
}

export function cesqlError(kind: CesqlErrorKind, message: string): CesqlError {
  return { kind, message }
}
