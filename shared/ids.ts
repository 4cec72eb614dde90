// Deterministic identifiers: a redelivered input must yield the same output id (DESIGN.md, "Classified
// event"), so every step can deduplicate on (source, id).
import * as crypto from 'node:crypto'

// One-shot hashing (crypto.hash, Node ≥ 20.12) costs a third of a Hash object per call, and classify
// hashes twice per event. Node 20.11 (our engines floor) lacks it: fall back to createHash there.
type OneShot = (algorithm: string, data: string, encoding: 'buffer' | 'hex') => Buffer | string
const oneShot: OneShot | undefined = typeof (crypto as { hash?: unknown }).hash === 'function' ? ((crypto as unknown as { hash: OneShot }).hash) : undefined

function digest(algorithm: 'sha1' | 'sha256', parts: readonly string[], encoding: 'buffer' | 'hex'): Buffer | string {
  // Each part is followed by a NUL separator: ('ab','c') and ('a','bc') must differ.
  let text = ''
  for (const p of parts) text += p + '\u0000'
  if (oneShot !== undefined) return oneShot(algorithm, text, encoding)
  const h = crypto.createHash(algorithm).update(text)
  return encoding === 'hex' ? h.digest('hex') : h.digest()
}

/** A name-based UUID (RFC 9562 §5.5, version 5 layout over SHA-1) from the given parts. */
export function deterministicId(...parts: readonly string[]): string {
  const b = digest('sha1', parts, 'buffer') as Buffer
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
  const hex = b.toString('hex', 0, 16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`
}

/** A short stable hash (hex) for keys such as fingerprints. */
export function stableHash(...parts: readonly string[]): string {
  return (digest('sha256', parts, 'hex') as string).slice(0, 32)
}
