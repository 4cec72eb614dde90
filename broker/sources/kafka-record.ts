// KafkaSource's record → CloudEvent mapping (knative eventing-kafka-broker's source dispatcher): a
// record that already is a CloudEvent (Kafka protocol binding: binary `ce_*` headers, or structured
// with content-type application/cloudevents+json) passes through unchanged; any other record becomes
// `dev.knative.kafka.event` with a partition/offset id and subject, the record time, the key as the
// `key` and `partitionkey` extensions, every header as a `kafkaheader<name>` extension, and the raw
// value as data.
import { isUtf8 } from 'node:buffer'
import { nestsDeeperThan, validateAttributes, invalidEvent, type CloudEventV1 } from '../../shared/cloudevent.js'

export interface KafkaRecordLike {
  readonly topic: string
  readonly partition: number
  readonly offset: string
  readonly timestamp: string
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers: Readonly<Record<string, Buffer | string | (Buffer | string)[] | undefined>>
}

export interface KafkaSourceIdentity {
  readonly namespace: string
  readonly name: string
}

function headerText(v: Buffer | string | (Buffer | string)[] | undefined): string | undefined {
  if (v === undefined) return undefined
  const one = Array.isArray(v) ? v[0] : v
  if (one === undefined) return undefined
  return typeof one === 'string' ? one : one.toString('utf8')
}

/** Extension names allow lowercase letters and digits only (CloudEvents 1.0 §3.1.1). */
function extensionName(prefix: string, name: string): string {
  return `${prefix}${name.toLowerCase().replace(/[^a-z0-9]/g, '')}`
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const base = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return base === 'application/json' || base.endsWith('+json') || base === 'text/json'
}

/** Maps one Kafka record; throws ReflexError(EVENT_INVALID) when a record claims to be a CloudEvent and is not. */
export function kafkaRecordToEvent(record: KafkaRecordLike, source: KafkaSourceIdentity): CloudEventV1 {
  const contentType = headerText(record.headers['content-type'])
  const value = record.value ?? Buffer.alloc(0)
  // Structured mode (Kafka binding §3.2).
  if (contentType !== undefined && contentType.toLowerCase().startsWith('application/cloudevents')) {
    if (!isUtf8(value)) throw invalidEvent([{ attribute: 'value', problem: 'structured CloudEvent is not valid UTF-8' }])
    let parsed: unknown
    try {
      parsed = JSON.parse(value.toString('utf8'))
    } catch {
      throw invalidEvent([{ attribute: 'value', problem: 'structured CloudEvent is not valid JSON' }])
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidEvent([{ attribute: 'value', problem: 'structured CloudEvent must be an object' }])
    const event = { ...(parsed as Record<string, unknown>) }
    const problems = validateAttributes(event)
    if (nestsDeeperThan(event.data, MAX_PARSED_DEPTH)) problems.push({ attribute: 'data', problem: `nests deeper than ${MAX_PARSED_DEPTH} levels` })
    if (problems.length > 0) throw invalidEvent(problems)
    if (typeof event.data_base64 === 'string') {
      event.data = Buffer.from(event.data_base64, 'base64')
      delete event.data_base64
    }
    return event as CloudEventV1
  }
  // Binary mode (Kafka binding §3.1): attributes in ce_ headers, content-type → datacontenttype.
  if (headerText(record.headers.ce_specversion) !== undefined) {
    const event = Object.create(null) as Record<string, unknown> // header names like ce___proto__ stay data
    for (const [name, v] of Object.entries(record.headers)) {
      if (!name.startsWith('ce_')) continue
      const text = headerText(v)
      if (text !== undefined) event[name.slice(3)] = text
    }
    if (contentType !== undefined) event.datacontenttype = contentType
    const problems = validateAttributes(event)
    if (problems.length > 0) throw invalidEvent(problems)
    if (value.length > 0) {
      if (isJson(contentType)) {
        try {
          event.data = jsonOrBytes(value)
        } catch {
          event.data = value
        }
      } else event.data = value
    }
    return event as CloudEventV1
  }
  const event: CloudEventV1 = {
    specversion: '1.0',
    id: `partition:${record.partition}/offset:${record.offset}`,
    source: `/apis/v1/namespaces/${source.namespace}/kafkasources/${source.name}#${record.topic}`,
    type: 'dev.knative.kafka.event',
    subject: `partition:${record.partition}#${record.offset}`,
  }
  const time = recordTime(record.timestamp)
  if (time !== undefined) event.time = time
  if (record.key !== null) {
    const key = record.key.toString('utf8')
    event.key = key
    event.partitionkey = key
  }
  for (const [name, v] of Object.entries(record.headers)) {
    const text = headerText(v)
    if (text !== undefined) event[extensionName('kafkaheader', name)] = text
  }
  if (contentType !== undefined) event.datacontenttype = contentType
  if (value.length > 0) {
    // The raw value; JSON values are kept as JSON so they travel as application/json.
    try {
      event.data = jsonOrBytes(value)
      event.datacontenttype ??= 'application/json'
    } catch {
      event.data = value
      event.datacontenttype ??= 'application/octet-stream'
    }
  }
  // Header values and keys are arbitrary bytes; a control character cannot travel in a CloudEvent attribute
  // (CloudEvents 1.0 §2.3). Refuse such a record with every problem named: the source reports it, never drops it silently.
  const problems = validateAttributes(event)
  if (problems.length > 0) throw invalidEvent(problems.map((p) => ({ attribute: p.attribute.startsWith('kafkaheader') ? `header ${p.attribute.slice('kafkaheader'.length)} (${p.attribute})` : p.attribute, problem: p.problem })))
  return event
}

// JSON nested deeper than this travels as the record's bytes (same content type): every later step
// (JSON.stringify on delivery, jsonb) recurses, and a parsed 50,000-level value would overflow the stack there.
const MAX_PARSED_DEPTH = 256

/** A JSON value parsed, or the bytes unchanged when it nests too deep to be handled as a value. Throws on non-JSON. */
function jsonOrBytes(value: Buffer): unknown {
  const parsed = JSON.parse(value.toString('utf8')) as unknown
  return nestsDeeperThan(parsed, MAX_PARSED_DEPTH) ? value : parsed
}

/**
 * A record's timestamp (int64 milliseconds as kafkajs's numeric string) as RFC 3339, or undefined when the
 * record has none: Kafka uses -1 for "no timestamp", and anything that is not a representable date is
 * treated the same way rather than failing the whole record.
 */
function recordTime(timestamp: string): string | undefined {
  if (!/^\d{1,16}$/.test(timestamp)) return undefined
  const ms = Number(timestamp)
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString()
}
