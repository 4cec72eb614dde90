// The metric names kube-reflex exports (the binding metrics contract), and a PromQL scan that finds
// the metric names an expression reads, so alerts and dashboards cannot drift from the code.

type MetricType = 'counter' | 'gauge' | 'histogram'

/** Contract: every function, persist, alert and auto-recover metrics, plus prom-client defaults. */
export const EXPORTED_METRICS: Readonly<Record<string, MetricType>> = {
  event_processing_duration_seconds: 'histogram',
  events_received_total: 'counter',
  event_processing_failures_total: 'counter',
  event_replies_total: 'counter',
  event_lag_seconds: 'histogram',
  dead_lettered_events_total: 'counter',
  persist_events_stored_total: 'counter',
  persist_duplicates_total: 'counter',
  alert_notifications_total: 'counter',
  recovery_actions_total: 'counter',
  recovery_budget_remaining: 'gauge',
  // prom-client collectDefaultMetrics() on Linux
  process_cpu_user_seconds_total: 'counter',
  process_cpu_system_seconds_total: 'counter',
  process_cpu_seconds_total: 'counter',
  process_start_time_seconds: 'gauge',
  process_resident_memory_bytes: 'gauge',
  process_virtual_memory_bytes: 'gauge',
  process_heap_bytes: 'gauge',
  process_open_fds: 'gauge',
  process_max_fds: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_eventloop_lag_min_seconds: 'gauge',
  nodejs_eventloop_lag_max_seconds: 'gauge',
  nodejs_eventloop_lag_mean_seconds: 'gauge',
  nodejs_eventloop_lag_stddev_seconds: 'gauge',
  nodejs_eventloop_lag_p50_seconds: 'gauge',
  nodejs_eventloop_lag_p90_seconds: 'gauge',
  nodejs_eventloop_lag_p99_seconds: 'gauge',
  nodejs_active_resources: 'gauge',
  nodejs_active_resources_total: 'gauge',
  nodejs_active_handles: 'gauge',
  nodejs_active_handles_total: 'gauge',
  nodejs_active_requests: 'gauge',
  nodejs_active_requests_total: 'gauge',
  nodejs_heap_size_total_bytes: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_external_memory_bytes: 'gauge',
  nodejs_heap_space_size_total_bytes: 'gauge',
  nodejs_heap_space_size_used_bytes: 'gauge',
  nodejs_heap_space_size_available_bytes: 'gauge',
  nodejs_version_info: 'gauge',
  nodejs_gc_duration_seconds: 'histogram',
}

/** Every series name a scrape of kube-reflex can contain (histograms expand to _bucket/_sum/_count). */
export function exportedSeriesNames(): Set<string> {
  const names = new Set<string>()
  for (const [name, type] of Object.entries(EXPORTED_METRICS)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix)
    else names.add(name)
  }
  return names
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan', 'atan2'])

/** Metric names a PromQL expression selects (functions, labels, durations and strings excluded). */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/#[^\n]*/g, ' ')
  const names: string[] = []
  for (const match of stripped.matchAll(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const token = match[0]
    if (token.startsWith('$') || /^\d/.test(token) || KEYWORDS.has(token.toLowerCase())) continue
    const rest = stripped.slice((match.index ?? 0) + token.length)
    if (/^\s*\(/.test(rest)) continue // a function or aggregation call
    names.push(token)
  }
  return [...new Set(names)]
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length] ?? 0
}

/** The closest exported series name, to suggest in a message. */
export function closestSeriesName(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of known) {
    const d = editDistance(name, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(3, Math.floor(name.length / 4)) ? best : undefined
}
