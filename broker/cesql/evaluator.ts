import type { BinaryOperator, CesqlType, CesqlValue, ExpressionNode } from './ast.js'
import { implicitCast, toStringValue, typeOf, zeroValue, type ErrorSink } from './casting.js'
import { cesqlError } from './errors.js'
import { resolveFunction } from './functions.js'
import { compileLikePattern, likeMatches } from './like.js'

export type CloudEventRecord = Readonly<Record<string, unknown>>

/** A compiled sub-expression: pure apart from pushing errors into the sink. */
export type Evaluator = (event: CloudEventRecord, sink: ErrorSink) => CesqlValue

interface Compiled {
  readonly run: Evaluator
  /** Static return type, for the zero value returned when an operand fails (§3.2, §3.3). */
  readonly type: CesqlType
}

/** §3.4.4: REQUIRED context attributes always exist on a valid event. */
const REQUIRED_ATTRIBUTES = new Set(['specversion', 'id', 'source', 'type'])

/**
 * Reads a context attribute or extension (§3.2). `data` is the payload, not an attribute.
 * Values that are not CESQL primitives are represented as Strings; numbers that are not 32-bit
 * integers are not CESQL Integers either, so they become their decimal String form.
 */
export function readAttribute(event: CloudEventRecord, name: string): CesqlValue | undefined {
  if (name === 'data' || !Object.hasOwn(event, name)) return undefined
  const raw = event[name]
  switch (typeof raw) {
    case 'string':
    case 'boolean':
      return raw
    case 'number':
      return Number.isInteger(raw) && raw >= -2147483648 && raw <= 2147483647 ? raw : String(raw)
    case 'bigint':
      return raw >= -2147483648n && raw <= 2147483647n ? Number(raw) : raw.toString()
    case 'undefined':
      return undefined
    case 'object':
      if (raw === null) return undefined
      if (raw instanceof Date) return raw.toISOString()
      if (raw instanceof Uint8Array) return Buffer.from(raw).toString('base64')
      return JSON.stringify(raw)
    default:
      return String(raw)
  }
}

function int32Result(exact: number, wrapped: number, operator: string, sink: ErrorSink): number {
  // The Integer type is 32-bit (§3.1). Results outside it wrap in two's complement, as in the
  // Go engine Knative runs, and — as the spec does for ABS (§3.5.2) — raise a MathError.
  if (exact > 2147483647 || exact < -2147483648) {
    sink.errors.push(cesqlError('math', `integer overflow in ${operator}`))
  }
  return wrapped
}

function arithmetic(operator: BinaryOperator, x: number, y: number, sink: ErrorSink): number {
  switch (operator) {
    case '+':
      return int32Result(x + y, (x + y) | 0, '+', sink)
    case '-':
      return int32Result(x - y, (x - y) | 0, '-', sink)
    case '*':
      return int32Result(x * y, Math.imul(x, y), '*', sink)
    case '/':
      if (y === 0) {
        sink.errors.push(cesqlError('math', 'division by zero'))
        return 0
      }
      // Rounded towards 0 (§3.4.2); -2^31 / -1 is the one overflow.
      return int32Result(Math.trunc(x / y), Math.trunc(x / y) | 0, '/', sink)
    default:
      if (y === 0) {
        sink.errors.push(cesqlError('math', 'modulo by zero'))
        return 0
      }
      // JS % keeps the dividend's sign, as §3.4.2 asks; `| 0` turns -0 into 0.
      return (x % y) | 0
  }
}

function compareIntegers(operator: BinaryOperator, x: number, y: number): boolean {
  switch (operator) {
    case '<':
      return x < y
    case '<=':
      return x <= y
    case '>':
      return x > y
    default:
      return x >= y
  }
}

export function compileNode(node: ExpressionNode): Compiled {
  switch (node.type) {
    case 'literal': {
      const value = node.value
      return { type: typeOf(value), run: () => value }
    }
    case 'identifier': {
      const name = node.name
      // §3.2: a missing attribute yields the zero value of the enclosing sub-expression; when the
      // identifier is the whole expression that type is unknown, so Boolean (`false`).
      return {
        type: 'Boolean',
        run: (event, sink) => {
          const value = readAttribute(event, name)
          if (value !== undefined) return value
          sink.errors.push(cesqlError('missingAttribute', `missing attribute "${name}"`))
          return false
        },
      }
    }
    case 'exists': {
      const name = node.name
      if (REQUIRED_ATTRIBUTES.has(name)) return { type: 'Boolean', run: () => true }
      return { type: 'Boolean', run: (event) => readAttribute(event, name) !== undefined }
    }
    case 'not': {
      const operand = compileNode(node.operand).run
      return {
        type: 'Boolean',
        run: (event, sink) => {
          const before = sink.errors.length
          const value = operand(event, sink)
          if (sink.errors.length !== before) return false
          return !implicitCast(value, 'Boolean', sink)
        },
      }
    }
    case 'negate': {
      const operand = compileNode(node.operand).run
      return {
        type: 'Integer',
        run: (event, sink) => {
          const before = sink.errors.length
          const value = operand(event, sink)
          if (sink.errors.length !== before) return 0
          const x = implicitCast(value, 'Integer', sink) as number
          return int32Result(-x, -x | 0, 'unary -', sink)
        },
      }
    }
    case 'like':
      return compileLike(node.operand, node.pattern, node.negated)
    case 'in':
      return compileIn(node.operand, node.set, node.negated)
    case 'binary':
      return compileBinary(node.operator, node.left, node.right)
    case 'call':
      return compileCall(node.name, node.args)
  }
}

function compileLike(operandNode: ExpressionNode, patternText: string, negated: boolean): Compiled {
  const operand = compileNode(operandNode).run
  const pattern = compileLikePattern(patternText)
  return {
    type: 'Boolean',
    run: (event, sink) => {
      const before = sink.errors.length
      const value = operand(event, sink)
      if (sink.errors.length !== before) return false
      // §3.4.3: a non-String operand is cast to String first.
      return likeMatches(pattern, toStringValue(value)) !== negated
    },
  }
}

function compileIn(operandNode: ExpressionNode, setNodes: readonly ExpressionNode[], negated: boolean): Compiled {
  const operand = compileNode(operandNode).run
  const set = setNodes.map((n) => compileNode(n).run)
  return {
    type: 'Boolean',
    run: (event, sink) => {
      const before = sink.errors.length
      const x = operand(event, sink)
      if (sink.errors.length !== before) return false
      // §3.4.5 / §3.7: the left operand's type is the target type for the set elements.
      const target = typeOf(x)
      for (const element of set) {
        // Compare with the count before this element: a cast error on an earlier element is
        // the operator's own error, not a failed operand.
        const mark = sink.errors.length
        const value = element(event, sink)
        if (sink.errors.length !== mark) return false
        if (implicitCast(value, target, sink) === x) return !negated
      }
      return negated
    },
  }
}

function compileBinary(operator: BinaryOperator, leftNode: ExpressionNode, rightNode: ExpressionNode): Compiled {
  const left = compileNode(leftNode).run
  const right = compileNode(rightNode).run
  switch (operator) {
    case 'AND':
    case 'OR':
    case 'XOR': {
      // §3.4.2 / §3.6: AND and OR short-circuit; the right operand is not evaluated then.
      return {
        type: 'Boolean',
        run: (event, sink) => {
          const before = sink.errors.length
          const l = left(event, sink)
          if (sink.errors.length !== before) return false
          const x = implicitCast(l, 'Boolean', sink) as boolean
          if (operator === 'AND' && !x) return false
          if (operator === 'OR' && x) return true
          const afterLeft = sink.errors.length
          const r = right(event, sink)
          if (sink.errors.length !== afterLeft) return false
          const y = implicitCast(r, 'Boolean', sink) as boolean
          return operator === 'XOR' ? x !== y : y
        },
      }
    }
    case '=':
    case '!=':
    case '<>': {
      const equal = operator === '='
      return {
        type: 'Boolean',
        run: (event, sink) => {
          const before = sink.errors.length
          const l = left(event, sink)
          if (sink.errors.length !== before) return false
          const r = right(event, sink)
          if (sink.errors.length !== before) return false
          // §3.7: `=` is ambiguous; the right operand's type picks the overload, and the left
          // operand is cast to it.
          return (implicitCast(l, typeOf(r), sink) === r) === equal
        },
      }
    }
    case '<':
    case '<=':
    case '>':
    case '>=':
      return {
        type: 'Boolean',
        run: (event, sink) => {
          const before = sink.errors.length
          const l = left(event, sink)
          if (sink.errors.length !== before) return false
          const r = right(event, sink)
          if (sink.errors.length !== before) return false
          const x = implicitCast(l, 'Integer', sink) as number
          const y = implicitCast(r, 'Integer', sink) as number
          return compareIntegers(operator, x, y)
        },
      }
    default:
      return {
        type: 'Integer',
        run: (event, sink) => {
          const before = sink.errors.length
          const l = left(event, sink)
          if (sink.errors.length !== before) return 0
          const r = right(event, sink)
          if (sink.errors.length !== before) return 0
          const x = implicitCast(l, 'Integer', sink) as number
          const y = implicitCast(r, 'Integer', sink) as number
          // A failed cast already produced an error; the operation still runs on the zero value.
          return arithmetic(operator, x, y, sink)
        },
      }
  }
}

function compileCall(name: string, argNodes: readonly ExpressionNode[]): Compiled {
  const definition = resolveFunction(name, argNodes.length)
  if (definition === undefined) {
    // §3.5: a call that cannot be dispatched returns false and a MissingFunctionError.
    const message = `no function ${name} taking ${argNodes.length} argument(s)`
    return {
      type: 'Boolean',
      run: (_event, sink) => {
        sink.errors.push(cesqlError('missingFunction', message))
        return false
      },
    }
  }
  const args = argNodes.map((n) => compileNode(n).run)
  const types = args.map((_, i) => definition.parameters[i] ?? definition.variadic ?? 'Any')
  const zero = zeroValue(definition.returnType)
  // Reused between calls: evaluation is synchronous and a node never re-enters itself.
  const values: CesqlValue[] = new Array<CesqlValue>(args.length).fill(false)
  return {
    type: definition.returnType,
    run: (event, sink) => {
      for (let i = 0; i < args.length; i++) {
        const arg = args[i]
        const type = types[i]
        if (arg === undefined || type === undefined) return zero
        const mark = sink.errors.length
        const value = arg(event, sink)
        if (sink.errors.length !== mark) return zero
        values[i] = type === 'Any' ? value : implicitCast(value, type, sink)
      }
      return definition.run(values, sink)
    },
  }
}
