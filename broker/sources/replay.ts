// `--replay FILE`: NDJSON where a line is a CloudEvent in the JSON event format or a bare Kubernetes
// object, which is wrapped as ApiServerSource (Resource mode) would send it: `add` the first time an
// object (kind/namespace/name) appears in the file, `update` after that. The source's cursor (line
// number) is stored with each accepted event, so a restarted run resumes after the last durable line.
import { createReadStream } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Logger } from 'pino'
import { validateAttributes, type CloudEventV1 } from '../../shared/cloudevent.js'
import { apiServerResourceEvent, isKubeObject } from './apiserver-event.js'
import type { EventSource, Ingress, SourceStats } from './source.js'

export interface ReplayOptions {
  readonly file: string
  /** Events per second (undefined = as fast as the broker takes them). */
  readonly rate?: number | undefined
  /** `source` of wrapped Kubernetes objects: the API server URL ApiServerSource would report. */
  readonly apiServerUrl?: string
  readonly log: Logger
  /** Injectable pacing for tests. */
  readonly sleep?: (ms: number) => Promise<void>
  readonly now?: () => number
  /** Outstanding accepts (group commit works across them); default 2048. */
  readonly window?: number
}

export const DEFAULT_API_SERVER_URL = 'https://kubernetes.default.svc'

/** One NDJSON line → a CloudEvent, or a reason why not. `seen` tracks objects for add vs update. */
export type ReplayLine = { readonly event: CloudEventV1 } | { readonly error: string }

export function replayLineToEvent(line: string, seen: Set<string>, apiServerUrl: string): ReplayLine {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return { error: 'not valid JSON' }
  }
  if (isKubeObject(value)) {
    const md = value.metadata as Record<string, unknown>
    const key = `${String(value.kind)}/${typeof md.namespace === 'string' ? md.namespace : ''}/${typeof md.name === 'string' ? md.name : ''}`
    const verb = seen.has(key) ? 'update' : 'add'
    seen.add(key)
    return { event: apiServerResourceEvent(verb, value, apiServerUrl) }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'neither a CloudEvent nor a Kubernetes object' }
  const event = Object.assign(Object.create(null) as Record<string, unknown>, value)
  const problems = validateAttributes(event)
  if (problems.length > 0) return { error: `invalid CloudEvent: ${problems.map((p) => `${p.attribute} ${p.problem}`).join('; ')}` }
  if (typeof event.data_base64 === 'string') {
    event.data = Buffer.from(event.data_base64, 'base64')
    delete event.data_base64
  }
  return { event: { ...event } as CloudEventV1 }
}

export function replaySource(options: ReplayOptions): EventSource {
  const file = path.resolve(options.file)
  const key = `replay:${file}`
  const stats: SourceStats = { accepted: 0, rejected: 0 }
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const now = options.now ?? (() => performance.now())
  const windowSize = options.window ?? 2048
  return {
    name: `replay ${options.file}`,
    stats,
    async run(ingress: Ingress, signal: AbortSignal) {
      const resumeAfter = ingress.cursors.get(key) ?? 0
      // Tell the user why a second run of the same file sends nothing new: the durable queue remembers.
      if (resumeAfter > 0) options.log.warn({ file: options.file, line: resumeAfter }, `replay resumes after line ${resumeAfter}, already accepted by an earlier run in this data directory (use another --data-dir, or remove it, to replay from the start)`)
      const seen = new Set<string>()
      const outstanding = new Set<Promise<void>>()
      const started = now()
      let sent = 0
      let lineNo = 0
      const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })
      try {
        for await (const raw of lines) {
          lineNo++
          if (signal.aborted) break
          const line = raw.trim()
          if (line === '' || line.startsWith('#')) continue
          const parsed = replayLineToEvent(line, seen, options.apiServerUrl ?? DEFAULT_API_SERVER_URL)
          if (lineNo <= resumeAfter) continue // accepted by a previous run (still parsed: add vs update)
          if ('error' in parsed) {
            stats.rejected++
            options.log.warn({ file: options.file, line: lineNo, reason: parsed.error }, 'replay line skipped')
            continue
          }
          const event = parsed.event
          if (options.rate !== undefined) {
            const due = started + (sent * 1000) / options.rate
            const wait = due - now()
            if (wait > 0) await sleep(wait)
          }
          sent++
          await ingress.ready()
          while (outstanding.size >= windowSize) await Promise.race(outstanding)
          const line0 = lineNo
          const p: Promise<void> = ingress.accept(event, { source: key, position: lineNo }).then(
            () => {
              stats.accepted++
            },
            (err: unknown) => {
              stats.rejected++
              options.log.warn({ file: options.file, line: line0, err: err instanceof Error ? err.message : String(err) }, 'replay event refused by the broker')
            },
          )
          const tracked = p.finally(() => outstanding.delete(tracked))
          outstanding.add(tracked)
        }
      } finally {
        lines.close()
        await Promise.all(outstanding)
      }
    },
  }
}
