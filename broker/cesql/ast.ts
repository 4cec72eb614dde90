/** A CESQL value (§3.1): Boolean, Integer (a 32-bit signed JS number) or String. */
export type CesqlValue = boolean | number | string

export type CesqlType = 'Boolean' | 'Integer' | 'String'

export type BinaryOperator =
  | '='
  | '!='
  | '<>'
  | '<'
  | '<='
  | '>'
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | 'AND'
  | 'OR'
  | 'XOR'

/** Syntax tree produced by the parser. `position` is the 0-based offset of the node's first token. */
export type ExpressionNode =
  | { readonly type: 'literal'; readonly value: CesqlValue; readonly position: number }
  | { readonly type: 'identifier'; readonly name: string; readonly position: number }
  | { readonly type: 'exists'; readonly name: string; readonly position: number }
  | { readonly type: 'not'; readonly operand: ExpressionNode; readonly position: number }
  | { readonly type: 'negate'; readonly operand: ExpressionNode; readonly position: number }
  | {
      readonly type: 'binary'
      readonly operator: BinaryOperator
      readonly left: ExpressionNode
      readonly right: ExpressionNode
      readonly position: number
    }
  | {
      readonly type: 'like'
      readonly operand: ExpressionNode
      readonly pattern: string
      readonly negated: boolean
      readonly position: number
    }
  | {
      readonly type: 'in'
      readonly operand: ExpressionNode
      readonly set: readonly ExpressionNode[]
      readonly negated: boolean
      readonly position: number
    }
  | {
      readonly type: 'call'
      /** Upper-cased: function names are case-insensitive (§2). */
      readonly name: string
      readonly args: readonly ExpressionNode[]
      readonly position: number
    }
