// The message a notification carries, rendered once when the decision is taken and stored with the
// notification, so a retry (or another replica taking over a crashed claim) sends the same words.
import type { Route, Template } from './routing.js'
import type { AlertSubject } from './subject.js'

export type AlertKind = 'firing' | 'repeat' | 'resolved'

export interface AlertMessage {
  /** Notification id: also the Standard Webhooks `webhook-id`, so receivers can drop repeats. */
  readonly id: string
  readonly kind: AlertKind
  readonly route: string
  readonly subject: AlertSubject
  readonly title: string
  readonly text: string
  /** Occurrences of this problem since its group started. */
  readonly occurrences: number
  /** For repeats: occurrences and minutes since the previous notification. */
  readonly since: { readonly occurrences: number; readonly minutes: number } | null
  readonly groupStartedAt: string
  readonly links: { readonly problem: string | null; readonly runbook: string | null }
  readonly createdAt: string
}

export interface DigestMessage {
  readonly id: string
  readonly kind: 'digest'
  readonly items: readonly AlertMessage[]
  readonly createdAt: string
}

export type OutboundMessage = AlertMessage | DigestMessage

const DEFAULT_TITLE: Record<AlertKind, string> = {
  firing: '[{{severity}}] {{reason}}: {{namespace}}/{{workload}}',
  repeat: '[{{severity}}] still failing: {{reason}} on {{namespace}}/{{workload}}, {{sinceOccurrences}} times in {{sinceMinutes}} min',
  resolved: '[resolved] {{reason}}: {{namespace}}/{{workload}}',
}
const DEFAULT_TEXT: Record<AlertKind, string> = {
  firing: '{{message}}',
  repeat: '{{message}}',
  resolved: 'No new occurrence for {{quietMinutes}} min ({{occurrences}} occurrences in total).',
}

export type TemplateVars = Readonly<Record<string, string | number | null>>

/** `{{ name }}` placeholders; an unknown name renders as empty (routes are user-written). */
export function render(template: string, vars: TemplateVars): string {
  return template.replace(/\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const v = vars[name]
    return v === undefined || v === null ? '' : String(v)
  })
}

export function templateVars(s: AlertSubject, extra: Record<string, string | number | null>): TemplateVars {
  return {
    severity: s.severity,
    category: s.category,
    kind: s.kind,
    cluster: s.cluster,
    namespace: s.namespace ?? '_cluster',
    workload: s.workload,
    reason: s.reason,
    message: s.message,
    count: s.count,
    firstTime: s.firstTime,
    lastTime: s.lastTime,
    fingerprint: s.fingerprint,
    runbook: s.runbook,
    action: s.action,
    ...extra,
  }
}

export function problemLink(dashboard: URL | undefined, fingerprint: string): string | null {
  if (dashboard === undefined) return null
  const u = new URL(dashboard.toString())
  u.searchParams.set('fingerprint', fingerprint)
  return u.toString()
}

export interface BuildMessage {
  readonly id: string
  readonly kind: AlertKind
  readonly route: Route
  readonly subject: AlertSubject
  readonly occurrences: number
  readonly since: AlertMessage['since']
  readonly groupStartedAt: string
  readonly quietMinutes: number | null
  readonly dashboard: URL | undefined
  readonly now: number
}

export function buildMessage(b: BuildMessage): AlertMessage {
  const t: Template = b.route.template
  const vars = templateVars(b.subject, {
    route: b.route.name,
    occurrences: b.occurrences,
    sinceOccurrences: b.since?.occurrences ?? null,
    sinceMinutes: b.since?.minutes ?? null,
    quietMinutes: b.quietMinutes,
    groupStartedAt: b.groupStartedAt,
  })
  // A route template replaces the firing text; repeats and resolutions keep their own prefix so
  // "still failing" / "resolved" is never lost behind a custom title.
  const title =
    b.kind === 'firing' ? render(t.title ?? DEFAULT_TITLE.firing, vars) : `${render(DEFAULT_TITLE[b.kind], vars)}${t.title === undefined ? '' : ` — ${render(t.title, vars)}`}`
  const text = render(b.kind === 'resolved' ? DEFAULT_TEXT.resolved : (t.text ?? DEFAULT_TEXT[b.kind]), vars)
  return {
    id: b.id,
    kind: b.kind,
    route: b.route.name,
    subject: b.subject,
    title: title.slice(0, 300),
    text: text.slice(0, 3000),
    occurrences: b.occurrences,
    since: b.since,
    groupStartedAt: b.groupStartedAt,
    links: { problem: problemLink(b.dashboard, b.subject.fingerprint), runbook: b.subject.runbook },
    createdAt: new Date(b.now).toISOString(),
  }
}
