// The lean CloudEvents parser's strictness where a lenient decode would store an altered event:
// UTF-8 (RFC 8259 §8.1), data_base64 (JSON format §3.1, RFC 4648 §4), and the nesting-depth check.
import t from 'tap'
import { canHandOver, freezeJson, isBase64, nestsDeeperThan, parseHttpEvent, receivedAsBinary, toBinary, type CloudEventV1 } from '../../shared/cloudevent.js'
import { ReflexError } from '../../shared/errors.js'

const STRUCTURED = { 'content-type': 'application/cloudevents+json' }
const BAD_UTF8 = Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80])
const binaryHeaders = (ct: string): Record<string, string> => ({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'ce-type': 't', 'content-type': ct })

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof ReflexError ? String(err.code) : 'not a ReflexError'
  }
}

void t.test('isBase64 takes canonical RFC 4648 Base64 only', (t) => {
  for (const ok of ['', 'eA==', 'eHk=', 'eHl6', Buffer.from('any bytes \u00ff').toString('base64')]) t.ok(isBase64(ok), `accepts ${JSON.stringify(ok)}`)
  for (const bad of ['***not base64***', 'eA', 'eA=', 'e A==', 'eA==\n', 'eHl6_-==', 'eB==']) t.notOk(isBase64(bad), `refuses ${JSON.stringify(bad)}`)
  t.end()
})

void t.test('structured mode: invalid UTF-8 and bad data_base64 are 400s naming the problem', (t) => {
  const body = Buffer.concat([Buffer.from('{"specversion":"1.0","id":"'), BAD_UTF8, Buffer.from('","source":"/s","type":"t"}')])
  t.throws(() => parseHttpEvent(STRUCTURED, body), { code: 'EVENT_INVALID', message: /not valid UTF-8/ })
  const b64 = Buffer.from(JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', data_base64: 'not base64!' }))
  t.throws(() => parseHttpEvent(STRUCTURED, b64), { code: 'EVENT_INVALID', message: /data_base64 must be a base64 string/ })
  const good = Buffer.from(JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', data_base64: Buffer.from([0, 255]).toString('base64') }))
  t.same(parseHttpEvent(STRUCTURED, good).data, Buffer.from([0, 255]), 'valid Base64 still becomes bytes')
  t.end()
})

void t.test('binary mode: JSON data must be UTF-8; other media types keep arbitrary bytes', (t) => {
  t.equal(codeOf(() => parseHttpEvent(binaryHeaders('application/json'), Buffer.concat([Buffer.from('{"a":"'), BAD_UTF8, Buffer.from('"}')]))), 'EVENT_DATA_INVALID')
  const raw = Buffer.concat([BAD_UTF8, Buffer.from([0, 1, 2])])
  t.same(parseHttpEvent(binaryHeaders('application/octet-stream'), raw).data, raw, 'octet-stream bytes pass through untouched')
  t.same(parseHttpEvent(binaryHeaders('application/json'), Buffer.from('{"k":"é✓"}')).data, { k: 'é✓' }, 'valid multi-byte UTF-8 is fine')
  t.end()
})

void t.test('nestsDeeperThan counts levels iteratively (no stack overflow at any depth)', (t) => {
  t.equal(nestsDeeperThan('x', 0), false)
  t.equal(nestsDeeperThan({}, 1), false)
  t.equal(nestsDeeperThan({ a: [1] }, 1), true)
  t.equal(nestsDeeperThan({ a: [1] }, 2), false)
  t.equal(nestsDeeperThan(Buffer.alloc(10), 0), false, 'bytes are a leaf')
  const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown
  t.equal(nestsDeeperThan(deep, 256), true, '200,000 levels: answered, not a RangeError')
  t.equal(nestsDeeperThan(deep, 200_000), false)
  t.end()
})

void t.test('datacontenttype must be an RFC 2046 media type (it travels as a Content-Type header)', (t) => {
  const structured = (ct: string): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', datacontenttype: ct, data: {} }))
  t.equal(codeOf(() => parseHttpEvent(STRUCTURED, structured('application/json; charset=utf-8'))), undefined)
  t.equal(codeOf(() => parseHttpEvent(STRUCTURED, structured('application/vnd.k8s+json'))), undefined)
  for (const bad of ['json', '\uFFFD', 'application/jsön', 'text /plain']) t.equal(codeOf(() => parseHttpEvent(STRUCTURED, structured(bad))), 'EVENT_INVALID', `refuses ${JSON.stringify(bad)}`)
  t.end()
})

void t.test('receivedAsBinary gives what parsing the binary-mode message gives, without the message', (t) => {
  const base = { specversion: '1.0' as const, id: 'e-1', source: '/s', type: 't' }
  const events: CloudEventV1[] = [
    { ...base, subject: 'x', time: '2026-11-28T10:00:00Z', ttl: 254, flag: true, note: 'a b %', data: { n: 1, s: 'Grüße 🚀', list: [1, null, { deep: ['x'] }] } },
    { ...base, datacontenttype: 'application/json; charset=utf-8', data: 'just a JSON string' },
    { ...base, datacontenttype: 'application/vnd.k8s+json', data: [1, 2, 3] },
    { ...base, data: null },
    { ...base, data: 0 },
    { ...base, datacontenttype: 'application/json' }, // no data: the type does not travel
    { ...base, partitionkey: 'p' },
  ]
  for (const event of events) {
    t.ok(canHandOver(event), `can hand over ${JSON.stringify(event)}`)
    const { headers, body } = toBinary(event)
    const viaMessage = parseHttpEvent(headers, body)
    const handedOver = receivedAsBinary(event)
    t.same(handedOver, viaMessage, `same event as the message: ${JSON.stringify(event)}`)
    t.same(Object.keys(handedOver).sort(), Object.keys(viaMessage).sort(), 'same attributes present')
    t.equal(Object.getPrototypeOf(handedOver), Object.getPrototypeOf(viaMessage), 'same kind of object')
  }
  // Invalid attributes are refused as the message's parse refuses them (EVENT_INVALID, every problem).
  const bad = { ...base, id: '', time: 'yesterday', Bad: 'x', data: {} }
  t.equal(codeOf(() => receivedAsBinary(bad)), 'EVENT_INVALID')
  t.equal(codeOf(() => parseHttpEvent(toBinary(bad).headers, toBinary(bad).body)), 'EVENT_INVALID')
  // An extension that is not a string/number/boolean becomes its JSON text on a header, as it does here.
  const odd = { ...base, extra: { a: 1 } } as CloudEventV1
  t.same(receivedAsBinary(odd), parseHttpEvent(toBinary(odd).headers, toBinary(odd).body))
  t.end()
})

void t.test('canHandOver refuses what only bytes can carry faithfully', (t) => {
  const base = { specversion: '1.0' as const, id: 'e-1', source: '/s', type: 't' }
  t.notOk(canHandOver({ ...base, data: Buffer.from('raw') }), 'binary data')
  t.notOk(canHandOver({ ...base, datacontenttype: 'text/plain', data: 'hello' }), 'a text media type')
  t.notOk(canHandOver({ ...base, datacontenttype: 'application/xml', data: '<a/>' }), 'XML')
  t.notOk(canHandOver({ ...base, data_base64: 'cmF3' }), 'data_base64')
  t.ok(canHandOver(base), 'no data')
  t.end()
})

void t.test('freezeJson freezes every nested object and array, and a write then throws', (t) => {
  const value = { a: { b: [{ c: 1 }, [2, { d: 3 }]] }, e: 'x', f: Object.assign(Object.create(null) as object, { g: 1 }) }
  t.equal(freezeJson(value), true)
  t.ok(Object.isFrozen(value) && Object.isFrozen(value.a) && Object.isFrozen(value.a.b) && Object.isFrozen(value.a.b[0]) && Object.isFrozen(value.a.b[1]) && Object.isFrozen(value.f))
  t.throws(() => {
    ;(value.a.b[0] as { c: number }).c = 2
  }, TypeError)
  t.throws(() => (value.a.b as unknown[]).push(1), TypeError)
  t.equal(freezeJson(null), true)
  t.equal(freezeJson('s'), true)
  // What JSON.parse never makes would arrive as another value through a message: refused.
  t.equal(freezeJson({ at: new Date(0) }), false, 'a Date')
  t.equal(freezeJson({ raw: Buffer.from('x') }), false, 'a Buffer (typed arrays cannot be frozen either)')
  t.equal(freezeJson([new Map()]), false, 'a Map')
  // Refused values are left as they were, and are refused again: nothing of them was frozen on the way.
  const dated = { a: { b: 1 }, at: new Date(0) }
  t.equal(freezeJson(dated), false)
  t.notOk(Object.isFrozen(dated) || Object.isFrozen(dated.a), 'nothing frozen')
  t.equal(freezeJson(dated), false, 'still refused')
  const cyclic: Record<string, unknown> = { n: 1 }
  cyclic.self = cyclic
  t.equal(freezeJson(cyclic), false, 'a cycle')
  t.end()
})
