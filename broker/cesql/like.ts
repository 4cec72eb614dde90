/**
 * §3.4.3 LIKE patterns: `%` is any run of characters, `_` exactly one character, `\%` and `\_`
 * the literal characters; anything else (including a lone backslash) stands for itself.
 * Matched without regular expressions so that no pattern can backtrack exponentially.
 */
export interface LikePattern {
  /** One entry per pattern element: a literal character (code point) or null for a wildcard. */
  readonly chars: readonly (string | null)[]
  /** true where the element is `%`. */
  readonly multi: readonly boolean[]
}

export function compileLikePattern(pattern: string): LikePattern {
  const chars: (string | null)[] = []
  const multi: boolean[] = []
  const points = Array.from(pattern)
  for (let i = 0; i < points.length; i++) {
    const c = points[i]
    if (c === '\\' && (points[i + 1] === '%' || points[i + 1] === '_')) {
      chars.push(points[i + 1] ?? '')
      multi.push(false)
      i++
    } else if (c === '%') {
      // Consecutive `%` are equivalent to one.
      if (multi[multi.length - 1] !== true) {
        chars.push(null)
        multi.push(true)
      }
    } else if (c === '_') {
      chars.push(null)
      multi.push(false)
    } else {
      chars.push(c ?? '')
      multi.push(false)
    }
  }
  return { chars, multi }
}

const SURROGATE = /[\uD800-\uDFFF]/

/** Greedy match with backtracking to the last `%` only: O(text × pattern) at worst. */
export function likeMatches(pattern: LikePattern, text: string): boolean {
  const points: readonly string[] | string = SURROGATE.test(text) ? Array.from(text) : text
  const n = points.length
  const m = pattern.chars.length
  let t = 0
  let p = 0
  let star = -1
  let mark = 0
  while (t < n) {
    if (p < m && !pattern.multi[p] && (pattern.chars[p] === null || pattern.chars[p] === points[t])) {
      t++
      p++
    } else if (p < m && pattern.multi[p]) {
      star = p
      mark = t
      p++
    } else if (star !== -1) {
      p = star + 1
      mark++
      t = mark
    } else {
      return false
    }
  }
  while (p < m && pattern.multi[p]) p++
  return p === m
}
