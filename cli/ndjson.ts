// NDJSON input for the CLI (replay files, recordings): a line is a CloudEvent in the JSON event format,
// or a bare Kubernetes object, which is wrapped the way ApiServerSource would wrap it.
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { validateAttributes, type CloudEventV1 } from '../shared/cloudevent.js'
import { wrapAsApiServerSource } from '../shared/apiserver-source.js'

export type NdjsonItem =
  | { readonly line: number; readonly event: CloudEventV1 }
  | { readonly line: number; readonly error: string }

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** One line → an event or a precise error; never throws. */
export function parseLine(text: string, line: number): NdjsonItem | undefined {
  if (text.trim() === '') return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { line, error: `not valid JSON (${(err as Error).message})` }
  }
  if (!isRecord(value)) return { line, error: 'a line must be a JSON object' }
  if ('specversion' in value) {
    const event = Object.assign(Object.create(null) as Record<string, unknown>, value)
    if (typeof event.data_base64 === 'string') {
      event.data = Buffer.from(event.data_base64, 'base64')
      delete event.data_base64
    }
    const problems = validateAttributes(event)
    if (problems.length > 0) return { line, error: `invalid CloudEvent: ${problems.map((p) => `${p.attribute} ${p.problem}`).join('; ')}` }
    return { line, event: event as CloudEventV1 }
  }
  if (typeof value.kind === 'string' && isRecord(value.metadata)) return { line, event: wrapAsApiServerSource(value) }
  return { line, error: 'neither a CloudEvent (no specversion) nor a Kubernetes object (kind and metadata)' }
}

export async function* readNdjson(path: string): AsyncGenerator<NdjsonItem> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })
  let line = 0
  for await (const text of rl) {
    line++
    const item = parseLine(text, line)
    if (item !== undefined) yield item
  }
}
