// Sinks from their specs; the transport is where the SSRF guard and the timeout live.
import type { Logger } from 'pino'
import type { SinkSpec } from '../routing.js'
import { consoleSink } from './console.js'
import { pagerdutySink } from './pagerduty.js'
import { slackSink } from './slack.js'
import { teamsSink } from './teams.js'
import type { Sink, Transport } from './types.js'
import { webhookSink } from './webhook.js'

export function createSink(spec: SinkSpec, post: Transport, log: Logger, now: () => number): Sink {
  // loadConfig guarantees the parts each type needs; this guards library callers that skipped it.
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`sink '${spec.name}' (${spec.type}) has no ${what}`)
    return v
  }
  switch (spec.type) {
    case 'console':
      return consoleSink(spec.name, log)
    case 'slack':
      return slackSink(spec.name, need(spec.url, 'URL'), spec.rate, post)
    case 'teams':
      return teamsSink(spec.name, need(spec.url, 'URL'), spec.rate, post)
    case 'pagerduty':
      return pagerdutySink(spec.name, need(spec.url, 'endpoint'), need(spec.routingKey, 'routing key'), spec.rate, post)
    case 'webhook':
      return webhookSink(spec.name, need(spec.url, 'URL'), need(spec.secret, 'secret'), spec.rate, post, now)
  }
}

export type { Sink, Transport } from './types.js'
export { slackPayload } from './slack.js'
export { teamsPayload } from './teams.js'
export { pagerdutyEvents } from './pagerduty.js'
export { webhookBody, signedRequest } from './webhook.js'
