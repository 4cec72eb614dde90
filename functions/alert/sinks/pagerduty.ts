// PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
// `trigger` opens or updates the incident whose `dedup_key` is the alert group's key, `resolve` closes it.
// The key is the problem's fingerprint, and `<fingerprint>#escalation` for an escalation: the escalation is
// its own group, resolved when escalations stop, and that resolve must not close the incident of a problem
// that is still firing (nor may the escalation's trigger be deduplicated into that incident unseen).
// PagerDuty answers 202 on success, 400 for an invalid event, 429 when throttled.
import type { AlertMessage, OutboundMessage } from '../message.js'
import { groupKey } from '../subject.js'
import { digestTitle } from './format.js'
import type { Sink, Transport } from './types.js'

const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

function alertEvent(routingKey: string, m: AlertMessage): Record<string, unknown> {
  const s = m.subject
  if (m.kind === 'resolved') return { routing_key: routingKey, event_action: 'resolve', dedup_key: groupKey(s) }
  const links = [
    ...(m.links.problem === null ? [] : [{ href: m.links.problem, text: 'kube-reflex problem' }]),
    ...(m.links.runbook === null || !/^https?:\/\//i.test(m.links.runbook) ? [] : [{ href: m.links.runbook, text: 'Runbook' }]),
  ]
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: groupKey(s),
    payload: {
      summary: cut(m.title, 1024), // the Events API rejects summaries over 1024 characters
      source: `${s.cluster ?? 'cluster'}/${s.namespace ?? '_cluster'}/${s.workload}`,
      severity: s.severity, // Events API severities: critical, error, warning, info
      timestamp: s.lastTime ?? m.createdAt,
      component: s.workload,
      group: s.namespace ?? '_cluster',
      class: s.category,
      custom_details: { reason: s.reason, message: s.message, count: s.count, occurrences: m.occurrences, first_seen: s.firstTime, last_seen: s.lastTime, kind: s.kind, route: m.route },
    },
    ...(links.length > 0 ? { links } : {}),
    client: 'kube-reflex',
  }
}

export function pagerdutyEvents(routingKey: string, m: OutboundMessage): Record<string, unknown>[] {
  if (m.kind !== 'digest') return [alertEvent(routingKey, m)]
  // A digest is one incident of its own: folding into the items' incidents would need one call each,
  // which is what the rate limit is there to avoid.
  return [
    {
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key: `kube-reflex-digest-${m.id}`,
      payload: {
        summary: cut(`${digestTitle(m.items.length)}: ${m.items.map((i) => i.title).join('; ')}`, 1024),
        source: 'kube-reflex',
        severity: m.items.some((i) => i.subject.severity === 'critical') ? 'critical' : 'warning',
        timestamp: m.createdAt,
        custom_details: { alerts: m.items.map((i) => ({ title: i.title, fingerprint: i.subject.fingerprint })) },
      },
      client: 'kube-reflex',
    },
  ]
}

export function pagerdutySink(name: string, url: URL, routingKey: string, rate: Sink['rate'], post: Transport): Sink {
  return {
    name,
    type: 'pagerduty',
    rate,
    async deliver(m, signal) {
      const [event] = pagerdutyEvents(routingKey, m)
      return post(url, JSON.stringify(event), {}, signal)
    },
  }
}
