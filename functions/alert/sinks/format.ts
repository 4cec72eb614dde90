// Small helpers the chat sinks share for facts and links.
import type { AlertMessage, OutboundMessage } from '../message.js'

export interface Fact {
  readonly label: string
  readonly value: string
}

export function facts(m: AlertMessage): Fact[] {
  const s = m.subject
  const out: Fact[] = [
    { label: 'Severity', value: s.severity },
    { label: 'Namespace', value: s.namespace ?? '(cluster)' },
    { label: 'Workload', value: s.workload },
    { label: 'Reason', value: s.reason },
    { label: 'Count', value: m.since === null ? String(m.occurrences) : `${m.since.occurrences} in ${m.since.minutes} min (${m.occurrences} total)` },
    { label: 'First seen', value: s.firstTime ?? m.groupStartedAt },
    { label: 'Last seen', value: s.lastTime ?? m.createdAt },
  ]
  if (s.cluster !== null) out.push({ label: 'Cluster', value: s.cluster })
  return out
}

export interface Link {
  readonly text: string
  readonly url: string
}

/** Only http(s) links reach a message: a rule's runbook is user data. */
export function links(m: AlertMessage): Link[] {
  const out: Link[] = []
  const ok = (u: string | null): u is string => u !== null && /^https?:\/\//i.test(u)
  if (ok(m.links.problem)) out.push({ text: 'Open problem', url: m.links.problem })
  if (ok(m.links.runbook)) out.push({ text: 'Runbook', url: m.links.runbook })
  return out
}

export function digestTitle(n: number): string {
  return `${n} more alert${n === 1 ? '' : 's'} (rate limit reached, folded into one message)`
}

export function plainSummary(m: OutboundMessage): string {
  if (m.kind === 'digest') return `${digestTitle(m.items.length)}: ${m.items.map((i) => i.title).join('; ')}`
  return m.text === '' ? m.title : `${m.title} — ${m.text}`
}
