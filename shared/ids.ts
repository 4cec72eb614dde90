// Deterministic identifiers: a redelivered input must yield the same output id (DESIGN.md, "Classified
// event"), so every step can deduplicate on (source, id).
import * as crypto from 'node:crypto'

// One-shot hashing (crypto.hash, Node ≥ 20.12) costs a third of a Hash object per call, and classify
// hashes twice per event. Node 20.11 (our engines floor) lacks it: fall back to createHash there.
type OneShot = (algorithm: string, data: string, encoding: 'hex') => string
const oneShot: OneShot | undefined = typeof (crypto as { hash?: unknown }).hash === 'function' ? ((crypto as unknown as { hash: OneShot }).hash) : undefined

function digest(algorithm: 'sha1' | 'sha256', parts: readonly string[]): string {
  // Each part is followed by a NUL separator: ('ab','c') and ('a','bc') must differ.
  let text = ''
  for (const p of parts) text += p + '\u0000'
  if (oneShot !== undefined) return oneShot(algorithm, text, 'hex')
  return crypto.createHash(algorithm).update(text).digest('hex')
}

// RFC 9562 §4.1 variant bits (10xx) over the high nibble of octet 8, by its hex digit.
const VARIANT = ['8', '9', 'a', 'b', '8', '9', 'a', 'b', '8', '9', 'a', 'b', '8', '9', 'a', 'b']

/** A name-based UUID (RFC 9562 §5.5, version 5 layout over SHA-1) from the given parts. */
export function deterministicId(...parts: readonly string[]): string {
  // Set on the hex text rather than on a digest Buffer: a one-shot hex digest skips the Buffer allocation,
  // which costs more than the hash itself. Octet 6's high nibble (hex digit 12) is the version, 5;
  // octet 8's two top bits (hex digit 16) are the variant.
  const hex = digest('sha1', parts)
  const variant = VARIANT[parseInt(hex.charAt(16), 16)] ?? '8'
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

/** A short stable hash (hex) for keys such as fingerprints. */
export function stableHash(...parts: readonly string[]): string {
  return digest('sha256', parts).slice(0, 32)
}
