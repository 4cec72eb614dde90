import type { CesqlType, CesqlValue } from './ast.js'
import { cesqlError, type CesqlError } from './errors.js'

/** Collects evaluation errors; one per `evaluate` call. */
export interface ErrorSink {
  readonly errors: CesqlError[]
}

export function typeOf(value: CesqlValue): CesqlType {
  switch (typeof value) {
    case 'boolean':
      return 'Boolean'
    case 'number':
      return 'Integer'
    default:
      return 'String'
  }
}

/** §3.1 zero values. */
export function zeroValue(type: CesqlType): CesqlValue {
  switch (type) {
    case 'Boolean':
      return false
    case 'Integer':
      return 0
    case 'String':
      return ''
  }
}

const INTEGER_STRING = /^[+-]?[0-9]+$/

/** §3.7 String -> Integer: base 10, optional sign, 32-bit; otherwise 0 and an error. */
export function parseInteger(text: string): number | undefined {
  if (!INTEGER_STRING.test(text)) return undefined
  const n = Number(text)
  return n >= -2147483648 && n <= 2147483647 ? n : undefined
}

export function toStringValue(value: CesqlValue): string {
  // §3.7 Integer -> String (base 10, no leading zeros) and Boolean -> String ("true"/"false").
  return typeof value === 'string' ? value : String(value)
}

/**
 * The casts of §3.7 as used by the casting functions (INT, BOOL, STRING). On failure the zero
 * value of the target type is returned and a CastError recorded.
 */
export function explicitCast(value: CesqlValue, target: CesqlType, sink: ErrorSink): CesqlValue {
  switch (target) {
    case 'String':
      return toStringValue(value)
    case 'Integer':
      if (typeof value === 'number') return value
      if (typeof value === 'boolean') return value ? 1 : 0
      return stringToInteger(value, sink)
    case 'Boolean':
      if (typeof value === 'boolean') return value
      if (typeof value === 'number') return value !== 0
      return stringToBoolean(value, sink)
  }
}

/**
 * Implicit casts done by operators and function arguments (§3.7 "implicit casting rules").
 * They follow `explicitCast` except Integer -> Boolean, which is a CastError with the cast
 * result `false`: the CESQL TCK requires `NOT 10` to yield `true` and a cast error
 * (not_operator.yaml "Invalid int cast"), while `BOOL(10)` stays `true` (casting_functions.yaml).
 */
export function implicitCast(value: CesqlValue, target: CesqlType, sink: ErrorSink): CesqlValue {
  if (target === 'Boolean' && typeof value === 'number') {
    sink.errors.push(cesqlError('cast', `cannot implicitly cast Integer ${value} to Boolean`))
    return false
  }
  return explicitCast(value, target, sink)
}

export function canCast(value: CesqlValue, target: CesqlType): boolean {
  switch (target) {
    case 'String':
      return true
    case 'Integer':
      return typeof value !== 'string' || parseInteger(value) !== undefined
    case 'Boolean':
      return typeof value !== 'string' || isBooleanString(value)
  }
}

function isBooleanString(value: string): boolean {
  const lower = value.toLowerCase()
  return lower === 'true' || lower === 'false'
}

function stringToInteger(value: string, sink: ErrorSink): number {
  const n = parseInteger(value)
  if (n === undefined) {
    sink.errors.push(cesqlError('cast', `cannot cast String ${JSON.stringify(value)} to Integer`))
    return 0
  }
  return n
}

function stringToBoolean(value: string, sink: ErrorSink): boolean {
  // §3.7 String -> Boolean: the lower-case form must be exactly "true" or "false".
  const lower = value.toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  sink.errors.push(cesqlError('cast', `cannot cast String ${JSON.stringify(value)} to Boolean`))
  return false
}
