// The query API's event filter applied in memory to a record, for sources that are not the store (replay
// of an NDJSON recording). Same semantics as store-read.ts's SQL: equality, lists, [since, until), q as a
// case-insensitive substring of the message, `type` exact or a `.*` prefix.
import type { EventFilter } from './query-params.js'
import type { EventRecord } from './record.js'

export function matchesFilter(r: EventRecord, f: EventFilter): boolean {
  if (f.namespace !== undefined && r.namespace !== f.namespace) return false
  if (f.severity !== undefined && (r.severity === null || !f.severity.includes(r.severity))) return false
  if (f.category !== undefined && (r.category === null || !f.category.includes(r.category))) return false
  if (f.reason !== undefined && r.reason !== f.reason) return false
  if (f.kind !== undefined && r.kind !== f.kind) return false
  if (f.name !== undefined && r.name !== f.name) return false
  if (f.fingerprint !== undefined && r.fingerprint !== f.fingerprint) return false
  if (f.type !== undefined && !(f.type.endsWith('.*') ? r.type.startsWith(f.type.slice(0, -1)) : r.type === f.type)) return false
  if (f.since !== undefined && r.occurredAt < f.since) return false
  if (f.until !== undefined && r.occurredAt >= f.until) return false
  if (f.q !== undefined && !(r.message ?? '').toLowerCase().includes(f.q.toLowerCase())) return false
  return true
}
