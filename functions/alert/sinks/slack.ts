// Slack incoming webhooks with Block Kit (https://api.slack.com/messaging/webhooks,
// https://api.slack.com/reference/block-kit/blocks). Slack allows about one message per second per
// webhook with short bursts and answers 429 + Retry-After beyond that; revoked hooks answer 404/410/403.
import type { AlertMessage, OutboundMessage } from '../message.js'
import { digestTitle, facts, links } from './format.js'
import type { Sink, Transport } from './types.js'

type Block = Record<string, unknown>

const EMOJI: Record<string, string> = { critical: ':red_circle:', warning: ':large_orange_circle:' }

// Block Kit limits: header text 150 chars, section text 3000, at most 10 fields of 2000 chars each.
const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s)
// mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping).
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function alertBlocks(m: AlertMessage): Block[] {
  const icon = m.kind === 'resolved' ? ':large_green_circle:' : (EMOJI[m.subject.severity] ?? '')
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${icon} ${m.title}`.trim(), 150), emoji: true } },
    {
      type: 'section',
      ...(m.text === '' ? {} : { text: { type: 'mrkdwn', text: cut(esc(m.text), 3000) } }),
      fields: facts(m).slice(0, 10).map((f) => ({ type: 'mrkdwn', text: cut(`*${f.label}*\n${esc(f.value)}`, 2000) })),
    },
  ]
  const l = links(m)
  if (l.length > 0) blocks.push({ type: 'actions', elements: l.map((x, i) => ({ type: 'button', action_id: `link-${i}`, text: { type: 'plain_text', text: x.text }, url: x.url })) })
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: cut(`kube-reflex · route \`${esc(m.route)}\` · fingerprint \`${esc(m.subject.fingerprint)}\``, 3000) }] })
  return blocks
}

export function slackPayload(m: OutboundMessage): { text: string; blocks: Block[] } {
  if (m.kind !== 'digest') return { text: cut(m.title, 3000), blocks: alertBlocks(m) }
  const lines = m.items.slice(0, 40).map((i) => `• ${esc(i.title)}`)
  if (m.items.length > 40) lines.push(`… and ${m.items.length - 40} more`)
  return {
    text: digestTitle(m.items.length),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut(digestTitle(m.items.length), 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: cut(lines.join('\n'), 3000) } },
    ],
  }
}

export function slackSink(name: string, url: URL, rate: Sink['rate'], post: Transport): Sink {
  return { name, type: 'slack', rate, deliver: (m, signal) => post(url, JSON.stringify(slackPayload(m)), {}, signal) }
}
