// The console sink: alerts as log lines, the default when no sink is configured (`npm start`).
import type { Logger } from 'pino'
import type { OutboundMessage } from '../message.js'
import { plainSummary } from './format.js'
import type { Sink } from './types.js'

export function consoleSink(name: string, log: Logger): Sink {
  return {
    name,
    type: 'console',
    rate: null,
    deliver(m: OutboundMessage) {
      if (m.kind === 'digest') log.warn({ alert: { kind: 'digest', id: m.id, count: m.items.length } }, plainSummary(m))
      else {
        const s = m.subject
        const line = { kind: m.kind, id: m.id, severity: s.severity, namespace: s.namespace, workload: s.workload, reason: s.reason, fingerprint: s.fingerprint, occurrences: m.occurrences }
        if (m.kind === 'resolved') log.info({ alert: line }, `ALERT ${plainSummary(m)}`)
        else log.warn({ alert: line }, `ALERT ${plainSummary(m)}`)
      }
      return Promise.resolve({ kind: 'delivered', status: 200, body: '' })
    },
  }
}
