import type { BinaryOperator, ExpressionNode } from './ast.js'
import { CesqlParseError } from './errors.js'
import { tokenize, type Token } from './lexer.js'

const INT32_MAX = 2147483647

/**
 * Binding powers, lowest first, from the precedence list of §3.6: AND/OR/XOR, comparisons,
 * `+ -`, `* / %`, IN, LIKE; unary NOT and `-` bind tighter than all of them. Operators of equal
 * precedence associate to the left ("evaluated left to right when the precedence is equal").
 */
const BP_LOGIC = 1
const BP_COMPARISON = 2
const BP_ADDITIVE = 3
const BP_MULTIPLICATIVE = 4
const BP_IN = 5
const BP_LIKE = 6
const BP_UNARY = 7

const KEYWORDS = new Set(['AND', 'OR', 'XOR', 'NOT', 'LIKE', 'IN', 'EXISTS', 'TRUE', 'FALSE'])

// §2.2 value-identifier: ( lowercase-char | digit )+ ; keywords are case-insensitive, and so (as
// in the reference implementations) are identifiers, which are matched lower-cased.
const VALUE_IDENTIFIER = /^[A-Za-z0-9]+$/
// §2.4 function-identifier: char ( "_" | char )*
const FUNCTION_IDENTIFIER = /^[A-Za-z][A-Za-z_]*$/

const SYMBOL_OPERATORS: ReadonlyMap<string, { operator: BinaryOperator; bp: number }> = new Map([
  ['=', { operator: '=', bp: BP_COMPARISON }],
  ['!=', { operator: '!=', bp: BP_COMPARISON }],
  ['<>', { operator: '<>', bp: BP_COMPARISON }],
  ['<', { operator: '<', bp: BP_COMPARISON }],
  ['<=', { operator: '<=', bp: BP_COMPARISON }],
  ['>', { operator: '>', bp: BP_COMPARISON }],
  ['>=', { operator: '>=', bp: BP_COMPARISON }],
  ['+', { operator: '+', bp: BP_ADDITIVE }],
  ['-', { operator: '-', bp: BP_ADDITIVE }],
  ['*', { operator: '*', bp: BP_MULTIPLICATIVE }],
  ['/', { operator: '/', bp: BP_MULTIPLICATIVE }],
  ['%', { operator: '%', bp: BP_MULTIPLICATIVE }],
] as const)

function describe(token: Token): string {
  switch (token.kind) {
    case 'eof':
      return 'end of expression'
    case 'string':
      return `string ${JSON.stringify(token.text)}`
    case 'integer':
      return `integer ${token.text}`
    case 'word':
      return `"${token.text}"`
    default:
      return `"${token.kind}"`
  }
}

/** Parses a CESQL v1 expression into a syntax tree; throws `CesqlParseError` with a position. */
export function parse(source: string): ExpressionNode {
  return new Parser(tokenize(source)).parseRoot()
}

/**
 * Offsets of AND/OR/XOR operators that follow a different logical operator without parentheses,
 * as in `a OR b AND c`. The spec evaluates these left to right, `(a OR b) AND c`, while the Go
 * engine Knative runs groups them from the right, `a OR (b AND c)`: such expressions mean
 * different things on a cluster and locally. Throws `CesqlParseError` like `parse`.
 */
export function findMixedLogicOperators(source: string): number[] {
  const parser = new Parser(tokenize(source))
  parser.parseRoot()
  return parser.mixedLogic
}

function isLogic(node: ExpressionNode): boolean {
  return node.type === 'binary' && (node.operator === 'AND' || node.operator === 'OR' || node.operator === 'XOR')
}

class Parser {
  private index = 0
  private readonly parenthesized = new WeakSet<ExpressionNode>()
  readonly mixedLogic: number[] = []

  constructor(private readonly tokens: readonly Token[]) {}

  parseRoot(): ExpressionNode {
    if (this.peek().kind === 'eof') throw new CesqlParseError('empty expression', 0)
    const node = this.parseExpression(0)
    const rest = this.peek()
    if (rest.kind !== 'eof') throw new CesqlParseError(`unexpected ${describe(rest)}`, rest.position)
    return node
  }

  private peek(offset = 0): Token {
    const token = this.tokens[Math.min(this.index + offset, this.tokens.length - 1)]
    // tokenize always ends with an eof token, so the list is never empty.
    if (token === undefined) throw new CesqlParseError('internal: no tokens', 0)
    return token
  }

  private next(): Token {
    const token = this.peek()
    if (token.kind !== 'eof') this.index++
    return token
  }

  private expect(kind: Token['kind'], what: string): Token {
    const token = this.peek()
    if (token.kind !== kind) throw new CesqlParseError(`expected ${what} but found ${describe(token)}`, token.position)
    return this.next()
  }

  private keyword(token: Token): string | undefined {
    if (token.kind !== 'word') return undefined
    const upper = token.text.toUpperCase()
    return KEYWORDS.has(upper) ? upper : undefined
  }

  private parseExpression(minBp: number): ExpressionNode {
    let left = this.parsePrefix()
    for (;;) {
      const token = this.peek()
      const kw = this.keyword(token)
      if (kw === 'LIKE' || kw === 'IN' || (kw === 'NOT' && ['LIKE', 'IN'].includes(this.keyword(this.peek(1)) ?? ''))) {
        const negated = kw === 'NOT'
        const opToken = negated ? this.peek(1) : token
        const isLike = this.keyword(opToken) === 'LIKE'
        if ((isLike ? BP_LIKE : BP_IN) <= minBp) break
        this.index += negated ? 2 : 1
        left = isLike ? this.finishLike(left, negated) : this.finishIn(left, negated)
        continue
      }
      let operator: BinaryOperator | undefined
      let bp = 0
      if (kw === 'AND' || kw === 'OR' || kw === 'XOR') {
        operator = kw
        bp = BP_LOGIC
      } else {
        const symbol = SYMBOL_OPERATORS.get(token.kind)
        if (symbol !== undefined) {
          operator = symbol.operator
          bp = symbol.bp
        }
      }
      if (operator === undefined || bp <= minBp) break
      this.next()
      if (
        bp === BP_LOGIC &&
        left.type === 'binary' &&
        isLogic(left) &&
        left.operator !== operator &&
        !this.parenthesized.has(left)
      ) {
        this.mixedLogic.push(token.position)
      }
      const right = this.parseExpression(bp)
      left = { type: 'binary', operator, left, right, position: left.position }
    }
    return left
  }

  private finishLike(operand: ExpressionNode, negated: boolean): ExpressionNode {
    // §3.4.3: the pattern MUST be a string literal without casting, otherwise a parse error.
    const pattern = this.peek()
    if (pattern.kind !== 'string') {
      throw new CesqlParseError(`LIKE pattern must be a string literal, found ${describe(pattern)}`, pattern.position)
    }
    this.next()
    return { type: 'like', operand, pattern: pattern.text, negated, position: operand.position }
  }

  private finishIn(operand: ExpressionNode, negated: boolean): ExpressionNode {
    // §2.3 set-expression ::= "(" expression ("," expression)* ")"
    this.expect('(', '"(" to open the IN set')
    const set: ExpressionNode[] = [this.parseExpression(0)]
    while (this.peek().kind === ',') {
      this.next()
      set.push(this.parseExpression(0))
    }
    this.expect(')', '"," or ")" in the IN set')
    return { type: 'in', operand, set, negated, position: operand.position }
  }

  private parsePrefix(): ExpressionNode {
    const token = this.next()
    switch (token.kind) {
      case 'integer':
        return this.integerLiteral(token, false, token.position)
      case 'string':
        return { type: 'literal', value: token.text, position: token.position }
      case '-':
      case '+': {
        // §2.2 integer-literal ::= ( '+' | '-' )? digit+ — a sign right before digits is part of
        // the literal, which is how -2147483648 stays representable.
        const following = this.peek()
        if (following.kind === 'integer' && following.position === token.position + 1) {
          this.next()
          return this.integerLiteral(following, token.kind === '-', token.position)
        }
        if (token.kind === '+') {
          throw new CesqlParseError(`unexpected "+" (there is no unary plus)`, token.position)
        }
        return { type: 'negate', operand: this.parseExpression(BP_UNARY), position: token.position }
      }
      case '(': {
        const inner = this.parseExpression(0)
        this.expect(')', '")"')
        this.parenthesized.add(inner)
        return inner
      }
      case 'word':
        return this.parseWord(token)
      default:
        throw new CesqlParseError(`unexpected ${describe(token)}`, token.position)
    }
  }

  private integerLiteral(token: Token, negative: boolean, position: number): ExpressionNode {
    // §2.2: integer literals MUST be valid 32 bit signed integers.
    const magnitude = Number(token.text)
    const limit = negative ? INT32_MAX + 1 : INT32_MAX
    if (!(magnitude <= limit)) {
      throw new CesqlParseError(`integer literal ${negative ? '-' : ''}${token.text} is out of the 32-bit range`, position)
    }
    return { type: 'literal', value: negative ? -magnitude | 0 : magnitude, position }
  }

  private parseWord(token: Token): ExpressionNode {
    const kw = this.keyword(token)
    switch (kw) {
      case 'TRUE':
        return { type: 'literal', value: true, position: token.position }
      case 'FALSE':
        return { type: 'literal', value: false, position: token.position }
      case 'NOT':
        return { type: 'not', operand: this.parseExpression(BP_UNARY), position: token.position }
      case 'EXISTS': {
        const name = this.peek()
        if (name.kind !== 'word' || this.keyword(name) !== undefined || !VALUE_IDENTIFIER.test(name.text)) {
          throw new CesqlParseError(`EXISTS must be followed by an attribute name, found ${describe(name)}`, name.position)
        }
        this.next()
        return { type: 'exists', name: name.text.toLowerCase(), position: token.position }
      }
      case undefined:
        break
      default:
        throw new CesqlParseError(`unexpected keyword ${kw}`, token.position)
    }
    if (this.peek().kind === '(') {
      if (!FUNCTION_IDENTIFIER.test(token.text)) {
        throw new CesqlParseError(`invalid function name "${token.text}"`, token.position)
      }
      this.next()
      const args: ExpressionNode[] = []
      if (this.peek().kind !== ')') {
        args.push(this.parseExpression(0))
        while (this.peek().kind === ',') {
          this.next()
          args.push(this.parseExpression(0))
        }
      }
      this.expect(')', '"," or ")" in the argument list')
      return { type: 'call', name: token.text.toUpperCase(), args, position: token.position }
    }
    if (!VALUE_IDENTIFIER.test(token.text)) {
      throw new CesqlParseError(`invalid attribute name "${token.text}"`, token.position)
    }
    return { type: 'identifier', name: token.text.toLowerCase(), position: token.position }
  }
}
