// CloudEvents 1.0 on HTTP, the lean way: the event path checks the raw request once and builds a plain
// object. The SDK's `HTTP.toEvent` silently fills a missing `id` and `time`, so the contract in DESIGN.md
// ("reject an event missing id") cannot be kept with it on the receive side.
import { isUtf8 } from 'node:buffer'
import { ReflexError } from './errors.js'

/** A CloudEvent as a plain object: context attributes and extensions at the top level (JSON format). */
export interface CloudEventV1 {
  specversion: '1.0'
  id: string
  source: string
  type: string
  subject?: string
  time?: string
  datacontenttype?: string
  dataschema?: string
  data?: unknown
  data_base64?: string
  [extension: string]: unknown
}

export type ExtensionValue = string | number | boolean

const CORE = new Set(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema'])
// CloudEvents 1.0 §3.1.1 (attribute naming): lowercase ASCII letters and digits only.
const ATTRIBUTE_NAME = /^[a-z0-9]+$/
// RFC 3339 date-time (CloudEvents 1.0 §2.3 Timestamp).
const RFC3339 = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/
// CloudEvents 1.0 §2.3 String: control characters U+0000–U+001F and U+007F–U+009F are not allowed.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

// JSON event format §3.1: data_base64 is Base64 as RFC 4648 §4 defines it (padded alphabet, no line breaks).
// Buffer.from(x, 'base64') never fails — it skips what it does not know — so garbage would silently become
// other bytes. A round trip through the decoder is exact for canonical Base64 (and runs in C++, linear).
export function isBase64(value: string): boolean {
  return value.length % 4 === 0 && Buffer.from(value, 'base64').toString('base64') === value
}

// RFC 2045 §5.1 Content-Type syntax, loosely: printable ASCII type "/" subtype, then any ASCII parameters.
const MEDIA_TYPE = /^[\x21-\x2e\x30-\x3a\x3c-\x7e]+\/[\x21-\x2e\x30-\x3a\x3c-\x7e]+[ \t]*(;[\x20-\x7e\t]*)?$/

export function isRfc3339(value: string): boolean {
  return RFC3339.test(value) && !Number.isNaN(Date.parse(value))
}

/** One problem with an incoming event; every problem found is reported, not just the first. */
export interface EventProblem {
  readonly attribute: string
  readonly problem: string
}

function checkString(name: string, value: unknown, problems: EventProblem[], required: boolean): void {
  if (value === undefined || value === null) {
    if (required) problems.push({ attribute: name, problem: 'is required' })
    return
  }
  if (typeof value !== 'string') {
    problems.push({ attribute: name, problem: 'must be a string' })
    return
  }
  if (value.length === 0) {
    problems.push({ attribute: name, problem: 'must not be empty' })
    return
  }
  if (CONTROL.test(value)) problems.push({ attribute: name, problem: 'contains control characters' })
}

/**
 * Validates context attributes and extensions of a CloudEvent given as a plain object
 * (CloudEvents 1.0 §3 and §2.3). Returns every problem found.
 */
export function validateAttributes(event: Record<string, unknown>): EventProblem[] {
  const problems: EventProblem[] = []
  if (event.specversion === undefined) problems.push({ attribute: 'specversion', problem: 'is required' })
  else if (event.specversion !== '1.0') problems.push({ attribute: 'specversion', problem: "must be '1.0'" })
  checkString('id', event.id, problems, true)
  checkString('source', event.source, problems, true)
  checkString('type', event.type, problems, true)
  checkString('subject', event.subject, problems, false)
  checkString('datacontenttype', event.datacontenttype, problems, false)
  // §3.1.1 datacontenttype: an RFC 2046 media type, which is ASCII (type/subtype, optional parameters);
  // anything else cannot even travel as an HTTP Content-Type header.
  if (typeof event.datacontenttype === 'string' && event.datacontenttype !== '' && !MEDIA_TYPE.test(event.datacontenttype)) {
    problems.push({ attribute: 'datacontenttype', problem: 'must be a media type (RFC 2046), e.g. application/json' })
  }
  checkString('dataschema', event.dataschema, problems, false)
  if (event.time !== undefined) {
    if (typeof event.time !== 'string' || !isRfc3339(event.time)) {
      problems.push({ attribute: 'time', problem: 'must be an RFC 3339 timestamp' })
    }
  }
  if (event.data !== undefined && event.data_base64 !== undefined) {
    problems.push({ attribute: 'data', problem: 'data and data_base64 must not both be present' })
  }
  if (event.data_base64 !== undefined && (typeof event.data_base64 !== 'string' || !isBase64(event.data_base64))) {
    problems.push({ attribute: 'data_base64', problem: 'must be a base64 string (RFC 4648 §4)' })
  }
  for (const name of Object.keys(event)) {
    if (CORE.has(name) || name === 'data' || name === 'data_base64') continue
    if (!ATTRIBUTE_NAME.test(name)) {
      problems.push({ attribute: name, problem: 'extension names must be lowercase letters and digits' })
      continue
    }
    const value = event[name]
    if (typeof value === 'string') {
      if (CONTROL.test(value)) problems.push({ attribute: name, problem: 'contains control characters' })
    } else if (typeof value === 'number') {
      // §2.3 Integer: 32-bit signed.
      if (!Number.isInteger(value) || value > 2147483647 || value < -2147483648) {
        problems.push({ attribute: name, problem: 'must be a 32-bit integer' })
      }
    } else if (typeof value !== 'boolean') {
      problems.push({ attribute: name, problem: 'must be a string, integer or boolean' })
    }
  }
  return problems
}

export function invalidEvent(problems: EventProblem[]): ReflexError {
  const detail = problems.map((p) => `${p.attribute} ${p.problem}`).join('; ')
  return new ReflexError('EVENT_INVALID', `invalid CloudEvent: ${detail}`, { problems })
}

/** True for application/json and any `+json` media type (CloudEvents HTTP binding §3.1). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '' || contentType === 'application/json') return true // JSON is what we expect by default
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json'
}

function isTextMediaType(contentType: string): boolean {
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return base.startsWith('text/') || base.endsWith('+xml') || base === 'application/xml'
}

// HTTP binding §3.1.3.2: header values are percent-encoded where they are not printable ASCII,
// and for space, double quote and percent.
export function encodeHeaderValue(value: string): string {
  if (!/[^\x21-\x7e]|["%]/.test(value)) return value
  let out = ''
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0
    if (code >= 0x21 && code <= 0x7e && ch !== '"' && ch !== '%') out += ch
    else out += encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
  }
  return out
}

export function decodeHeaderValue(value: string): string {
  if (!value.includes('%')) return value
  try {
    return decodeURIComponent(value)
  } catch {
    throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: a ce- header has a bad percent-encoding')
  }
}

export type HeaderMap = Record<string, string | string[] | undefined>

function single(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v[0] : v
}

function decodeData(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return undefined
  if (isJsonMediaType(contentType)) {
    // RFC 8259 §8.1: JSON text exchanged between systems is UTF-8. toString('utf8') would replace bad bytes
    // with U+FFFD and the event would be stored altered; refuse it instead. Non-JSON data stays raw bytes.
    if (!isUtf8(body)) throw new ReflexError('EVENT_DATA_INVALID', 'event data is not valid UTF-8 (JSON must be UTF-8)')
    try {
      return JSON.parse(body.toString('utf8')) as unknown
    } catch {
      throw new ReflexError('EVENT_DATA_INVALID', 'event data is not valid JSON')
    }
  }
  if (contentType !== undefined && isTextMediaType(contentType)) return body.toString('utf8')
  return body // binary payload, kept as bytes
}

/**
 * Reads a CloudEvent from an HTTP request (binary or structured content mode, HTTP binding §3.1/§3.2),
 * validates it on the raw attributes and returns a plain event. Throws ReflexError(EVENT_INVALID) with
 * every problem found.
 */
export function parseHttpEvent(headers: HeaderMap, body: Buffer): CloudEventV1 {
  const contentType = single(headers, 'content-type')
  // The common case (what ApiServerSource and our own replies send) without splitting and lowercasing.
  const mediaType = contentType === 'application/json' ? contentType : (contentType?.split(';')[0] ?? '').trim().toLowerCase()
  let event: Record<string, unknown>
  if (mediaType === 'application/cloudevents-batch+json') {
    throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: batched content mode is not supported')
  }
  if (mediaType.startsWith('application/cloudevents')) {
    if (mediaType !== 'application/cloudevents+json') {
      throw new ReflexError('EVENT_INVALID', `invalid CloudEvent: unsupported event format ${mediaType}`)
    }
    // JSON event format §3 + RFC 8259 §8.1: a structured event is UTF-8; a lenient decode would store it altered.
    if (!isUtf8(body)) throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: structured body is not valid UTF-8')
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: structured body is not valid JSON')
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: structured body must be a JSON object')
    }
    // Own-property copy so that keys like __proto__ stay data, never prototypes.
    event = Object.create(null) as Record<string, unknown>
    for (const [k, v] of Object.entries(parsed)) event[k] = v
    const problems = validateAttributes(event)
    if (problems.length > 0) throw invalidEvent(problems)
    if (typeof event.data_base64 === 'string') {
      event.data = Buffer.from(event.data_base64, 'base64')
      delete event.data_base64
    }
  } else {
    event = Object.create(null) as Record<string, unknown>
    let sawCe = false
    // Object.keys, not Object.entries: one array per request instead of one per header.
    for (const rawName of Object.keys(headers)) {
      if (!rawName.startsWith('ce-')) continue
      sawCe = true
      const name = rawName.slice(3)
      const rawValue = headers[rawName]
      const value = Array.isArray(rawValue) ? rawValue.join(',') : rawValue
      if (value === undefined) continue
      event[name] = decodeHeaderValue(value)
    }
    if (!sawCe) throw new ReflexError('EVENT_INVALID', 'invalid CloudEvent: no ce- headers and not structured mode')
    if (contentType !== undefined) event.datacontenttype = contentType
    const problems = validateAttributes(event)
    if (problems.length > 0) throw invalidEvent(problems)
    const data = decodeData(body, contentType)
    if (data !== undefined) event.data = data
  }
  return event as CloudEventV1
}

/**
 * Whether `event` can be handed to a subscriber in this process as an object (Host.inProcess) and arrive
 * exactly as its binary-mode message would (binaryParts, then parseHttpEvent): no data, or data that is a
 * JSON value under a JSON media type. Bytes, text media types and `data_base64` go as a message.
 */
export function canHandOver(event: CloudEventV1): boolean {
  const data = event.data
  if (event.data_base64 !== undefined || Buffer.isBuffer(data)) return false
  return data === undefined || isJsonMediaType(event.datacontenttype)
}

// The values freezeJson has checked and frozen whole (see there): a later delivery of the same event
// finds its data here instead of walking it again.
const FROZEN_JSON = new WeakSet<object>()

/**
 * Freezes a JSON value and everything in it, so that subscribers sharing one parsed form (in-process
 * delivery) cannot change what the others see: a handler that writes to its input fails loudly (strict
 * mode throws) instead of corrupting the next delivery. Returns false, and freezes nothing, when something
 * in it is not what JSON.parse makes (plain objects, arrays, primitives; no cycles): a Date or a Buffer
 * would reach the subscriber as another value after a JSON round trip, so the value must travel as a message.
 */
export function freezeJson(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || FROZEN_JSON.has(value)) return true
  // Checked whole before anything is frozen: a half-frozen value would pass the check on the next delivery.
  const seen = new Set<object>([value])
  const stack: object[] = [value]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const isArray = Array.isArray(node)
    if (!isArray) {
      const proto: unknown = Object.getPrototypeOf(node)
      if (proto !== Object.prototype && proto !== null) return false
    }
    for (const child of (isArray ? node : Object.values(node)) as unknown[]) {
      if (child === null || typeof child !== 'object') continue
      if (seen.has(child)) return false // a cycle (or a shared subtree), which JSON text cannot carry as such
      seen.add(child)
      stack.push(child)
    }
  }
  for (const node of seen) Object.freeze(node)
  FROZEN_JSON.add(value)
  return true
}

/**
 * The event a subscriber gets from the binary-mode message of `event` (canHandOver(event) must hold),
 * without writing and parsing that message: every extension as the string its `ce-` header carries,
 * `datacontenttype` as the Content-Type (application/json when there is data and none was set, absent
 * without data), data shared as it is (freeze it: freezeJson). Validated like parseHttpEvent: throws
 * ReflexError(EVENT_INVALID) with every problem found.
 */
export function receivedAsBinary(event: CloudEventV1): CloudEventV1 {
  const out = Object.create(null) as Record<string, unknown>
  for (const name in event) {
    const value = event[name]
    if (name === 'data' || name === 'datacontenttype' || value === undefined) continue
    out[name] = typeof value === 'string' ? value : JSON.stringify(value)
  }
  if (event.data !== undefined) out.datacontenttype = event.datacontenttype ?? 'application/json'
  const problems = validateAttributes(out)
  if (problems.length > 0) throw invalidEvent(problems)
  if (event.data !== undefined) out.data = event.data
  return out as CloudEventV1
}

// `ce-<name>` header names, made once per attribute name rather than concatenated per event (a fresh
// string must be looked up in V8's string table before it can be a property key). Bounded: extension
// names come from events, and a stream of distinct names must not grow the cache without limit.
const CE_HEADER_NAMES = new Map<string, string>()
function ceHeaderName(name: string): string {
  let header = CE_HEADER_NAMES.get(name)
  if (header === undefined) {
    header = `ce-${name}`
    if (CE_HEADER_NAMES.size < 256) CE_HEADER_NAMES.set(name, header)
  }
  return header
}

/**
 * The parts of a binary-mode HTTP message (HTTP binding §3.1): `ce-` headers and the body, which stays
 * the JSON text when the data is JSON — a server writes a string body together with its header block in
 * one write, and skips a Buffer copy.
 */
export function binaryParts(event: CloudEventV1): { headers: Record<string, string>; body: string | Buffer } {
  const headers: Record<string, string> = {}
  for (const name in event) {
    const value = event[name]
    if (name === 'data' || name === 'data_base64' || name === 'datacontenttype' || value === undefined) continue
    headers[ceHeaderName(name)] = encodeHeaderValue(typeof value === 'string' ? value : JSON.stringify(value))
  }
  const data = event.data
  if (data === undefined) return { headers, body: '' }
  headers['content-type'] = event.datacontenttype ?? 'application/json'
  if (Buffer.isBuffer(data)) return { headers, body: data }
  if (typeof data === 'string' && event.datacontenttype !== undefined && !isJsonMediaType(event.datacontenttype)) return { headers, body: data }
  return { headers, body: JSON.stringify(data) }
}

/** Serializes an event for a binary-mode HTTP message (what Knative expects in a reply). */
export function toBinary(event: CloudEventV1): { headers: Record<string, string>; body: Buffer } {
  const { headers, body } = binaryParts(event)
  return { headers, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body }
}

/** Serializes an event in the JSON event format (structured mode, NDJSON files). */
export function toStructured(event: CloudEventV1): string {
  if (Buffer.isBuffer(event.data)) {
    const { data, ...rest } = event
    return JSON.stringify({ ...rest, data_base64: data.toString('base64') })
  }
  return JSON.stringify(event)
}

/**
 * Whether a parsed JSON value nests objects/arrays deeper than `max` levels. Iterative, so it cannot
 * overflow the stack itself: JSON.parse accepts any depth, but JSON.stringify, jsonb and most consumers
 * recurse, so a store must refuse such data up front (a 400, not a 500 the broker would retry forever).
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return false
  const stack: [object, number][] = [[value, 1]]
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [node, depth] = item
    if (depth > max) return true
    for (const child of Array.isArray(node) ? (node as unknown[]) : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child as object, depth + 1])
    }
  }
  return false
}
