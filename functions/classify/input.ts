// What classify accepts (DESIGN.md "Inputs"), mapped onto occurrences. A type it does not handle is
// acknowledged without a reply; data that does not fit the type is a 400 (not retried, dead-lettered).
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { INPUT_TYPES } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'
import { fromCoreEvent, fromDeployment, fromEventsV1, fromLegacy, fromPod, isObject, shapeOf, str, type Occurrence } from './signals.js'

export type InputKind =
  | { readonly kind: 'resource'; readonly object: Record<string, unknown>; readonly deleted: boolean }
  | { readonly kind: 'reference'; readonly ref: { apiVersion: string; kind: string; namespace: string | null; name: string }; readonly deleted: boolean }
  | { readonly kind: 'record'; readonly value: unknown }
  | { readonly kind: 'sweep' }
  | { readonly kind: 'ignored' }

function invalid(message: string): ReflexError {
  return new ReflexError('EVENT_DATA_INVALID', message)
}

/** Kafka record values arrive as bytes or text; the expected payloads are JSON. */
function decodeRecordValue(data: unknown): unknown {
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) data = Buffer.from(data).toString('utf8')
  if (typeof data === 'string') {
    try {
      return JSON.parse(data) as unknown
    } catch {
      throw invalid('Kafka record value is not JSON')
    }
  }
  return data
}

export function inputKind(event: CloudEventV1): InputKind {
  switch (event.type) {
    case INPUT_TYPES.resourceAdd:
    case INPUT_TYPES.resourceUpdate:
    case INPUT_TYPES.resourceDelete: {
      const data = decodeRecordValue(event.data)
      if (!isObject(data) || !isObject(data.metadata) || typeof data.kind !== 'string') {
        throw invalid('ApiServerSource resource event: data must be a Kubernetes object with kind and metadata')
      }
      return { kind: 'resource', object: data, deleted: event.type === INPUT_TYPES.resourceDelete }
    }
    case INPUT_TYPES.refAdd:
    case INPUT_TYPES.refUpdate:
    case INPUT_TYPES.refDelete: {
      const data = decodeRecordValue(event.data)
      const kind = isObject(data) ? str(data.kind) : null
      const name = isObject(data) ? str(data.name) : null
      const apiVersion = isObject(data) ? str(data.apiVersion) : null
      if (!isObject(data) || kind === null || name === null || apiVersion === null) {
        throw invalid('ApiServerSource reference event: data must have kind, name and apiVersion')
      }
      return { kind: 'reference', ref: { apiVersion, kind, name, namespace: str(data.namespace) }, deleted: event.type === INPUT_TYPES.refDelete }
    }
    case INPUT_TYPES.kafka:
      return { kind: 'record', value: decodeRecordValue(event.data) }
    case INPUT_TYPES.ping:
      return { kind: 'sweep' }
    default:
      return { kind: 'ignored' }
  }
}

/**
 * A Kubernetes object or event payload → the occurrence to classify, or null when it shows nothing to
 * report (a healthy Pod, a kind we do not classify). Throws 400 when the value is no Kubernetes shape.
 */
export function occurrenceOf(value: unknown, now: number, strict: boolean): Occurrence | null {
  const shape = shapeOf(value)
  if (!isObject(value)) throw invalid('data is not a JSON object')
  let occurrence: Occurrence | null
  switch (shape) {
    case 'core-event':
      occurrence = fromCoreEvent(value)
      break
    case 'events-v1':
      occurrence = fromEventsV1(value)
      break
    case 'legacy':
      occurrence = fromLegacy(value)
      break
    case 'pod':
      return fromPod(value, now)
    case 'deployment':
      return fromDeployment(value)
    case 'other-object':
      return null // ApiServerSource may watch more kinds than we classify: acknowledge them
    case 'unknown':
      if (strict) throw invalid('data is not a Kubernetes Event, Pod or Deployment')
      return null
  }
  if (occurrence === null) throw invalid(`${shape} without the fields an event needs (involved object kind/name, reason)`)
  return occurrence
}
