// Results: the target table of issue 9 as ratios (same run, same machine), the SVG chart and the
// markdown table for docs/BENCHMARKS.md. Pure functions over the results object.
import { lastOverFirst, type LoadRun, type Round, type SoakResult, type Spread } from './harness.js'
import type { Role } from './subjects.js'

export interface SubjectResult {
  readonly id: string
  readonly label: string
  readonly role: Role
  readonly status: 'measured' | 'not-measured' | 'failed'
  readonly reason?: string
  readonly startupMs?: Spread
  readonly idleRssMiB?: Spread
  readonly peakRssMiB?: Spread
  /** scenario → requests/s over repetitions, plus the latency and error figures of every run */
  readonly throughput?: Record<string, { rps: Spread; cpuUsPerRequest?: Spread; runs: readonly Omit<LoadRun, 'rps'>[] }>
  readonly firstStatus?: number
  readonly rounds?: readonly Round[]
}

export interface DevResult {
  readonly status: 'measured' | 'not-measured' | 'failed'
  /** What was replayed (bench/payloads devReplayObjects): `storm` (every input critical) or `mixed` (cluster-like). */
  readonly workload: string
  readonly reason?: string
  readonly events?: number
  readonly eventsPerSecond?: Spread
  readonly summary?: unknown
  /** A paced replay (`--rate`): input→stored latency from dev's own summary (`inputToStoredMs`). */
  readonly paced?: PacedDevResult
  /** The same replays run with another configuration right after each of these (`--dev-persist-skip`): what a
   *  design change would buy, beside the shipped configuration. */
  readonly variant?: { readonly label: string; readonly eventsPerSecond: Spread; readonly summary?: unknown }
  /** Memory under sustained load for the whole pipeline: dev's RSS after each cumulative count of input events. */
  readonly soak?: { readonly events: readonly number[]; readonly rssMiB: readonly number[]; readonly ratio: number } | { readonly status: 'failed'; readonly reason: string }
}

export interface PacedDevResult {
  readonly status: 'measured' | 'failed'
  readonly reason?: string
  readonly rate: number
  readonly events: number
  /** Events ÷ wall time of the replay (start-up excluded): did dev keep up with the rate? */
  readonly achievedRate?: number
  readonly p50Ms?: number
  readonly p99Ms?: number
  readonly maxMs?: number
}

type Metric = { kind: 'throughput'; scenario: string } | { kind: 'cpu'; scenario: string } | { kind: 'startup' } | { kind: 'idleRss' }

interface RatioSpec {
  readonly id: string
  readonly measure: string
  readonly num: { subject: string; metric: Metric }
  readonly den: { subject: string; metric: Metric }
  readonly target: { op: '>=' | '<='; value: number }
}

export interface Ratio {
  readonly id: string
  readonly measure: string
  readonly numerator: string
  readonly denominator: string
  readonly target: string
  readonly status: 'measured' | 'pending'
  readonly value: number | null
  readonly met: boolean | null
  readonly reason?: string
}

const tp = (scenario: string): Metric => ({ kind: 'throughput', scenario })
const cpu = (scenario: string): Metric => ({ kind: 'cpu', scenario })
const startup: Metric = { kind: 'startup' }
const idle: Metric = { kind: 'idleRss' }

/** Issue 9, "Targets (ratios, same run)". */
export const RATIO_SPECS: readonly RatioSpec[] = [
  { id: 'classify-vs-faas-empty-throughput', measure: 'classify throughput, binary, full classification + reply', num: { subject: 'classify', metric: tp('pod-binary') }, den: { subject: 'faas-empty', metric: tp('pod-binary') }, target: { op: '>=', value: 2.0 } },
  { id: 'classify-vs-bare-throughput', measure: 'classify throughput, binary, full classification + reply', num: { subject: 'classify', metric: tp('pod-binary') }, den: { subject: 'bare-http', metric: tp('pod-binary') }, target: { op: '>=', value: 0.5 } },
  // The same two targets seen as CPU time per request (the subject's own user+system time): on a shared,
  // busy machine req/s also measures how often the subject got a core; CPU per request does not.
  { id: 'classify-vs-faas-empty-cpu', measure: 'classify CPU per request vs faas-js-runtime empty handler (CPU view of the 2× target)', num: { subject: 'classify', metric: cpu('pod-binary') }, den: { subject: 'faas-empty', metric: cpu('pod-binary') }, target: { op: '<=', value: 0.5 } },
  { id: 'classify-vs-bare-cpu', measure: 'classify CPU per request vs bare node:http (CPU view of the 0.5× target)', num: { subject: 'classify', metric: cpu('pod-binary') }, den: { subject: 'bare-http', metric: cpu('pod-binary') }, target: { op: '<=', value: 2.0 } },
  { id: 'classify-vs-faas-classify-throughput', measure: 'classify handler: kube-reflex host vs faas-js-runtime host (information)', num: { subject: 'classify', metric: tp('pod-binary') }, den: { subject: 'faas-classify', metric: tp('pod-binary') }, target: { op: '>=', value: 1.0 } },
  { id: 'classify-vs-bare-startup', measure: 'cold start, spawn → first classified reply', num: { subject: 'classify', metric: startup }, den: { subject: 'bare-http', metric: startup }, target: { op: '<=', value: 1.5 } },
  { id: 'classify-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler', num: { subject: 'classify', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'alert-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler', num: { subject: 'alert', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'auto-recover-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler', num: { subject: 'auto-recover', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'persist-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler (PGlite)', num: { subject: 'persist-pglite', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  // The same targets for alert, auto-recover and persist as a cluster runs them (DATABASE_URL → PostgreSQL);
  // pending when the bench has no DATABASE_URL.
  { id: 'alert-postgres-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler (PostgreSQL)', num: { subject: 'alert-postgres', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'auto-recover-postgres-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler (PostgreSQL)', num: { subject: 'auto-recover-postgres', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'auto-recover-kube-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler (PostgreSQL, with its Kubernetes client: first reply from the API server)', num: { subject: 'auto-recover-kube', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'persist-postgres-vs-faas-empty-startup', measure: 'cold start vs faas-js-runtime empty handler (PostgreSQL)', num: { subject: 'persist-postgres', metric: startup }, den: { subject: 'faas-empty', metric: startup }, target: { op: '<=', value: 0.75 } },
  { id: 'classify-vs-bare-idle-rss', measure: 'idle RSS', num: { subject: 'classify', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.3 } },
  { id: 'alert-vs-bare-idle-rss', measure: 'idle RSS', num: { subject: 'alert', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.3 } },
  { id: 'auto-recover-vs-bare-idle-rss', measure: 'idle RSS', num: { subject: 'auto-recover', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.8 } },
  { id: 'persist-vs-bare-idle-rss', measure: 'idle RSS (PGlite)', num: { subject: 'persist-pglite', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.8 } },
  { id: 'alert-postgres-vs-bare-idle-rss', measure: 'idle RSS (PostgreSQL)', num: { subject: 'alert-postgres', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.3 } },
  { id: 'auto-recover-postgres-vs-bare-idle-rss', measure: 'idle RSS (PostgreSQL)', num: { subject: 'auto-recover-postgres', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.8 } },
  { id: 'auto-recover-kube-vs-bare-idle-rss', measure: 'idle RSS (PostgreSQL, Kubernetes client loaded)', num: { subject: 'auto-recover-kube', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.8 } },
  { id: 'persist-postgres-vs-bare-idle-rss', measure: 'idle RSS (PostgreSQL)', num: { subject: 'persist-postgres', metric: idle }, den: { subject: 'bare-http', metric: idle }, target: { op: '<=', value: 1.8 } },
  { id: 'persist-postgres-vs-classify-throughput', measure: 'persist ack-after-commit into PostgreSQL, under concurrency', num: { subject: 'persist-postgres', metric: tp('classified-binary') }, den: { subject: 'classify', metric: tp('pod-binary') }, target: { op: '>=', value: 0.5 } },
  { id: 'persist-postgres-durable-vs-classify-throughput', measure: 'persist ack-after-commit into PostgreSQL, under concurrency (durable server: fsync, synchronous_commit, full_page_writes on)', num: { subject: 'persist-postgres-durable', metric: tp('classified-binary') }, den: { subject: 'classify', metric: tp('pod-binary') }, target: { op: '>=', value: 0.5 } },
  { id: 'persist-pglite-vs-classify-throughput', measure: 'persist ack-after-commit into PGlite, under concurrency', num: { subject: 'persist-pglite', metric: tp('classified-binary') }, den: { subject: 'classify', metric: tp('pod-binary') }, target: { op: '>=', value: 0.25 } },
]

function metricValue(s: SubjectResult | undefined, m: Metric): number | string {
  if (s === undefined) return 'subject not in this run'
  if (s.status !== 'measured') return s.reason ?? s.status
  if (m.kind === 'startup') return s.startupMs?.median ?? 'no start-up figure'
  if (m.kind === 'idleRss') return s.idleRssMiB?.median ?? 'no RSS figure'
  if (m.kind === 'cpu') return s.throughput?.[m.scenario]?.cpuUsPerRequest?.median ?? `no CPU figure for ${m.scenario}`
  return s.throughput?.[m.scenario]?.rps.median ?? `scenario ${m.scenario} not measured`
}

function describe(ref: { subject: string; metric: Metric }): string {
  const m = ref.metric
  const what = m.kind === 'throughput' ? `req/s (${m.scenario})` : m.kind === 'cpu' ? `CPU µs/req (${m.scenario})` : m.kind === 'startup' ? 'start-up ms' : 'idle RSS MiB'
  return `${ref.subject} ${what}`
}

export function computeRatios(subjects: readonly SubjectResult[]): Ratio[] {
  const byId = new Map(subjects.map((s) => [s.id, s]))
  return RATIO_SPECS.map((spec) => {
    const n = metricValue(byId.get(spec.num.subject), spec.num.metric)
    const d = metricValue(byId.get(spec.den.subject), spec.den.metric)
    const base = { id: spec.id, measure: spec.measure, numerator: describe(spec.num), denominator: describe(spec.den), target: `${spec.target.op} ${spec.target.value}×` }
    if (typeof n === 'string' || typeof d === 'string' || !Number.isFinite(n) || !Number.isFinite(d) || d <= 0) {
      const why = typeof n === 'string' ? `${spec.num.subject}: ${n}` : typeof d === 'string' ? `${spec.den.subject}: ${d}` : 'no usable figure'
      return { ...base, status: 'pending', value: null, met: null, reason: why }
    }
    const value = n / d
    return { ...base, status: 'measured', value, met: spec.target.op === '>=' ? value >= spec.target.value : value <= spec.target.value }
  })
}

// ---------- chart (SVG, no dependencies) ----------

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

interface Bar {
  readonly label: string
  readonly value: Spread
  readonly ours: boolean
}

function panel(title: string, unit: string, bars: readonly Bar[], y0: number, width: number): { svg: string; height: number } {
  const labelW = 330
  const barH = 18
  const gap = 8
  const plotW = width - labelW - 90
  const max = Math.max(1, ...bars.map((b) => b.value.max))
  let svg = `<text x="10" y="${y0 + 16}" font-size="14" font-weight="bold">${esc(title)}</text>`
  bars.forEach((b, i) => {
    const y = y0 + 28 + i * (barH + gap)
    const w = (b.value.median / max) * plotW
    const x1 = labelW + (b.value.min / max) * plotW
    const x2 = labelW + (b.value.max / max) * plotW
    svg += `<text x="${labelW - 8}" y="${y + 13}" font-size="12" text-anchor="end">${esc(b.label)}</text>`
    svg += `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.ours ? '#2b7bb9' : '#a0a0a0'}"/>`
    svg += `<line x1="${x1.toFixed(1)}" x2="${x2.toFixed(1)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#222" stroke-width="1.5"/>`
    svg += `<text x="${(labelW + Math.max(w, x2 - labelW) + 6).toFixed(1)}" y="${y + 13}" font-size="12">${Math.round(b.value.median).toLocaleString('en-US')} ${esc(unit)}</text>`
  })
  return { svg, height: 28 + bars.length * (barH + gap) + 16 }
}

export function renderChart(subjects: readonly SubjectResult[], scenario: string, caption: string): string {
  const width = 900
  const measured = subjects.filter((s) => s.status === 'measured')
  const tpBars: Bar[] = measured.flatMap((s) => {
    const t = s.throughput?.[scenario]
    return t === undefined ? [] : [{ label: s.label, value: t.rps, ours: s.role === 'kube-reflex' }]
  })
  const suBars: Bar[] = measured.flatMap((s) => (s.startupMs === undefined ? [] : [{ label: s.label, value: s.startupMs, ours: s.role === 'kube-reflex' }]))
  const cpuBars: Bar[] = measured.flatMap((s) => {
    const c = s.throughput?.[scenario]?.cpuUsPerRequest
    return c === undefined ? [] : [{ label: s.label, value: c, ours: s.role === 'kube-reflex' }]
  })
  const a = panel(`Throughput, ${scenario} (requests/s, median; line = min–max) — higher is better`, 'req/s', tpBars, 10, width)
  const c = panel(`CPU time per request, ${scenario} (µs, median; line = min–max) — lower is better`, 'µs', cpuBars, 10 + a.height + 10, width)
  const b = panel('Cold start, spawn → first 2xx on a real event (ms, median; line = min–max) — lower is better', 'ms', suBars, 10 + a.height + 10 + c.height + 10, width)
  const height = 10 + a.height + 10 + c.height + 10 + b.height + 30
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    a.svg,
    c.svg,
    b.svg,
    `<text x="10" y="${height - 10}" font-size="11" fill="#555">${esc(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n')
}

// ---------- markdown ----------

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || !Number.isFinite(n) ? '—' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }))
const range = (s: Spread | undefined, digits = 0): string => (s === undefined ? '—' : `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`)

/** A PostgreSQL server's commit durability as read from pg_settings (fsync, synchronous_commit, full_page_writes). */
export type PostgresDurability = Readonly<Record<string, string>>

export function renderMarkdown(results: {
  subjects: readonly SubjectResult[]
  ratios: readonly Ratio[]
  dev: DevResult
  devMixed: DevResult
  scenarios: readonly string[]
  soak: SoakResult | { status: 'not-measured'; reason: string }
  postgres?: { readonly test: PostgresDurability | null; readonly durable: PostgresDurability | null }
}): string {
  const lines: string[] = []
  lines.push('| target | ratio | value | target | met |', '|---|---|---|---|---|')
  for (const r of results.ratios) {
    lines.push(`| ${r.measure} | ${r.numerator} ÷ ${r.denominator} | ${r.status === 'measured' ? `${fmt(r.value ?? undefined, 2)}×` : `pending — ${r.reason ?? ''}`} | ${r.target} | ${r.met === null ? '—' : r.met ? 'yes' : '**no**'} |`)
  }
  const WORKLOAD: Record<string, string> = { storm: 'storm: every input critical', mixed: 'mixed: 80 % info, 15 % warning, 5 % critical' }
  for (const dev of [results.dev, results.devMixed]) {
    const w = WORKLOAD[dev.workload] ?? dev.workload
    lines.push(`| \`kube-reflex dev\` end to end (replay; ${w}) | events/s | ${dev.status === 'measured' ? fmt(dev.eventsPerSecond?.median) : `pending — ${dev.reason ?? ''}`} | ≥ 5,000 events/s | ${dev.status === 'measured' && dev.eventsPerSecond !== undefined ? (dev.eventsPerSecond.median >= 5000 ? 'yes' : '**no**') : '—'} |`)
    const v = dev.variant
    if (v !== undefined && dev.eventsPerSecond !== undefined) {
      // Not the shipped configuration, so no target verdict: the figure and its ratio to the row above.
      lines.push(`| \`kube-reflex dev\` end to end (replay; ${w}) with ${v.label}, each run right after the one above | events/s | ${fmt(v.eventsPerSecond.median)} (${fmt(v.eventsPerSecond.median / dev.eventsPerSecond.median, 2)}× the shipped configuration) | — | — |`)
    }
    const paced = dev.paced
    if (paced?.status === 'measured' && paced.p99Ms !== undefined) {
      lines.push(`| p99 input→stored at ${fmt(paced.rate)} events/s (${w}; ${fmt(paced.events)} events; p50 ${fmt(paced.p50Ms, 1)} ms; achieved ${fmt(paced.achievedRate)} events/s) | ms | ${fmt(paced.p99Ms, 1)} | ≤ 100 ms | ${paced.p99Ms <= 100 ? 'yes' : '**no**'} |`)
    } else {
      lines.push(`| p99 input→stored at 500 events/s (${w}) | ms | pending — ${paced?.reason ?? (dev.status === 'measured' ? 'not measured' : (dev.reason ?? dev.status))} | ≤ 100 ms | — |`)
    }
  }
  const dev = results.dev
  if (dev.soak !== undefined) {
    const ds = dev.soak
    if ('ratio' in ds) lines.push(`| memory under sustained load (\`kube-reflex dev\` RSS after ${ds.events.map((e) => e.toLocaleString('en-US')).join(' / ')} events: ${ds.rssMiB.map((r) => fmt(r, 1)).join(' / ')} MiB) | last ÷ first | ${fmt(ds.ratio, 2)}× | ≤ 1.10× | ${ds.ratio <= 1.1 ? 'yes' : '**no**'} |`)
    else lines.push(`| memory under sustained load (\`kube-reflex dev\`) | ratio | failed — ${ds.reason} | ≤ 1.10× | — |`)
  }
  const sk = results.soak
  if ('ratio' in sk) {
    lines.push(`| memory under sustained load (classify RSS after ${sk.events.map((e) => e.toLocaleString('en-US')).join(' / ')} events: ${sk.rssMiB.map((r) => fmt(r, 1)).join(' / ')} MiB) | last ÷ first | ${fmt(sk.ratio, 2)}× | ≤ 1.10× | ${sk.ratio <= 1.1 ? 'yes' : '**no**'} |`)
    const gc = sk.afterFullGc
    if (gc !== undefined) {
      lines.push(`| the same after two full GCs at each step (\`--soak-gc\`, a second process; diagnosis: RSS ${gc.rssMiB.map((r) => fmt(r, 1)).join(' / ')} MiB, heap used ${gc.heapUsedMiB.map((r) => fmt(r, 1)).join(' / ')} MiB) | last ÷ first | RSS ${fmt(lastOverFirst(gc.rssMiB), 2)}×, heap ${fmt(lastOverFirst(gc.heapUsedMiB), 2)}× | — | — |`)
    }
  } else {
    lines.push(`| memory under sustained load (RSS after 1M vs 100k events) | ratio | pending — ${sk.reason} | ≤ 1.10× | — |`)
  }
  lines.push('')
  lines.push(`| subject | start-up ms | idle RSS MiB | peak RSS MiB | ${results.scenarios.map((s) => `req/s ${s}`).join(' | ')} | CPU µs/req (${results.scenarios[0] ?? ''}, else own scenario) | p99 ms (same) |`)
  lines.push(`|---|---|---|---|${results.scenarios.map(() => '---|').join('')}---|---|`)
  for (const s of results.subjects) {
    if (s.status !== 'measured') {
      lines.push(`| ${s.label} | ${s.reason ?? s.status} |  |  | ${results.scenarios.map(() => '').join(' | ')} |  |  |`)
      continue
    }
    const first = s.throughput?.[results.scenarios[0] ?? ''] ?? Object.values(s.throughput ?? {})[0]
    const p99s = first?.runs.map((r) => r.latencyMs.p99) ?? []
    const p99 = p99s.length === 0 ? '—' : fmt([...p99s].sort((a, b) => a - b)[Math.floor(p99s.length / 2)])
    lines.push(`| ${s.label} | ${range(s.startupMs)} | ${range(s.idleRssMiB, 1)} | ${range(s.peakRssMiB, 1)} | ${results.scenarios.map((sc) => range(s.throughput?.[sc]?.rps)).join(' | ')} | ${range(first?.cpuUsPerRequest)} | ${p99} |`)
  }
  const pg = results.postgres
  const settings = (d: PostgresDurability): string => Object.entries(d).map(([k, v]) => `${k}=${v}`).join(', ')
  const servers = [
    pg?.test == null ? undefined : `persist (PostgreSQL): the harness's \`DATABASE_URL\` (${settings(pg.test)})`,
    pg?.durable == null ? undefined : `persist (PostgreSQL, durable): a server the harness starts with PostgreSQL's defaults (${settings(pg.durable)})`,
  ].filter((x) => x !== undefined)
  if (servers.length > 0) lines.push('', `PostgreSQL servers, as read from \`pg_settings\` during the run: ${servers.join('; ')}.`)
  return lines.join('\n')
}
