// persist's own metrics (names listed in docs/PERSIST.md).
import { Counter, type Registry } from '../../shared/metrics.js'

export interface PersistMetrics {
  readonly stored: Counter<'type'>
  readonly duplicates: Counter
  readonly deadLettered: Counter<'code'>
  readonly archiveRefused: Counter
}

const byRegistry = new WeakMap<Registry, PersistMetrics>()

export function persistMetrics(registry: Registry): PersistMetrics {
  const existing = byRegistry.get(registry)
  if (existing !== undefined) return existing
  const m: PersistMetrics = {
    stored: new Counter({ name: 'persist_events_stored_total', help: 'Events newly stored (duplicates excluded), by type.', labelNames: ['type'], registers: [registry] }),
    duplicates: new Counter({ name: 'persist_duplicates_total', help: 'Redelivered events that were already stored.', registers: [registry] }),
    deadLettered: new Counter({
      name: 'dead_lettered_events_total',
      help: 'Events received on /dead-letter (the Broker deadLetterSink), by knativeerrorcode.',
      labelNames: ['code'],
      registers: [registry],
    }),
    archiveRefused: new Counter({
      name: 'persist_archive_refused_total',
      help: 'Outbox rows the Kafka broker refused for good (too large), set aside so that the archive goes on.',
      registers: [registry],
    }),
  }
  byRegistry.set(registry, m)
  return m
}
