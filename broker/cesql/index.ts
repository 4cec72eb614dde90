/**
 * CloudEvents SQL (CESQL) v1 — compile once, evaluate against many events.
 * Spec: ../shared/specs/cesql-spec.md; conformance: the CESQL TCK (test/broker/cesql).
 */
import type { CesqlValue } from './ast.js'
import type { ErrorSink } from './casting.js'
import type { CesqlError } from './errors.js'
import { compileNode, type CloudEventRecord, type Evaluator } from './evaluator.js'
import { parse } from './parser.js'

export { CesqlParseError } from './errors.js'
export { findMixedLogicOperators, parse } from './parser.js'
export { readAttribute } from './evaluator.js'

export type { CesqlError, CesqlErrorKind } from './errors.js'
export type { CesqlType, CesqlValue, ExpressionNode } from './ast.js'
export type { CloudEventRecord } from './evaluator.js'

export interface EvaluationResult {
  readonly value: CesqlValue
  /** Every error met, in evaluation order (§3.3 "error list"); empty when none. */
  readonly errors: readonly CesqlError[]
}

export interface CompiledExpression {
  readonly source: string
  /** Complete evaluation: the value and every error (§4.1). Never throws. */
  evaluate(event: CloudEventRecord): EvaluationResult
  /**
   * Filter semantics (§1.2): true only if the result is the Boolean `true` and no error was
   * raised. Knative's CESQL trigger filter fails the event on any evaluation error.
   */
  matches(event: CloudEventRecord): boolean
}

// matches() does not return errors, so it reuses one sink. Safe: evaluation is synchronous.
const scratch: ErrorSink = { errors: [] }

class Expression implements CompiledExpression {
  constructor(
    readonly source: string,
    private readonly run: Evaluator,
  ) {}

  evaluate(event: CloudEventRecord): EvaluationResult {
    const sink: ErrorSink = { errors: [] }
    const value = this.run(event, sink)
    return { value, errors: sink.errors }
  }

  matches(event: CloudEventRecord): boolean {
    scratch.errors.length = 0
    try {
      return this.run(event, scratch) === true && scratch.errors.length === 0
    } finally {
      scratch.errors.length = 0
    }
  }
}

/** Parses and compiles an expression. Throws `CesqlParseError` (with `position`) when invalid. */
export function compile(expression: string): CompiledExpression {
  return new Expression(expression, compileNode(parse(expression)).run)
}
