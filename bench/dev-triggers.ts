// `--dev-persist-skip TYPE,…`: dev's Triggers with persist's filter narrowed, to measure what a design that
// stores fewer replies would buy (docs/BENCHMARKS.md, "Still missed"). The repository's triggers/ stay as
// they are; the harness writes a copy into its scratch directory and runs dev with `--triggers` on it.
// persist's Trigger keeps its own filters and gains `not: {exact: {type}}` for each skipped type, under one
// `all`, so everything else it received before it still receives.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'

/** The Service persist runs as; its Trigger is the one that subscribes it at the event path. */
const PERSIST_SERVICE = 'kube-reflex-persist'

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function subscribesPersist(spec: Record<string, unknown>): boolean {
  const subscriber = spec.subscriber
  if (!isRecord(subscriber) || !isRecord(subscriber.ref)) return false
  return subscriber.ref.name === PERSIST_SERVICE && (subscriber.uri === undefined || subscriber.uri === '/' || subscriber.uri === '')
}

/**
 * Copies every Trigger file of `from` into `to`, persist's Trigger with its filter narrowed to leave out
 * `types`. Returns `to`. Throws when `types` is empty, when a type is not one persist receives from
 * kube-reflex (`dev.kubereflex.…`), when no Trigger subscribes persist, or when persist's Trigger uses the
 * older `filter.attributes` form: a `filters` list beside it would make Knative ignore it, and its matching
 * (an empty value means "present") has no `exact` equivalent to carry it over faithfully.
 */
export function persistTriggersWithout(types: readonly string[], from: string, to: string): string {
  if (types.length === 0) throw new Error('--dev-persist-skip needs at least one CloudEvents type')
  for (const t of types) if (!t.startsWith('dev.kubereflex.')) throw new Error(`--dev-persist-skip: ${t} is not a type persist receives (dev.kubereflex.…)`)
  mkdirSync(to, { recursive: true })
  let narrowed = 0
  for (const file of readdirSync(from).filter((f) => /\.ya?ml$/.test(f))) {
    const docs = parseAllDocuments(readFileSync(join(from, file), 'utf8')).map((d) => d.toJSON() as unknown)
    for (const doc of docs) {
      if (!isRecord(doc) || doc.kind !== 'Trigger' || !isRecord(doc.spec) || !subscribesPersist(doc.spec)) continue
      if (doc.spec.filter !== undefined && doc.spec.filter !== null) {
        throw new Error(`--dev-persist-skip: persist's Trigger in ${file} uses \`filter\`; only a \`filters\` list can be narrowed`)
      }
      const own: unknown[] = Array.isArray(doc.spec.filters) ? doc.spec.filters : []
      doc.spec.filters = [{ all: [...own, ...types.map((type) => ({ not: { exact: { type } } }))] }]
      narrowed++
    }
    writeFileSync(join(to, file), docs.map((d) => stringify(d)).join('---\n'))
  }
  if (narrowed === 0) throw new Error(`--dev-persist-skip: no Trigger in ${from} subscribes ${PERSIST_SERVICE}`)
  return to
}
