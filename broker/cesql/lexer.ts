import { CesqlParseError } from './errors.js'

export type TokenKind =
  | 'integer' // unsigned digits; a sign is handled by the parser (§2.2 integer-literal)
  | 'string'
  | 'word' // keywords, value identifiers and function identifiers, told apart by the parser
  | '('
  | ')'
  | ','
  | '='
  | '!='
  | '<>'
  | '<='
  | '>='
  | '<'
  | '>'
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | 'eof'

export interface Token {
  readonly kind: TokenKind
  /** Raw text for words and integers, the decoded value for strings. */
  readonly text: string
  readonly position: number
}

const SINGLE_CHAR: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  ['(', '('],
  [')', ')'],
  [',', ','],
  ['=', '='],
  ['+', '+'],
  ['-', '-'],
  ['*', '*'],
  ['/', '/'],
  ['%', '%'],
])

function isWordChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '_'
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/**
 * Splits an expression into tokens. Whitespace is any JS whitespace; the spec's EBNF does not
 * define it, and SQL-like languages accept tabs and newlines between tokens.
 */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < source.length) {
    const c = source.charAt(i)
    if (/\s/.test(c)) {
      i++
      continue
    }
    const start = i
    if (c === "'" || c === '"') {
      const { value, end } = readString(source, i, c)
      tokens.push({ kind: 'string', text: value, position: start })
      i = end
      continue
    }
    if (isWordChar(c)) {
      while (i < source.length && isWordChar(source.charAt(i))) i++
      const text = source.slice(start, i)
      tokens.push({ kind: isDigits(text) ? 'integer' : 'word', text, position: start })
      continue
    }
    const two = source.slice(i, i + 2)
    if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
      tokens.push({ kind: two, text: two, position: start })
      i += 2
      continue
    }
    if (c === '<' || c === '>') {
      tokens.push({ kind: c, text: c, position: start })
      i++
      continue
    }
    const single = SINGLE_CHAR.get(c)
    if (single === undefined) {
      throw new CesqlParseError(`unexpected character ${JSON.stringify(c)}`, start)
    }
    tokens.push({ kind: single, text: c, position: start })
    i++
  }
  tokens.push({ kind: 'eof', text: '', position: source.length })
  return tokens
}

/**
 * §2.2 string-literal: `'…'` or `"…"`; inside, a backslash followed by the delimiter stands for
 * the delimiter. Any other backslash is kept as is, so LIKE patterns still see `\%` and `\_`
 * (§3.4.3) and `'ab\c'` is the three characters `a`, `b`, `\`, `c` (TCK like_expression).
 */
function readString(source: string, start: number, quote: string): { value: string; end: number } {
  let value = ''
  let i = start + 1
  let chunkStart = i
  while (i < source.length) {
    const c = source.charAt(i)
    if (c === '\\' && source.charAt(i + 1) === quote) {
      value += source.slice(chunkStart, i) + quote
      i += 2
      chunkStart = i
      continue
    }
    if (c === quote) {
      value += source.slice(chunkStart, i)
      return { value, end: i + 1 }
    }
    i++
  }
  throw new CesqlParseError('unterminated string literal', start)
}
