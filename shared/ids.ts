// Deterministic identifiers: a redelivered input must yield the same output id (DESIGN.md, "Classified
// event"), so every step can deduplicate on (source, id).
import { createHash } from 'node:crypto'

/** A name-based UUID (RFC 9562 §5.5, version 5 layout over SHA-1) from the given parts. */
export function deterministicId(...parts: readonly string[]): string {
  const h = createHash('sha1')
  for (const p of parts) {
    h.update(p)
    h.update('\u0000') // separator: ('ab','c') and ('a','bc') must differ
  }
  const b = h.digest()
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
  const hex = b.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/** A short stable hash (hex) for keys such as fingerprints. */
export function stableHash(...parts: readonly string[]): string {
  const h = createHash('sha256')
  for (const p of parts) {
    h.update(p)
    h.update('\u0000')
  }
  return h.digest('hex').slice(0, 32)
}
