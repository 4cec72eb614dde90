// Broker and Trigger manifests as the local broker reads them: the same YAML files that go to the cluster
// (knative/ and triggers/), parsed and checked the way the Knative webhooks would, before anything runs.
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { validateTriggerFilters } from './filters.js'
import { validateDelivery, type DeliverySpec, type Destination } from './delivery.js'

export interface BrokerManifest {
  readonly name: string
  readonly namespace: string
  readonly delivery: DeliverySpec | undefined
  readonly file: string
}

export interface TriggerManifest {
  readonly name: string
  readonly namespace: string
  readonly broker: string
  /** The Trigger `spec` as written (filter/filters are compiled from it). */
  readonly spec: Readonly<Record<string, unknown>>
  readonly subscriber: Destination
  readonly delivery: DeliverySpec | undefined
  readonly file: string
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError'
  constructor(readonly problems: readonly string[]) {
    super(`invalid manifests:\n  - ${problems.join('\n  - ')}`)
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

async function readDocuments(file: string, problems: string[]): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8')
  const docs: Record<string, unknown>[] = []
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      problems.push(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`)
      continue
    }
    const value: unknown = doc.toJS()
    if (value === null || value === undefined) continue
    if (isRecord(value)) docs.push(value)
    else problems.push(`${file}: a document is not a YAML object`)
  }
  return docs
}

function destination(v: unknown, where: string, problems: string[]): Destination | undefined {
  if (v === undefined) return undefined
  if (!isRecord(v)) {
    problems.push(`${where}: must be an object with ref and/or uri`)
    return undefined
  }
  const out: { ref?: NonNullable<Destination['ref']>; uri?: string } = {}
  if (v.ref !== undefined) {
    if (!isRecord(v.ref) || typeof v.ref.name !== 'string' || v.ref.name === '') problems.push(`${where}.ref: must name the addressable (ref.name)`)
    else {
      const r = v.ref
      out.ref = {
        name: r.name as string,
        ...(typeof r.kind === 'string' ? { kind: r.kind } : {}),
        ...(typeof r.apiVersion === 'string' ? { apiVersion: r.apiVersion } : {}),
        ...(typeof r.namespace === 'string' ? { namespace: r.namespace } : {}),
      }
    }
  }
  if (v.uri !== undefined) {
    if (typeof v.uri !== 'string' || v.uri === '') problems.push(`${where}.uri: must be a non-empty string`)
    else out.uri = v.uri
  }
  if (out.ref === undefined && out.uri === undefined) problems.push(`${where}: expected ref or uri`)
  // duckv1.Destination.Validate: without a ref, the URI must be absolute.
  if (out.ref === undefined && out.uri !== undefined && !/^https?:\/\//.test(out.uri)) problems.push(`${where}.uri: must be absolute when there is no ref`)
  return out
}

function delivery(v: unknown, where: string, problems: string[]): DeliverySpec | undefined {
  if (v === undefined || v === null) return undefined
  const found = validateDelivery(v, where)
  problems.push(...found)
  if (found.length > 0 || !isRecord(v)) return undefined
  const dls = destination(v.deadLetterSink, `${where}.deadLetterSink`, problems)
  const spec: Record<string, unknown> = {}
  for (const k of ['retry', 'backoffPolicy', 'backoffDelay', 'timeout', 'retryAfterMax'] as const) if (v[k] !== undefined) spec[k] = v[k]
  if (dls !== undefined) spec.deadLetterSink = dls
  return spec
}

function metadata(doc: Record<string, unknown>): { name: string; namespace: string } | undefined {
  const md = doc.metadata
  if (!isRecord(md) || typeof md.name !== 'string') return undefined
  return { name: md.name, namespace: typeof md.namespace === 'string' ? md.namespace : 'default' }
}

/** Reads the Broker named `name` (or the only one) from a manifest file. */
export async function loadBroker(file: string, name?: string): Promise<BrokerManifest> {
  const problems: string[] = []
  const brokers = (await readDocuments(file, problems)).filter((d) => d.kind === 'Broker' && String(d.apiVersion).startsWith('eventing.knative.dev/'))
  const chosen = brokers.find((b) => name === undefined || metadata(b)?.name === name)
  if (chosen === undefined) throw new ManifestError([...problems, `${file}: no Broker${name === undefined ? '' : ` named '${name}'`}`])
  const md = metadata(chosen)
  if (md === undefined) throw new ManifestError([`${file}: Broker without metadata.name`])
  const spec = isRecord(chosen.spec) ? chosen.spec : {}
  const d = delivery(spec.delivery, `${file}: Broker ${md.name} spec.delivery`, problems)
  if (problems.length > 0) throw new ManifestError(problems)
  return { ...md, delivery: d, file }
}

/** Reads every Trigger from `dir/*.yaml|yml` (sorted, so the order is stable), validated like the webhook. */
export async function loadTriggers(dir: string): Promise<TriggerManifest[]> {
  const problems: string[] = []
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort()
  const triggers: TriggerManifest[] = []
  for (const f of files) {
    const file = path.join(dir, f)
    for (const doc of await readDocuments(file, problems)) {
      if (doc.kind !== 'Trigger') continue
      const md = metadata(doc)
      if (md === undefined) {
        problems.push(`${file}: Trigger without metadata.name`)
        continue
      }
      const where = `${file}: Trigger ${md.name}`
      const spec = isRecord(doc.spec) ? doc.spec : {}
      if (typeof spec.broker !== 'string' || spec.broker === '') problems.push(`${where}: spec.broker is required`)
      problems.push(...validateTriggerFilters(spec).map((p) => `${where}: ${p}`))
      const subscriber = destination(spec.subscriber, `${where}: spec.subscriber`, problems)
      if (spec.subscriber === undefined) problems.push(`${where}: spec.subscriber is required`)
      const d = delivery(spec.delivery, `${where}: spec.delivery`, problems)
      if (triggers.some((t) => t.name === md.name && t.namespace === md.namespace)) problems.push(`${where}: duplicate Trigger name`)
      if (subscriber !== undefined && typeof spec.broker === 'string') {
        triggers.push({ ...md, broker: spec.broker, spec, subscriber, delivery: d, file })
      }
    }
  }
  if (problems.length > 0) throw new ManifestError(problems)
  return triggers
}
