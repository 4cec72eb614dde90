// Malformed and hostile CloudEvents HTTP requests (issue 10, "Bad input"). Every case here must be
// answered with a 4xx naming the problem: never 5xx, never a crash, never a stored row.
//
// Attribute rules: CloudEvents v1.0.2 core spec §3.1 (required id/source/specversion/type, non-empty),
// §3.1.1 (attribute names: lowercase a-z, 0-9), §3.1.4 (time: RFC 3339); HTTP binding §3.1.3 (ce- headers),
// §3.2 (structured: application/cloudevents+json), §3.3 (batch mode is optional: we do not accept it).

export interface BadRequest {
  readonly name: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  /**
   * '4xx' (default): malformed, must be refused. 'no-5xx': hostile but well-formed for some functions
   * (classify acknowledges an object of a kind it does not handle with 202): any answer but a 5xx.
   */
  readonly expect?: '4xx' | 'no-5xx'
}

/** The type a function validates data for (a valid-attribute event must reach the data check). */
export type DataType = 'dev.knative.apiserver.resource.add' | 'dev.kubereflex.event.classified'

const JSON_CT = 'application/json'
const STRUCTURED = 'application/cloudevents+json'

function binary(attrs: Record<string, string>, contentType = JSON_CT): Record<string, string> {
  const h: Record<string, string> = { 'content-type': contentType }
  for (const [k, v] of Object.entries(attrs)) h[`ce-${k}`] = v
  return h
}

const base = (type: DataType): Record<string, string> => ({ specversion: '1.0', id: 'bad-input-1', source: '/reliability/corpus', type })

function without(o: Record<string, string>, key: string): Record<string, string> {
  const copy = { ...o }
  delete copy[key]
  return copy
}

/** Nesting deeper than any parser should be asked to recurse. */
export function deepJson(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`
}

const sql = "'; DROP TABLE persist_events; --"

/** Requests whose CloudEvent attributes are wrong: every function must refuse them the same way. */
export function attributeCases(type: DataType): BadRequest[] {
  const a = base(type)
  const data = Buffer.from('{"kind":"Event"}')
  const b = (name: string, attrs: Record<string, string>, body: Buffer = data, ct = JSON_CT): BadRequest => ({ name: `binary: ${name}`, headers: binary(attrs, ct), body })
  const s = (name: string, value: unknown, ct = STRUCTURED): BadRequest => ({ name: `structured: ${name}`, headers: { 'content-type': ct }, body: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)) })
  const sBase = { specversion: '1.0', id: 'bad-input-2', source: '/reliability/corpus', type, datacontenttype: JSON_CT, data: { kind: 'Event' } }
  return [
    b('no ce-id', without(a, 'id')),
    b('empty ce-id', { ...a, id: '' }),
    b('no ce-source', without(a, 'source')),
    b('empty ce-source', { ...a, source: '' }),
    b('no ce-type', without(a, 'type')),
    b('no ce-specversion', without(a, 'specversion')),
    b('ce-specversion 0.2', { ...a, specversion: '0.2' }),
    b('ce-specversion 2.0', { ...a, specversion: '2.0' }),
    b('ce-time not RFC 3339', { ...a, time: 'yesterday at noon' }),
    b('ce-time with SQL', { ...a, time: sql }),
    b('extension name with underscore', { ...a, bad_name: 'x' }),
    b('extension name with a dash', { ...a, 'x-forwarded': 'x' }),
    b('control characters in ce-id', { ...a, id: 'a\tb' }),
    s('not JSON', '{"specversion":"1.0",'),
    s('empty body', ''),
    s('JSON null', 'null'),
    s('JSON array (batch on the structured endpoint)', [sBase]),
    s('JSON string', '"an event"'),
    s('JSON number', '42'),
    s('no id', { ...sBase, id: undefined }),
    s('id is a number', { ...sBase, id: 123 }),
    s('id is an object', { ...sBase, id: { $ne: null } }),
    s('empty source', { ...sBase, source: '' }),
    s('type null', { ...sBase, type: null }),
    s('type is an array', { ...sBase, type: [type] }),
    s('specversion 1', { ...sBase, specversion: 1 }),
    s('no specversion', { ...sBase, specversion: undefined }),
    s('bad time', { ...sBase, time: '2026-13-45T99:99:99Z' }),
    s('upper-case extension name', { ...sBase, Severity: 'critical' }),
    s('extension with an object value', { ...sBase, severity: { critical: true } }),
    s('extension with an array value', { ...sBase, category: ['a', 'b'] }),
    s('__proto__ attribute', `{"specversion":"1.0","id":"p1","source":"/x","type":"${type}","__proto__":{"polluted":"yes"},"data":{}}`),
    s('constructor attribute', { ...sBase, constructor: { prototype: { polluted: 'yes' } } }),
    s('data_base64 that is not base64', { ...sBase, data: undefined, data_base64: '***not base64***' }),
    s('data and data_base64 both', { ...sBase, data_base64: 'e30=' }),
    // Overlong "/" (C0 AF) and a UTF-16 surrogate encoded as UTF-8 (ED A0 80): both invalid UTF-8 (RFC 3629 §3).
    { name: 'structured: invalid UTF-8 (overlong, surrogate)', headers: { 'content-type': STRUCTURED }, body: Buffer.concat([Buffer.from('{"specversion":"1.0","id":"x","source":"/'), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80]), Buffer.from(`","type":"${type}"}`)]) },
    { name: 'structured: invalid UTF-8 bytes', headers: { 'content-type': STRUCTURED }, body: Buffer.concat([Buffer.from('{"specversion":"1.0","id":"'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(`","source":"/x","type":"${type}"}`)]) },
    s('deeply nested data', `{"specversion":"1.0","id":"deep","source":"/x","type":"${type}","data":${deepJson(100_000)}}`),
    s('batch content type', [sBase], 'application/cloudevents-batch+json'),
  ]
}

/** Requests with good attributes and bad `data`: the function's input check must refuse them (400). */
export function dataCases(type: DataType): BadRequest[] {
  const a = base(type)
  const b = (name: string, body: Buffer | string, ct = JSON_CT, expect: '4xx' | 'no-5xx' = '4xx'): BadRequest => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body
    return { name: `data: ${name}`, headers: binary({ ...a, id: `bad-data-${name.replace(/[^a-z0-9]+/gi, '-')}` }, ct), body: buf, expect }
  }
  // An object with kind + metadata is a Kubernetes object to classify (a kind it does not handle: 202).
  const objectShaped = type === 'dev.knative.apiserver.resource.add' ? 'no-5xx' : '4xx'
  return [
    b('empty', ''),
    b('not JSON', '{"kind": "Event", '),
    b('JSON null', 'null'),
    b('JSON array', '[1,2,3]'),
    b('JSON string', '"CrashLoopBackOff"'),
    b('JSON number', '3.14'),
    b('empty object', '{}'),
    b('wrong types', JSON.stringify({ apiVersion: 1, kind: ['Event'], metadata: 'x', involvedObject: 7, reason: { a: 1 }, message: null })),
    b('__proto__ keys', '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"kind":"Event"}'),
    b('SQL-looking strings', JSON.stringify({ kind: sql, metadata: { name: sql, namespace: sql }, reason: sql }), JSON_CT, objectShaped),
    b('control characters', JSON.stringify({ kind: 'Event\u0000\u0001\u001b[31m', metadata: { name: '\u0007' } }), JSON_CT, objectShaped),
    b('invalid UTF-8', Buffer.concat([Buffer.from('{"kind":"Ev'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1]), Buffer.from('ent"}')])),
    b('deeply nested', deepJson(100_000)),
    b('deeply nested objects', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`),
    b('path tricks', JSON.stringify({ kind: 'Event', metadata: { name: '../../../../etc/passwd', namespace: '..%2f..%2f' }, involvedObject: { kind: '/', name: '..' } }), JSON_CT, objectShaped),
    b('XML body', '<event><id>1</id></event>', 'application/xml'),
    b('binary body', Buffer.from([0, 1, 2, 3, 255, 254]), 'application/octet-stream'),
  ]
}

/** A body over the host's limit (bodyLimitBytes): 413, not a crash or an unbounded buffer. */
export function hugeCase(type: DataType, bytes: number): BadRequest {
  const body = Buffer.from(`{"kind":"Event","message":"${'x'.repeat(bytes)}"}`)
  return { name: `huge body (${(body.length / 1024 / 1024).toFixed(1)} MiB)`, headers: binary({ ...base(type), id: 'huge' }), body }
}
