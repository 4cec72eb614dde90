// Duration and schedule syntaxes the webhooks check and a JSON Schema cannot express well.

// ISO 8601 durations as Knative parses them for delivery.backoffDelay/timeout/retryAfterMax
// (github.com/rickb777/date/period): P[nY][nM][nW][nD][T[nH][nM][nS]], a fraction allowed.
const ISO_8601_DURATION = /^P(?!$)(\d+([.,]\d+)?Y)?(\d+([.,]\d+)?M)?(\d+([.,]\d+)?W)?(\d+([.,]\d+)?D)?(T(?=\d)(\d+([.,]\d+)?H)?(\d+([.,]\d+)?M)?(\d+([.,]\d+)?S)?)?$/

export function isIso8601Duration(text: string): boolean {
  return ISO_8601_DURATION.test(text)
}

const CRON_DESCRIPTORS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'])
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const FIELDS: ReadonlyArray<{ name: string; min: number; max: number; names?: readonly string[] }> = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS },
  { name: 'day of week', min: 0, max: 6, names: DAYS },
]

function cronValue(text: string, field: (typeof FIELDS)[number]): number | undefined {
  const named = field.names?.indexOf(text.toLowerCase()) ?? -1
  if (named >= 0) return field.min + named
  if (!/^\d+$/.test(text)) return undefined
  const n = Number(text)
  return n >= field.min && n <= field.max ? n : undefined
}

/**
 * The problem with a PingSource schedule, or undefined when valid. Knative parses it with
 * robfig/cron's standard parser: five fields or a descriptor, optionally prefixed `CRON_TZ=`/`TZ=`.
 */
export function cronProblem(schedule: string): string | undefined {
  let text = schedule.trim()
  const tz = /^(CRON_TZ|TZ)=\S+\s+/.exec(text)
  if (tz !== null) text = text.slice(tz[0].length)
  if (text.startsWith('@')) {
    if (CRON_DESCRIPTORS.has(text)) return undefined
    if (/^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined
    return `unknown descriptor "${text}"`
  }
  const parts = text.split(/\s+/)
  if (parts.length !== 5) return `expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`
  for (const [i, part] of parts.entries()) {
    const field = FIELDS[i]
    if (field === undefined) continue
    for (const item of part.split(',')) {
      const [range = '', step, extra] = item.split('/')
      if (extra !== undefined || (step !== undefined && !/^[1-9]\d*$/.test(step))) return `${field.name}: bad step in "${item}"`
      if (range === '*' || (range === '?' && (i === 2 || i === 4))) continue
      const [from = '', to, more] = range.split('-')
      if (more !== undefined) return `${field.name}: bad range "${range}"`
      const lo = cronValue(from, field)
      const hi = to === undefined ? lo : cronValue(to, field)
      if (lo === undefined || hi === undefined) return `${field.name}: "${range}" is not in ${field.min}-${field.max}`
      if (hi < lo) return `${field.name}: range "${range}" runs backwards`
    }
  }
  return undefined
}
