// Fuzzing the CloudEvents receiver of every function (as `serve all` mounts them): random bytes with
// random ce-* headers and content types, and mutated valid events (an attribute removed or replaced by
// arbitrary JSON, a __proto__ key, bytes flipped in the serialized event). Property: never a 5xx, the
// process stays alive, Object.prototype stays clean. A few seconds in `npm test`; `npm run fuzz` runs
// for FUZZ_SECONDS (default 180).
import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createFunction, FUNCTION_NAMES } from '../../cli/registry.js'
import { parseHttpEvent, toBinary, type CloudEventV1 } from '../../shared/cloudevent.js'
import { silentLogger } from '../../shared/logger.js'
import { apiServerEvent } from '../helpers/events.js'
import { coreEvent, pod } from '../helpers/k8s-fixtures.js'
import { startHost } from '../helpers/host.js'

const seconds = Number(process.env.FUZZ_SECONDS ?? 6)
/** Cases run whatever the time limit. */
const MIN_RUNS = 60
t.setTimeout(Math.max(120_000, seconds * 1000 * 3 + 60_000))

const CONTENT_TYPES = ['application/json', 'application/cloudevents+json', 'application/cloudevents-batch+json', 'text/plain', 'application/octet-stream', 'application/json; charset=latin1', '']
const ATTRS = ['id', 'source', 'specversion', 'type', 'time', 'subject', 'datacontenttype', 'dataschema', 'severity', 'category', 'action', 'reason', 'fingerprint', 'x_bad', 'Upper']

interface Req {
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Uint8Array
}

/** Header values fetch accepts (Latin-1 without CR/LF/NUL); anything else is the HTTP client's problem, not ours. */
const headerValue = fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e\x80-\xff]/g, ''))

void t.test('fuzz: random and mutated CloudEvents never get a 5xx', async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'kube-reflex-fuzz-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const env = { KUBE_REFLEX_DATA_DIR: dataDir, LOG_LEVEL: 'silent', RECOVERY_MODE: 'dry-run' }
  const mounts = []
  for (const name of FUNCTION_NAMES) mounts.push({ name, fn: await createFunction(name, env, silentLogger), path: `/${name}` })
  const host = await startHost(t, mounts, { bodyLimitBytes: 256 * 1024 })
  const paths = [...mounts.map((m) => `/${m.name}`), '/persist/dead-letter']

  // Valid seeds: two inputs of classify and the classified events it answers with (inputs of the others).
  const inputs: CloudEventV1[] = [
    apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)' })),
    apiServerEvent(pod({ containers: [{ waiting: { reason: 'ImagePullBackOff' } }] }), 'update'),
  ]
  const seeds: CloudEventV1[] = [...inputs]
  for (const input of inputs) {
    const { headers, body } = toBinary(input)
    const res = await fetch(`${host.url}/classify`, { method: 'POST', headers: { ...headers, prefer: 'reply' }, body })
    t.equal(res.status, 200, 'seed classified')
    const replyHeaders: Record<string, string> = {}
    res.headers.forEach((v, k) => (replyHeaders[k] = v))
    seeds.push(parseHttpEvent(replyHeaders, Buffer.from(await res.arrayBuffer())))
  }
  const seedJson = seeds.map((e) => JSON.parse(JSON.stringify(e)) as Record<string, unknown>)

  const randomBytes: fc.Arbitrary<Req> = fc.record({
    path: fc.constantFrom(...paths),
    headers: fc
      .tuple(fc.constantFrom(...CONTENT_TYPES), fc.dictionary(fc.constantFrom(...ATTRS), headerValue, { maxKeys: 8 }))
      .map(([ct, attrs]) => {
        const h: Record<string, string> = ct === '' ? {} : { 'content-type': ct }
        for (const [k, v] of Object.entries(attrs)) h[`ce-${k.toLowerCase()}`] = v
        return h
      }),
    body: fc.uint8Array({ maxLength: 2048 }),
  })

  const mutated: fc.Arbitrary<Req> = fc
    .record({
      path: fc.constantFrom(...paths),
      seed: fc.nat({ max: seedJson.length - 1 }),
      key: fc.constantFrom(...ATTRS, 'data', '__proto__', 'constructor', 'data_base64'),
      how: fc.constantFrom('delete', 'replace', 'flip', 'proto'),
      value: fc.jsonValue({ maxDepth: 4 }),
      flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }),
      binary: fc.boolean(),
    })
    .map(({ path: p, seed, key, how, value, flips, binary }) => {
      const event: Record<string, unknown> = { ...(seedJson[seed] ?? {}) }
      if (how === 'delete') delete event[key]
      else if (how === 'replace') event[key] = value
      let text = JSON.stringify(event)
      if (how === 'proto') text = text.replace(/^\{/, `{"__proto__":${JSON.stringify(value ?? null)},`)
      const bytes = Buffer.from(text)
      if (how === 'flip') for (const [at, b] of flips) bytes[at % bytes.length] = b
      if (!binary) return { path: p, headers: { 'content-type': 'application/cloudevents+json' }, body: new Uint8Array(bytes) }
      // Binary mode: attributes as ce-* headers (strings only, as the HTTP binding carries them).
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      let data: unknown = undefined
      for (const [k, v] of Object.entries(event)) {
        if (k === 'data') data = v
        else if (k !== 'datacontenttype') headers[`ce-${k.toLowerCase()}`] = (typeof v === 'string' ? v : JSON.stringify(v) ?? '').replace(/[^\x20-\x7e]/g, '')
      }
      return { path: p, headers, body: new Uint8Array(Buffer.from(JSON.stringify(data ?? null))) }
    })

  let runs = 0
  const statuses = new Map<number, number>()
  const neverA5xx = fc.asyncProperty(fc.oneof(randomBytes, mutated), async (r) => {
    runs++
    const res = await fetch(`${host.url}${r.path}`, { method: 'POST', headers: r.headers, body: r.body })
    const text = await res.text()
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    if (res.status >= 500) throw new Error(`${r.path} answered ${res.status} ${text.slice(0, 200)}`)
    if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('Object.prototype polluted')
  })
  // A fixed number of cases first, however slow the machine (a busy CI ran only 48 in 6 s), then more for
  // the rest of the time given.
  const started = Date.now()
  await fc.assert(neverA5xx, { numRuns: MIN_RUNS })
  const left = seconds * 1000 - (Date.now() - started)
  if (left > 0) await fc.assert(neverA5xx, { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: left, markInterruptAsFailure: false })
  const live = await fetch(`${host.url}/health/liveness`)
  t.equal(live.status, 200, 'alive after fuzzing')
  t.ok(runs > 50, `fuzzed ${runs} requests in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  t.comment(`fuzz: ${runs} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
})
