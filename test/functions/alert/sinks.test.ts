// Sink payloads: Block Kit limits, Adaptive Card shape, PagerDuty fields, Standard Webhooks signature.
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { buildMessage, render } from '../../../functions/alert/message.js'
import { pagerdutyEvents, signedRequest, slackPayload, teamsPayload, webhookBody } from '../../../functions/alert/sinks/index.js'
import { consoleSink } from '../../../functions/alert/sinks/console.js'
import type { Route } from '../../../functions/alert/routing.js'
import { subjectOf, type AlertSubject } from '../../../functions/alert/subject.js'
import { createLogger } from '../../../shared/logger.js'
import { classifiedEvent, escalationEvent, WEBHOOK_SECRET } from './fixtures.js'

const route: Route = {
  name: 'default',
  match: { severity: null, category: null, kind: null, namespaceInclude: null, namespaceExclude: [] },
  sinks: ['x'],
  groupWindowMs: 600_000,
  repeatIntervalMs: 1_800_000,
  sendResolved: true,
  template: {},
  continue: false,
}

function subject(ev = classifiedEvent()): AlertSubject {
  const s = subjectOf(ev)
  if (s === undefined || s === 'not-alertable') throw new Error('fixture must be alertable')
  return s
}

const msg = (kind: 'firing' | 'repeat' | 'resolved', s = subject()): ReturnType<typeof buildMessage> =>
  buildMessage({ id: 'n-1', kind, route, subject: s, occurrences: 42, since: kind === 'repeat' ? { occurrences: 41, minutes: 30 } : null, groupStartedAt: '2026-11-28T04:00:00.000Z', quietMinutes: kind === 'resolved' ? 11 : null, dashboard: new URL('https://kube-reflex.example.com/'), now: Date.parse('2026-11-28T04:30:00Z') })

void t.test('templates and messages', (t) => {
  t.equal(render('{{ reason }}/{{unknown}}/{{count}}', { reason: 'BackOff', count: 3 }), 'BackOff//3')
  t.equal(msg('firing').title, '[critical] BackOff: shop/Deployment/checkout')
  t.equal(msg('repeat').title, '[critical] still failing: BackOff on shop/Deployment/checkout, 41 times in 30 min')
  t.match(msg('resolved').text, /No new occurrence for 11 min \(42 occurrences/)
  t.equal(msg('firing').links.problem, 'https://kube-reflex.example.com/?fingerprint=fp-shop-deployment-checkout-crashloop')
  const long = subject(classifiedEvent({ message: 'x'.repeat(10_000) }))
  t.ok(msg('firing', long).text.length <= 3000)
  t.end()
})

void t.test('Slack Block Kit', (t) => {
  const p = slackPayload(msg('firing'))
  t.match(p.text, /BackOff/)
  const [header, section, actions, context] = p.blocks as Record<string, unknown>[]
  t.equal(header?.type, 'header')
  t.ok(String((header?.text as { text: string }).text).length <= 150)
  t.equal(section?.type, 'section')
  t.ok((section?.fields as unknown[]).length <= 10)
  t.match(JSON.stringify(section?.fields), /Namespace\*\\nshop/)
  t.same((actions?.elements as { url: string }[]).map((e) => e.url), ['https://kube-reflex.example.com/?fingerprint=fp-shop-deployment-checkout-crashloop', 'https://runbooks.example.com/crashloop'])
  t.equal(context?.type, 'context')
  const unsafe = slackPayload(msg('firing', subject(classifiedEvent({ message: '<!channel> & <https://evil|x>', runbook: 'javascript:alert(1)' }))))
  t.match(JSON.stringify(unsafe.blocks), /&lt;!channel&gt; &amp;/, 'mrkdwn control characters escaped')
  t.notMatch(JSON.stringify(unsafe.blocks), /javascript:/, 'only http(s) links')
  const digest = slackPayload({ id: 'd', kind: 'digest', items: [msg('firing'), msg('repeat')], createdAt: '2026-11-28T04:30:00Z' })
  t.match(digest.text, /^2 more alerts/)
  t.end()
})

void t.test('Teams Adaptive Card', (t) => {
  const p = teamsPayload(msg('firing')) as { type: string; attachments: { contentType: string; content: { type: string; version: string; body: { type: string }[]; actions: { type: string }[] } }[] }
  t.equal(p.type, 'message')
  t.equal(p.attachments[0]?.contentType, 'application/vnd.microsoft.card.adaptive')
  t.equal(p.attachments[0]?.content.type, 'AdaptiveCard')
  t.ok(p.attachments[0]?.content.body.some((b) => b.type === 'FactSet'))
  t.same(p.attachments[0]?.content.actions.map((a) => a.type), ['Action.OpenUrl', 'Action.OpenUrl'])
  t.end()
})

void t.test('PagerDuty events', (t) => {
  const [trigger] = pagerdutyEvents('KEY', msg('firing'))
  t.match(trigger, { routing_key: 'KEY', event_action: 'trigger', dedup_key: 'fp-shop-deployment-checkout-crashloop', payload: { severity: 'critical', source: 'prod-eu-1/shop/Deployment/checkout', class: 'crashloop' } })
  t.same(pagerdutyEvents('KEY', msg('resolved')), [{ routing_key: 'KEY', event_action: 'resolve', dedup_key: 'fp-shop-deployment-checkout-crashloop' }])
  const esc = subject(escalationEvent())
  t.equal(esc.kind, 'escalation')
  t.equal(esc.workload, 'Deployment/checkout')
  t.equal(esc.namespace, 'shop')
  t.match(pagerdutyEvents('KEY', msg('firing', esc)), [{ event_action: 'trigger', dedup_key: 'fp-shop-deployment-checkout-crashloop#escalation' }], 'an escalation is an incident of its own')
  t.same(pagerdutyEvents('KEY', msg('resolved', esc)), [{ routing_key: 'KEY', event_action: 'resolve', dedup_key: 'fp-shop-deployment-checkout-crashloop#escalation' }])
  const [digest] = pagerdutyEvents('KEY', { id: 'd1', kind: 'digest', items: [msg('firing')], createdAt: '2026-11-28T04:30:00Z' }) as { dedup_key: string; payload: { summary: string } }[]
  t.equal(digest?.dedup_key, 'kube-reflex-digest-d1')
  t.ok((digest?.payload.summary.length ?? 0) <= 1024)
  t.end()
})

void t.test('webhook: Standard Webhooks signature verifies with the official library; tampering fails', (t) => {
  const now = new Date()
  const m = msg('firing')
  const { body, headers } = signedRequest(WEBHOOK_SECRET, m, now)
  t.same(new Webhook(WEBHOOK_SECRET).verify(body, headers), webhookBody(m))
  t.equal(headers['webhook-id'], 'n-1')
  t.throws(() => new Webhook(WEBHOOK_SECRET).verify(body.replace('BackOff', 'Started'), headers))
  t.throws(() => new Webhook('whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD').verify(body, headers))
  t.end()
})

void t.test('console sink writes one ALERT line per notification', async (t) => {
  const lines: string[] = []
  const log = createLogger({ level: 'info', name: 'alert', destination: { write: (s: string) => void lines.push(s) } })
  const r = await consoleSink('console', log).deliver(msg('firing'))
  t.equal(r.kind, 'delivered')
  const line = JSON.parse(lines[0] ?? '{}') as { msg: string; level: number; alert: { fingerprint: string } }
  t.match(line.msg, /^ALERT \[critical\] BackOff: shop\/Deployment\/checkout/)
  t.equal(line.alert.fingerprint, 'fp-shop-deployment-checkout-crashloop')
})
