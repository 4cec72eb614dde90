// Maps a path inside a parsed YAML document back to the line it came from, with the `yaml`
// package's CST ranges and a LineCounter.
import { isMap, isNode, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml'
import type { PathSegment, Position } from './types.js'

/**
 * The node at `path` (for a mapping entry: its key, which is the line people look for), or the
 * deepest ancestor that exists, so a missing field points at its parent.
 */
function nearestNode(doc: Document, path: readonly PathSegment[]): Node | null {
  let node: unknown = doc.contents
  let found: Node | null = doc.contents
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment))
      if (pair === undefined) break
      if (isNode(pair.key)) found = pair.key
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment]
      if (item === undefined) break
      if (isNode(item)) found = item
      node = item
    } else {
      break
    }
  }
  return found
}

export function makeLocator(doc: Document, lineCounter: LineCounter): (path: readonly PathSegment[]) => Position {
  return (path) => {
    const node = nearestNode(doc, path)
    const offset = node?.range?.[0] ?? 0
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
}

/** Splits a dotted path as Knative's webhook prints it (`spec.filters[0].exact[Type]`). */
export function parseFieldPath(text: string): PathSegment[] {
  const segments: PathSegment[] = []
  for (const match of text.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) {
    const key = match[1] ?? match[2]
    if (key === undefined) continue
    segments.push(/^\d+$/.test(key) && match[2] !== undefined ? Number(key) : key)
  }
  return segments
}
