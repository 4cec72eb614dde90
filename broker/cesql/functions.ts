import type { CesqlType, CesqlValue } from './ast.js'
import { canCast, explicitCast, type ErrorSink } from './casting.js'
import { cesqlError } from './errors.js'

/** A parameter type; `Any` takes the argument as is (used by the casting functions). */
export type ParameterType = CesqlType | 'Any'

export interface FunctionDefinition {
  readonly name: string
  readonly parameters: readonly ParameterType[]
  /** Type of the arguments after the fixed ones, for variadic functions (§3.5). */
  readonly variadic?: CesqlType
  readonly returnType: CesqlType
  /** Arguments arrive already cast to the parameter types. Must not keep `args`. */
  readonly run: (args: readonly CesqlValue[], sink: ErrorSink) => CesqlValue
}

// Strings are sequences of Unicode characters (§3.1), so lengths and positions count code
// points, not UTF-16 units. Most strings have no surrogate pairs: keep them on the fast path.
const SURROGATE = /[\uD800-\uDFFF]/

function codePoints(s: string): readonly string[] | undefined {
  return SURROGATE.test(s) ? Array.from(s) : undefined
}

function characterLength(s: string): number {
  const points = codePoints(s)
  return points === undefined ? s.length : points.length
}

function characterSlice(s: string, start: number, end: number): string {
  const points = codePoints(s)
  return points === undefined ? s.slice(start, end) : points.slice(start, end).join('')
}

function str(args: readonly CesqlValue[], i: number): string {
  const v = args[i]
  return typeof v === 'string' ? v : String(v)
}

function int(args: readonly CesqlValue[], i: number): number {
  const v = args[i]
  return typeof v === 'number' ? v : 0
}

function anyArg(args: readonly CesqlValue[], i: number): CesqlValue {
  return args[i] ?? false
}

// §3.5.1: "whitespaces (as defined by unicode)" — the White_Space property, which differs
// from String.prototype.trim (that one also strips U+FEFF and keeps U+0085).
const UNICODE_WHITESPACE_EDGES = /^\p{White_Space}+|\p{White_Space}+$/gu

function functionError(sink: ErrorSink, name: string, message: string): void {
  sink.errors.push(cesqlError('functionEvaluation', `${name}: ${message}`))
}

function substring(x: string, pos: number, len: number | undefined, sink: ErrorSink): string {
  const length = characterLength(x)
  if (pos > length || pos < -length) {
    functionError(sink, 'SUBSTRING', `position ${pos} is out of range for a string of length ${length}`)
    return ''
  }
  if (len !== undefined && len < 0) {
    functionError(sink, 'SUBSTRING', `length ${len} is negative`)
    return ''
  }
  if (pos === 0) return ''
  const start = pos > 0 ? pos - 1 : length + pos
  const end = len === undefined ? length : Math.min(length, start + len)
  return characterSlice(x, start, end)
}

/** §3.5 built-in functions, plus the casting functions (INT, BOOL, STRING, IS_INT, IS_BOOL). */
export const BUILTIN_FUNCTIONS: readonly FunctionDefinition[] = [
  { name: 'LENGTH', parameters: ['String'], returnType: 'Integer', run: (a) => characterLength(str(a, 0)) },
  {
    name: 'CONCAT',
    parameters: [],
    variadic: 'String',
    returnType: 'String',
    run: (a) => (a as readonly string[]).join(''),
  },
  {
    name: 'CONCAT_WS',
    parameters: ['String'],
    variadic: 'String',
    returnType: 'String',
    run: (a) => (a as readonly string[]).slice(1).join(str(a, 0)),
  },
  { name: 'LOWER', parameters: ['String'], returnType: 'String', run: (a) => str(a, 0).toLowerCase() },
  { name: 'UPPER', parameters: ['String'], returnType: 'String', run: (a) => str(a, 0).toUpperCase() },
  {
    name: 'TRIM',
    parameters: ['String'],
    returnType: 'String',
    run: (a) => str(a, 0).replace(UNICODE_WHITESPACE_EDGES, ''),
  },
  {
    name: 'LEFT',
    parameters: ['String', 'Integer'],
    returnType: 'String',
    run: (a, sink) => {
      const x = str(a, 0)
      const y = int(a, 1)
      if (y < 0) {
        functionError(sink, 'LEFT', `length ${y} is negative`)
        return x
      }
      return characterSlice(x, 0, y)
    },
  },
  {
    name: 'RIGHT',
    parameters: ['String', 'Integer'],
    returnType: 'String',
    run: (a, sink) => {
      const x = str(a, 0)
      const y = int(a, 1)
      if (y < 0) {
        functionError(sink, 'RIGHT', `length ${y} is negative`)
        return x
      }
      const length = characterLength(x)
      return y >= length ? x : characterSlice(x, length - y, length)
    },
  },
  {
    name: 'SUBSTRING',
    parameters: ['String', 'Integer'],
    returnType: 'String',
    run: (a, sink) => substring(str(a, 0), int(a, 1), undefined, sink),
  },
  {
    name: 'SUBSTRING',
    parameters: ['String', 'Integer', 'Integer'],
    returnType: 'String',
    run: (a, sink) => substring(str(a, 0), int(a, 1), int(a, 2), sink),
  },
  {
    name: 'ABS',
    parameters: ['Integer'],
    returnType: 'Integer',
    run: (a, sink) => {
      const x = int(a, 0)
      // §3.5.2: |-2^31| does not fit in 32 bits.
      if (x === -2147483648) {
        sink.errors.push(cesqlError('math', 'ABS(-2147483648) overflows a 32-bit integer'))
        return 2147483647
      }
      return Math.abs(x)
    },
  },
  { name: 'INT', parameters: ['Any'], returnType: 'Integer', run: (a, sink) => explicitCast(anyArg(a, 0), 'Integer', sink) },
  { name: 'BOOL', parameters: ['Any'], returnType: 'Boolean', run: (a, sink) => explicitCast(anyArg(a, 0), 'Boolean', sink) },
  { name: 'STRING', parameters: ['Any'], returnType: 'String', run: (a, sink) => explicitCast(anyArg(a, 0), 'String', sink) },
  { name: 'IS_INT', parameters: ['Any'], returnType: 'Boolean', run: (a) => canCast(anyArg(a, 0), 'Integer') },
  { name: 'IS_BOOL', parameters: ['Any'], returnType: 'Boolean', run: (a) => canCast(anyArg(a, 0), 'Boolean') },
]

const BY_NAME = new Map<string, FunctionDefinition[]>()
for (const definition of BUILTIN_FUNCTIONS) {
  const list = BY_NAME.get(definition.name) ?? []
  list.push(definition)
  BY_NAME.set(definition.name, list)
}

/**
 * §3.5 dispatch on name and arity: a fixed-arity overload wins; otherwise the variadic one if
 * the call has at least its fixed arguments. `undefined` means MissingFunctionError.
 */
export function resolveFunction(name: string, arity: number): FunctionDefinition | undefined {
  const overloads = BY_NAME.get(name.toUpperCase())
  if (overloads === undefined) return undefined
  const exact = overloads.find((f) => f.variadic === undefined && f.parameters.length === arity)
  if (exact !== undefined) return exact
  return overloads.find((f) => f.variadic !== undefined && arity >= f.parameters.length)
}
