// Deterministic ids must never change between releases: stored rows, dead letters and receivers
// deduplicate on them. Checked against a Hash object computed here, and against fixed values.
import t from 'tap'
import { createHash } from 'node:crypto'
import { deterministicId, stableHash } from '../../shared/ids.js'

const cases: string[][] = [[], ['a', 'b'], ['ab', ''], ['a', 'bc'], ['/kube-reflex/classify', 'https://10.96.0.1:443', 'ünïcödé-😀'], ['x'.repeat(10_000)]]

function reference(algorithm: string, parts: readonly string[]): Buffer {
  const h = createHash(algorithm)
  for (const p of parts) h.update(p).update('\u0000')
  return h.digest()
}

void t.test('deterministicId is a version-5-layout UUID over SHA-1 of the NUL-separated parts', async (t) => {
  for (const parts of cases) {
    const b = reference('sha1', parts)
    b[6] = ((b[6] ?? 0) & 0x0f) | 0x50
    b[8] = ((b[8] ?? 0) & 0x3f) | 0x80
    const hex = b.toString('hex', 0, 16)
    const id = deterministicId(...parts)
    t.equal(id, `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`, JSON.stringify(parts).slice(0, 60))
    t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  }
  t.not(deterministicId('ab', 'c'), deterministicId('a', 'bc'), 'the separator keeps part boundaries')
  // Pinned (values of the previous implementation): a change here would re-id every event already stored.
  t.equal(deterministicId('a', 'b'), '5b408540-1e25-5f39-98fb-1701d3d9399c')
  t.equal(deterministicId('/kube-reflex/classify', 'https://10.96.0.1:443', 'ünïcödé-😀'), '4328063d-78d7-5d4e-a30d-1c33d5d2fe33')
})

void t.test('stableHash is the first 32 hex digits of SHA-256 of the NUL-separated parts', async (t) => {
  for (const parts of cases) t.equal(stableHash(...parts), reference('sha256', parts).toString('hex').slice(0, 32), JSON.stringify(parts).slice(0, 60))
  t.not(stableHash('ab', 'c'), stableHash('a', 'bc'))
  t.equal(stableHash('a', 'b'), '8fb20ef63ced4145fc2e983ffe597d1d', 'pinned')
})
