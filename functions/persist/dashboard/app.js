// kube-reflex dashboard: reads the query API (same origin, path relative to where persist is mounted) and
// renders with plain DOM calls — every value from the API goes in through textContent, never as HTML.
'use strict'

const API = document.currentScript.dataset.api
const $ = (id) => document.getElementById(id)
let windowParam = $('window').value
let timelineCursor = null
/** The problem whose history the timeline shows ({fingerprint, label}), or null for all events. */
let problemFilter = null
let chart = null

function token() {
  return sessionStorage.getItem('kube-reflex-token')
}

class AuthRequired extends Error {}

async function api(path, params = {}) {
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''))
  const headers = { accept: 'application/json' }
  const t = token()
  if (t) headers.authorization = `Bearer ${t}`
  const res = await fetch(`${API}${path}${qs.size > 0 ? `?${qs}` : ''}`, { headers })
  if (res.status === 401) throw new AuthRequired()
  const body = await res.json()
  if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`)
  return body
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else if (k === 'text') node.textContent = v
    else node.setAttribute(k, v)
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c)
  return node
}

function ago(iso) {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (s < 60) return `${Math.max(s, 0)}s ago`
  if (s < 3600) return `${Math.round(s / 60)} min ago`
  if (s < 86400) return `${Math.round(s / 3600)} h ago`
  return `${Math.round(s / 86400)} d ago`
}

function when(iso) {
  return el('time', { datetime: iso, title: new Date(iso).toLocaleString(), text: ago(iso) })
}

function badge(severity) {
  return el('span', { class: `badge ${severity || 'info'}`, text: severity || '—' })
}

function workload(o) {
  const ns = o.namespace ? `${o.namespace}/` : ''
  return `${ns}${o.kind ? `${o.kind} ` : ''}${o.name || ''}`.trim() || '—'
}

function fill(tbody, rows, emptyId) {
  tbody.replaceChildren(...rows)
  $(emptyId).hidden = rows.length > 0
}

async function loadSummary() {
  const s = await api('/stats', { since: windowParam })
  $('n-critical').textContent = s.bySeverity.critical ?? 0
  $('n-warning').textContent = s.bySeverity.warning ?? 0
  $('n-info').textContent = s.bySeverity.info ?? 0
  const sum = (prefix) => Object.entries(s.byType).filter(([t]) => t.startsWith(prefix)).reduce((n, [, c]) => n + c, 0)
  $('n-alerts').textContent = s.byType['dev.kubereflex.alert.sent'] ?? 0
  $('n-recoveries').textContent = sum('dev.kubereflex.recovery.')
  renderCategories(s.byCategory)
  renderChart(s.buckets)
}

function renderCategories(byCategory) {
  const entries = Object.entries(byCategory).sort((a, b) => b[1] - a[1])
  const max = Math.max(1, ...entries.map(([, n]) => n))
  $('categories').replaceChildren(
    ...entries.map(([category, n]) => {
      const bar = el('span', { class: 'bar' })
      bar.style.width = `${(100 * n) / max}%`
      return el('li', { 'data-category': category }, el('span', { text: category }), el('span', {}, bar), el('span', { class: 'count', text: String(n) }))
    }),
  )
  if (entries.length === 0) $('categories').append(el('li', { class: 'empty', text: 'No events in this window.' }))
}

function renderChart(buckets) {
  const xs = buckets.map((b) => Date.parse(b.bucket) / 1000)
  const data = [xs, buckets.map((b) => b.critical), buckets.map((b) => b.warning)]
  const box = $('chart')
  const width = Math.max(300, box.clientWidth)
  if (typeof uPlot !== 'function') {
    box.textContent = 'chart library not loaded'
    return
  }
  if (chart) chart.destroy()
  chart = new uPlot(
    {
      width,
      height: 220,
      scales: { x: { time: true } },
      series: [
        {},
        { label: 'critical', stroke: '#c62828', fill: 'rgba(198,40,40,0.15)', width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        { label: 'warning', stroke: '#ef6c00', fill: 'rgba(239,108,0,0.12)', width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
      ],
      axes: [{}, { label: 'events / hour' }],
    },
    data,
    box,
  )
}

async function loadProblems() {
  const page = await api('/problems', { limit: 50 })
  const rows = page.items.map((p) =>
    el(
      'tr',
      { 'data-fingerprint': p.fingerprint },
      el('td', {}, badge(p.severity)),
      el('td', { text: workload(p) }),
      el('td', { text: p.category || '—' }),
      el('td', { text: p.reason || '—', title: p.message || '' }),
      el('td', { text: `${p.occurrences}×` }),
      el('td', {}, when(p.lastSeen)),
      el('td', {}, p.alert ? el('span', { class: `outcome ${p.alert.outcome}`, text: p.alert.outcome }) : '—'),
      el('td', {}, p.recovery ? el('span', { class: `outcome ${p.recovery.outcome}`, text: `${p.recovery.outcome}${p.recovery.action ? ` (${p.recovery.action})` : ''}` }) : '—'),
      el('td', {}, el('button', { type: 'button', class: 'history', text: 'History', 'data-fingerprint': p.fingerprint, 'data-label': `${workload(p)} · ${p.category || '—'}` })),
    ),
  )
  fill($('problems').tBodies[0], rows, 'problems-empty')
}

function filters() {
  const f = new FormData($('filters'))
  return {
    severity: f.get('severity'),
    namespace: f.get('namespace').trim(),
    category: f.get('category').trim(),
    q: f.get('q').trim(),
    fingerprint: problemFilter ? problemFilter.fingerprint : undefined,
  }
}

async function loadTimeline(append) {
  const page = await api('/events', { type: 'dev.kubereflex.event.classified', since: windowParam, limit: 50, cursor: append ? timelineCursor : undefined, ...filters() })
  const rows = page.items.map((e) =>
    el(
      'tr',
      {},
      el('td', {}, when(e.occurredAt)),
      el('td', {}, badge(e.severity)),
      el('td', { text: workload(e) }),
      el('td', { text: e.reason || '—' }),
      el('td', { class: 'msg', text: e.message || '', title: e.message || '' }),
    ),
  )
  const tbody = $('timeline').tBodies[0]
  if (append) tbody.append(...rows)
  else fill(tbody, rows, 'timeline-empty')
  timelineCursor = page.nextCursor
  $('more').hidden = timelineCursor === null
}

async function loadActions() {
  const [alerts, recoveries] = await Promise.all([
    api('/events', { type: 'dev.kubereflex.alert.*', since: windowParam, limit: 15 }),
    api('/events', { type: 'dev.kubereflex.recovery.*', since: windowParam, limit: 15 }),
  ])
  const items = [...alerts.items, ...recoveries.items].sort((a, b) => (a.occurredAt < b.occurredAt ? 1 : -1)).slice(0, 20)
  const rows = items.map((e) => {
    const outcome = e.type.split('.').pop()
    const what = e.type.includes('.alert.') ? 'alert' : 'recovery'
    const data = e.event.data || {}
    const detail = [data.sink, data.action, data.mode, data.reason].filter((v) => typeof v === 'string').join(' · ')
    return el(
      'tr',
      {},
      el('td', {}, when(e.occurredAt)),
      el('td', {}, el('span', { class: `outcome ${outcome}`, text: `${what} ${outcome}` })),
      el('td', { text: e.event.subject || workload(e) }),
      el('td', { text: detail || e.message || '' }),
    )
  })
  fill($('actions').tBodies[0], rows, 'actions-empty')
}

async function refresh() {
  $('error').hidden = true
  try {
    await Promise.all([loadSummary(), loadProblems(), loadTimeline(false), loadActions()])
    $('auth').hidden = true
    document.body.dataset.loaded = 'true'
  } catch (err) {
    if (err instanceof AuthRequired) {
      $('auth').hidden = false
      return
    }
    $('error').textContent = `Could not load: ${err.message}`
    $('error').hidden = false
  }
}

$('window').addEventListener('change', () => {
  windowParam = $('window').value
  void refresh()
})
function reloadTimeline() {
  loadTimeline(false).catch((err) => {
    $('error').textContent = `Could not load: ${err.message}`
    $('error').hidden = false
  })
}

/** Shows one problem's occurrences in the timeline (GET /events?fingerprint=), or all events again. */
function showProblem(filter) {
  problemFilter = filter
  $('problem-label').textContent = filter ? filter.label : ''
  $('problem-filter').hidden = !filter
  reloadTimeline()
}

$('filters').addEventListener('submit', (ev) => {
  ev.preventDefault()
  reloadTimeline()
})
$('problems').tBodies[0].addEventListener('click', (ev) => {
  const button = ev.target.closest('button.history')
  if (!button) return
  showProblem({ fingerprint: button.dataset.fingerprint, label: button.dataset.label })
  $('h-timeline').scrollIntoView()
})
$('problem-clear').addEventListener('click', () => showProblem(null))
$('more').addEventListener('click', () => void loadTimeline(true))
$('auth-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  sessionStorage.setItem('kube-reflex-token', $('token').value)
  void refresh()
})
window.addEventListener('resize', () => chart && chart.setSize({ width: Math.max(300, $('chart').clientWidth), height: 220 }))

void refresh()
window.setInterval(() => void refresh(), 30_000)
