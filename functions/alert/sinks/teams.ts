// Microsoft Teams webhooks (Workflows "post to a channel when a webhook request is received", and the
// older Office 365 connectors): a message with one Adaptive Card attachment
// (https://learn.microsoft.com/en-us/microsoftteams/platform/task-modules-and-cards/cards/cards-reference#adaptive-card).
import type { AlertMessage, OutboundMessage } from '../message.js'
import { digestTitle, facts, links } from './format.js'
import type { Sink, Transport } from './types.js'

type Element = Record<string, unknown>

function card(body: Element[], actions: Element[]): Record<string, unknown> {
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body, ...(actions.length > 0 ? { actions } : {}) },
      },
    ],
  }
}

function alertCard(m: AlertMessage): Record<string, unknown> {
  const color = m.kind === 'resolved' ? 'Good' : m.subject.severity === 'critical' ? 'Attention' : 'Warning'
  const body: Element[] = [{ type: 'TextBlock', text: m.title, weight: 'Bolder', size: 'Medium', color, wrap: true }]
  if (m.text !== '') body.push({ type: 'TextBlock', text: m.text, wrap: true })
  body.push({ type: 'FactSet', facts: facts(m).map((f) => ({ title: f.label, value: f.value })) })
  return card(body, links(m).map((l) => ({ type: 'Action.OpenUrl', title: l.text, url: l.url })))
}

export function teamsPayload(m: OutboundMessage): Record<string, unknown> {
  if (m.kind !== 'digest') return alertCard(m)
  return card(
    [
      { type: 'TextBlock', text: digestTitle(m.items.length), weight: 'Bolder', wrap: true },
      ...m.items.slice(0, 40).map((i) => ({ type: 'TextBlock', text: `• ${i.title}`, wrap: true, spacing: 'None' })),
    ],
    [],
  )
}

export function teamsSink(name: string, url: URL, rate: Sink['rate'], post: Transport): Sink {
  return { name, type: 'teams', rate, deliver: (m, signal) => post(url, JSON.stringify(teamsPayload(m)), {}, signal) }
}
