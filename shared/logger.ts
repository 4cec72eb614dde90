// Structured JSON logs (pino) on stderr-compatible streams; secrets are redacted by path.
import { pino, type Logger, type DestinationStream } from 'pino'
import type { LogLevel } from './config.js'

export type { Logger } from 'pino'

const REDACT = [
  'headers.authorization',
  'config.alertWebhookUrl',
  'config.slackWebhookUrl',
  'config.pagerdutyRoutingKey',
  'config.teamsWebhookUrl',
  'config.webhookSecret',
  'config.databaseUrl',
  'config.apiToken',
  '*.url',
  '*.secret',
  '*.token',
]

export function createLogger(options: { level: LogLevel; name: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      name: options.name,
      base: { fn: options.name },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  )
}

/** A logger that drops everything (tests, library defaults). */
export const silentLogger: Logger = pino({ level: 'silent' })
