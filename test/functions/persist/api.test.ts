// The query API over a seeded, realistic history, on PGlite and PostgreSQL: filters and cursor pagination
// checked against answers computed independently from the fixtures, the compatibility routes, problems,
// stats, lookup by (source, id), 400s for malformed queries, and bearer-token auth.
import t, { type Test } from 'tap'
import { toBinary, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { eachBackend, startPersist } from './backends.js'
import { alertReply, classified } from './fixtures.js'
import { dataOf, occurredAt, seed } from './seed.js'

// Each test opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const NOW = new Date('2026-11-27T12:00:00Z')
const now = (): number => NOW.getTime()

interface Page<T> {
  items: T[]
  nextCursor: string | null
}
interface Item {
  source: string
  id: string
  type: string
  occurredAt: string
  severity: string | null
  category: string | null
  namespace: string | null
  reason: string | null
  kind: string | null
  name: string | null
  message: string | null
  event: Record<string, unknown>
}

async function getJson<T>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const res = await fetch(url, init)
  return { status: res.status, body: (await res.json()) as T }
}

/** Follows nextCursor to the end; returns every item and the number of pages. */
async function all<T>(base: string, query: string, limit: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const sep = query === '' ? '' : '&'
    const url: string = `${base}?${query}${sep}limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`
    const { status, body }: { status: number; body: Page<T> } = await getJson<Page<T>>(url)
    if (status !== 200) throw new Error(`${url}: HTTP ${status} ${JSON.stringify(body)}`)
    items.push(...body.items)
    cursor = body.nextCursor
    pages++
  } while (cursor !== null && pages < 1000)
  return { items, pages }
}

/** Independently of the store: replies name their workload in the subject (`<ns>/<Kind>/<name>`). */
const namespaceOf = (e: CloudEventV1): string => (e.subject ?? '').split('/')[0] ?? ''
const text = (v: unknown): string => (typeof v === 'string' ? v : '')
const severityOf = (e: CloudEventV1): string => text(e.severity) || text(dataOf(e).severity)

const key = (e: { source: string; id: string }): string => `${e.source} ${e.id}`
const sortedKeys = (list: { source: string; id: string }[]): string[] => list.map(key).sort()

function newestFirst(t: Test, items: { occurredAt: string }[]): void {
  const ok = items.every((it, i) => i === 0 || (items[i - 1] as { occurredAt: string }).occurredAt >= it.occurredAt)
  t.ok(ok, 'newest first')
}

/** GET /stats's answer (docs/PERSIST.md). */
interface Stats {
  since: string
  until: string
  total: number
  bySeverity: Record<string, number>
  byCategory: Record<string, number>
  byNamespace: Record<string, number>
  byType: Record<string, number>
  buckets: { bucket: string; critical: number; warning: number; info: number }[]
}

eachBackend(t, 'query API over a seeded history', async (t, backend) => {
  const { url } = await startPersist(t, backend, { now })
  const sent = await seed(url, 240, NOW)
  const api = `${url}/api/v1`
  const classified = sent.filter((e) => e.type === 'dev.kubereflex.event.classified')

  await t.test('GET /events pages through everything, newest first, without gaps or repeats', async (t) => {
    const first = await getJson<Page<Item>>(`${api}/events`)
    t.equal(first.body.items.length, 50, 'default page size')
    const { items, pages } = await all<Item>(`${api}/events`, '', 37)
    t.equal(pages, Math.ceil(sent.length / 37))
    t.same(sortedKeys(items), sortedKeys(sent), 'every stored event exactly once')
    newestFirst(t, items)
    t.equal(new Set(items.map(key)).size, items.length)
  })

  await t.test('filters match an independent computation', async (t) => {
    const cases: [string, (e: CloudEventV1) => boolean][] = [
      // Alert and recovery replies carry the severity extension and their workload's subject: they match too.
      ['namespace=shop&severity=critical', (e) => namespaceOf(e) === 'shop' && severityOf(e) === 'critical'],
      ['severity=warning,info', (e) => e.type.endsWith('classified') && ['warning', 'info'].includes(String(dataOf(e).severity))],
      ['category=oom,image', (e) => e.type.endsWith('classified') && ['oom', 'image'].includes(String(dataOf(e).category))],
      ['reason=FailedScheduling', (e) => e.type.endsWith('classified') && dataOf(e).reason === 'FailedScheduling'],
      ['kind=Pod&name=cart-7d9f8c6b5-xxxx3', (e) => e.type.endsWith('classified') && (dataOf(e).object as { name: string }).name === 'cart-7d9f8c6b5-xxxx3'],
      ['type=dev.kubereflex.alert.*', (e) => e.type.startsWith('dev.kubereflex.alert.')],
      ['type=dev.kubereflex.recovery.planned', (e) => e.type === 'dev.kubereflex.recovery.planned'],
      ['q=INSUFFICIENT%20memory', (e) => text(dataOf(e).message).toLowerCase().includes('insufficient memory')],
      [
        `since=${encodeURIComponent('2026-11-26T12:00:00Z')}&until=${encodeURIComponent('2026-11-27T00:00:00Z')}`,
        (e) => occurredAt(e) >= '2026-11-26T12:00:00.000Z' && occurredAt(e) < '2026-11-27T00:00:00.000Z',
      ],
      ['since=18h&namespace=payments', (e) => occurredAt(e) >= '2026-11-26T18:00:00.000Z' && namespaceOf(e) === 'payments'],
    ]
    for (const [query, match] of cases) {
      const expected = sent.filter(match)
      const { items } = await all<Item>(`${api}/events`, query, 25)
      t.ok(expected.length > 0, `${query}: the fixture has matching events`)
      t.same(sortedKeys(items), sortedKeys(expected), `${query}: ${expected.length} events`)
      newestFirst(t, items)
    }
  })

  await t.test("fingerprint: one problem's history, its occurrences and its alert and recovery outcomes", async (t) => {
    // Independently of the store: classify puts the fingerprint in data; replies carry it in data and as an extension.
    const fingerprintOf = (e: CloudEventV1): string => text(dataOf(e).fingerprint) || text(e.fingerprint)
    const byFingerprint = new Map<string, CloudEventV1[]>()
    for (const e of sent) {
      const f = fingerprintOf(e)
      if (f !== '') byFingerprint.set(f, [...(byFingerprint.get(f) ?? []), e])
    }
    // The problem with the most kinds of events (classified, alert, recovery), then the most events.
    const kinds = (list: CloudEventV1[]): number => new Set(list.map((e) => e.type.split('.')[2])).size
    const [fingerprint, expected] = [...byFingerprint].sort((a, b) => kinds(b[1]) - kinds(a[1]) || b[1].length - a[1].length)[0] ?? ['', []]
    t.ok(kinds(expected) >= 2 && expected.length >= 3, `the fixture has a problem with ${expected.length} events of ${kinds(expected)} kinds`)
    t.ok(byFingerprint.size > 1, 'and other problems, which must not match')
    const { items, pages } = await all<Item>(`${api}/events`, `fingerprint=${encodeURIComponent(fingerprint)}`, 2)
    t.same(sortedKeys(items), sortedKeys(expected), `${expected.length} events, across ${pages} pages`)
    newestFirst(t, items)
    const none = await getJson<Page<Item>>(`${api}/events?fingerprint=no-such-problem`)
    t.same([none.status, none.body.items], [200, []], 'an unknown fingerprint is an empty page')
  })

  await t.test('q is a literal substring, not SQL or a LIKE pattern', async (t) => {
    for (const q of ["'; DROP TABLE persist_events; --", '%', '_ack-off']) {
      const r = await getJson<Page<Item>>(`${api}/events?q=${encodeURIComponent(q)}`)
      t.equal(r.status, 200)
      t.equal(r.body.items.length, 0, `q=${q} matches nothing`)
    }
    t.equal((await all<Item>(`${api}/events`, '', 500)).items.length, sent.length, 'table intact')
  })

  await t.test('GET /events/{source}/{id} with URL-encoded parts', async (t) => {
    const e = classified[17] as CloudEventV1
    const r = await getJson<Item>(`${api}/events/${encodeURIComponent(e.source)}/${encodeURIComponent(e.id)}`)
    t.equal(r.status, 200)
    t.same(r.body.event, JSON.parse(JSON.stringify(e)), 'the original CloudEvent')
    t.equal(r.body.occurredAt, occurredAt(e).replace(/\.(\d{3})Z$/, '.$1000Z'))
    const missing = await getJson<{ code: string }>(`${api}/events/${encodeURIComponent(e.source)}/nope`)
    t.equal(missing.status, 404)
    t.equal(missing.body.code, 'NOT_FOUND')
  })

  await t.test('compatibility routes of the original design', async (t) => {
    interface PodEvent {
      namespace: string
      pod: string
      status: string
      eventTime: string
    }
    const every = await all<PodEvent>(`${api}/pod-events`, '', 100)
    t.equal(every.items.length, classified.length, 'one pod event per classified occurrence')
    const shop = await all<PodEvent>(`${api}/pod-events/shop`, '', 30)
    t.equal(shop.items.length, classified.filter((e) => dataOf(e).namespace === 'shop').length)
    t.ok(shop.items.every((p) => p.namespace === 'shop'))
    const critical = await all<PodEvent>(`${api}/pod-events/status/critical`, '', 30)
    t.equal(critical.items.length, classified.filter((e) => dataOf(e).severity === 'critical').length)
    t.ok(critical.items.every((p) => p.status === 'CRITICAL'))
    const normal = await all<PodEvent>(`${api}/pod-events/status/NORMAL`, '', 500)
    t.equal(normal.items.length, classified.filter((e) => dataOf(e).severity === 'info').length)
    const bad = await getJson<{ code: string; message: string }>(`${api}/pod-events/status/broken`)
    t.equal(bad.status, 400)
    t.match(bad.body.message, /status: unknown status/)
  })

  await t.test('problems: open ones by fingerprint, with alert and recovery outcomes', async (t) => {
    interface Problem {
      fingerprint: string
      severity: string
      lastSeen: string
      firstSeen: string
      occurrences: number
      alert: { outcome: string } | null
      recovery: { outcome: string } | null
    }
    const cutoff = new Date(now() - 24 * 3_600_000).toISOString()
    const byFp = new Map<string, CloudEventV1[]>()
    for (const e of classified) {
      if (dataOf(e).severity === 'info') continue
      const fp = String(dataOf(e).fingerprint)
      byFp.set(fp, [...(byFp.get(fp) ?? []), e])
    }
    const lastOf = (list: CloudEventV1[]): string => list.map(occurredAt).sort().at(-1) ?? ''
    const expectedOpen = [...byFp.entries()].filter(([, list]) => lastOf(list) >= cutoff).map(([fp]) => fp)
    const open = await all<Problem>(`${api}/problems`, '', 7)
    t.same(open.items.map((p) => p.fingerprint).sort(), expectedOpen.sort(), 'open = critical|warning seen in the last 24h')
    const everything = await all<Problem>(`${api}/problems`, 'status=all', 7)
    t.equal(everything.items.length, byFp.size)
    for (const p of everything.items) {
      const list = byFp.get(p.fingerprint) ?? []
      t.equal(p.occurrences, list.length, `occurrences of ${p.fingerprint}`)
      if (list.some((e) => dataOf(e).severity === 'critical')) t.ok(p.alert !== null, 'critical problems carry the alert outcome')
      if (list.some((e) => dataOf(e).action !== 'none')) t.ok(p.recovery !== null, 'problems with an action carry the recovery outcome')
      else t.equal(p.recovery, null)
    }
    t.ok(everything.items.every((p, i, a) => i === 0 || (a[i - 1] as Problem).lastSeen >= p.lastSeen), 'most recently seen first')
    const warning = await all<Problem>(`${api}/problems`, 'status=all&severity=warning&namespace=shop', 50)
    t.ok(warning.items.length > 0 && warning.items.every((p) => p.severity === 'warning'))
  })

  await t.test('stats count per severity, category and namespace over a window', async (t) => {
    const r = await getJson<Stats>(`${api}/stats?since=2026-11-26T12:00:00Z&until=2026-11-27T12:00:00Z`)
    t.equal(r.status, 200)
    const inWindow = classified.filter((e) => occurredAt(e) >= '2026-11-26T12:00:00.000Z' && occurredAt(e) < '2026-11-27T12:00:00.000Z')
    t.equal(r.body.total, inWindow.length)
    const tally = (f: (e: CloudEventV1) => string): Record<string, number> => {
      const out: Record<string, number> = {}
      for (const e of inWindow) out[f(e)] = (out[f(e)] ?? 0) + 1
      return out
    }
    t.same(r.body.bySeverity, { critical: 0, warning: 0, info: 0, ...tally((e) => String(dataOf(e).severity)) })
    t.same(r.body.byCategory, tally((e) => String(dataOf(e).category)))
    t.same(r.body.byNamespace, tally((e) => String(dataOf(e).namespace)))
    t.equal(r.body.buckets.reduce((n, b) => n + b.critical + b.warning + b.info, 0), inWindow.length)
    t.ok(r.body.buckets.length <= 24 && r.body.buckets.length > 0)
    t.equal(r.body.byType['dev.kubereflex.alert.sent'], sent.filter((e) => e.type === 'dev.kubereflex.alert.sent' && occurredAt(e) >= '2026-11-26T12:00:00.000Z' && occurredAt(e) < '2026-11-27T12:00:00.000Z').length)
  })

  await t.test('malformed queries are 400 with a message naming the parameter', async (t) => {
    const cases: [string, RegExp][] = [
      ['events?since=yesterday', /since: 'yesterday' is not an RFC 3339 timestamp/],
      ['events?until=2026-13-01T00:00:00Z', /until: .* is not an RFC 3339 timestamp/],
      ['events?severity=fatal', /severity: unknown severity 'fatal'/],
      ['events?limit=0', /limit: must be an integer from 1 to 500/],
      ['events?limit=501', /limit: must be an integer from 1 to 500/],
      ['events?limit=ten', /limit: must be an integer from 1 to 500/],
      ['events?cursor=bm90LWEtY3Vyc29y', /cursor: is not a cursor this API issued/],
      ['events?cursor=%27%3B--', /cursor: is not a cursor this API issued/],
      ['events?namespace=shop&namespace=payments', /namespace: must be given once/],
      ['events?colour=red', /colour: unknown parameter/],
      ['events?since=2026-11-27T00:00:00Z&until=2026-11-26T00:00:00Z', /until: must not be before since/],
      ['events?namespace=%20bad%20name', /namespace: must be a Kubernetes-style name/],
      ['events?type=dev.*.alert', /type: must be an event type/],
      ['events?severity=fatal&limit=0', /severity: .*; limit: /],
      ['problems?status=closed', /status: must be 'open' or 'all'/],
      ['stats?since=3x', /since: '3x' is not an RFC 3339 timestamp/],
      ['dead-letters?code=abc', /code: must be an HTTP status code/],
    ]
    // Cursors that do not fit the list they are sent to, and times PostgreSQL cannot read: 400 before any
    // SQL runs (they were cast in SQL and failed there as 500s, or paged from a meaningless position).
    const nextOf = async (path: string): Promise<string> => {
      const r = await getJson<Page<unknown>>(`${api}/${path}`)
      if (r.body.nextCursor === null) throw new Error(`${path}: no next page`)
      return encodeURIComponent(r.body.nextCursor)
    }
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
    const eventsCursor = await nextOf('events?limit=1')
    const problemsCursor = await nextOf('problems?status=all&limit=1')
    const at = '2026-11-27T09:30:00.123456Z'
    cases.push(
      [`events?cursor=${problemsCursor}`, /cursor: is not a cursor this API issued/],
      [`pod-events?cursor=${problemsCursor}`, /cursor: is not a cursor this API issued/],
      [`dead-letters?cursor=${problemsCursor}`, /cursor: is not a cursor this API issued/],
      [`problems?cursor=${eventsCursor}`, /cursor: is not a cursor this API issued/],
      [`pod-events?cursor=${eventsCursor}`, /cursor: is not a cursor this API issued/],
      [`events?cursor=${b64(['abc', '1'])}`, /cursor: is not a cursor this API issued/],
      [`events?cursor=${b64(['events', 'abc', '1'])}`, /cursor: is not a cursor this API issued/],
      [`events?cursor=${b64([at, '12345678901234567890'])}`, /cursor: is not a cursor this API issued/],
      [`events?cursor=${b64(['events', at, '12345678901234567890'])}`, /cursor: is not a cursor this API issued/],
      [`problems?cursor=${b64(['problems', '0000-01-01T00:00:00.000000Z', 'f'])}`, /cursor: is not a cursor this API issued/],
      ['events?since=999999d', /since: '999999d' reaches back before the year 1/],
      ['stats?since=999999d', /since: '999999d' reaches back before the year 1/],
      ['events?until=0000-01-01T00:00:00Z', /until: '0000-01-01T00:00:00Z' is outside the years 1 to 9999/],
      ['dead-letters?until=0000-01-01T00:00:00Z', /until: '0000-01-01T00:00:00Z' is outside the years 1 to 9999/],
      ['events?q=a%00b', /q: must not contain a NUL character/],
      ['events?fingerprint=%00', /fingerprint: must not contain a NUL character/],
    )
    for (const [path, message] of cases) {
      const r = await getJson<{ code: string; message: string; problems: unknown[] }>(`${api}/${path}`)
      t.equal(r.status, 400, path)
      t.equal(r.body.code, 'QUERY_INVALID')
      t.match(r.body.message, message, path)
    }
    t.equal((await getJson<Page<unknown>>(`${api}/events?limit=1&cursor=${eventsCursor}`)).status, 200, 'a cursor on its own list still pages')
    t.equal((await getJson<Page<unknown>>(`${api}/problems?status=all&limit=1&cursor=${problemsCursor}`)).status, 200)
    const unknown = await getJson<{ code: string }>(`${api}/nothing-here`)
    t.equal(unknown.status, 404)
  })
})

eachBackend(t, '/stats counts exactly the window /events lists, partial hours included', async (t, backend) => {
  const { url } = await startPersist(t, backend, { now })
  const at = (hhmm: string): Date => new Date(`2026-11-27T${hhmm}:00Z`)
  const occurrences = [
    classified({ namespace: 'shop', name: 'cart-7d9f8c6b5-x2x9q', reason: 'BackOff', message: 'Back-off restarting failed container app in pod cart-7d9f8c6b5-x2x9q_shop', severity: 'critical', category: 'crashloop', at: at('10:10') }),
    classified({ namespace: 'payments', name: 'ledger-5c7d9b8f4-q8w2k', reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503', severity: 'warning', category: 'probe', at: at('10:50') }),
    classified({ namespace: 'shop', name: 'cart-7d9f8c6b5-x2x9q', reason: 'Pulled', message: 'Successfully pulled image "registry.example.com/shop/cart:1.4.2" in 1.2s', severity: 'info', category: 'lifecycle', at: at('11:30') }),
    classified({ namespace: 'payments', name: 'ledger-5c7d9b8f4-q8w2k', reason: 'OOMKilling', message: 'Memory cgroup out of memory: Killed process 4211 (java)', severity: 'critical', category: 'oom', at: at('12:05') }),
    classified({ namespace: 'shop', name: 'web-6b8d7c9f5-k2m4n', reason: 'Unhealthy', message: 'Liveness probe failed: Get "http://10.244.1.7:8080/healthz": context deadline exceeded', severity: 'warning', category: 'probe', at: at('13:00') }),
  ]
  const events = [...occurrences, alertReply(occurrences[0] as CloudEventV1, 'sent', at('10:30'))]
  for (const e of events) {
    const { headers, body } = toBinary(e)
    t.equal((await fetch(url, { method: 'POST', headers, body })).status, 202)
  }
  const windows: [string, string, string | undefined, number][] = [
    ['10:20', '10:40', undefined, 0], // inside one hour, between two events
    ['10:05', '12:30', undefined, 4], // partial, whole, partial
    ['10:50', '13:00', undefined, 3], // since on an event (inclusive), until on one (exclusive)
    ['11:00', '13:00', undefined, 2], // whole hours only
    ['10:15', '11:45', undefined, 2], // two partial hours, no whole one
    ['10:05', '12:30', 'payments', 2],
  ]
  for (const [from, to, namespace, expected] of windows) {
    const since = at(from).toISOString()
    const until = at(to).toISOString()
    const ns = namespace === undefined ? '' : `&namespace=${namespace}`
    const name = `${from}–${to}${ns}`
    const stats = await getJson<Stats>(`${url}/api/v1/stats?since=${since}&until=${until}${ns}`)
    const listed = await getJson<Page<Item>>(`${url}/api/v1/events?type=dev.kubereflex.event.classified&since=${since}&until=${until}${ns}&limit=500`)
    t.equal(stats.status, 200, name)
    const items = listed.body.items
    t.equal(items.length, expected, `${name}: /events lists ${expected}`)
    t.equal(stats.body.total, expected, `${name}: total`)
    t.same([stats.body.since, stats.body.until], [since, until], `${name}: the window echoed is the window counted`)
    const tally = (f: (e: Item) => string): Record<string, number> => {
      const out: Record<string, number> = {}
      for (const e of items) out[f(e)] = (out[f(e)] ?? 0) + 1
      return out
    }
    t.same(stats.body.bySeverity, { critical: 0, warning: 0, info: 0, ...tally((e) => String(e.severity)) }, `${name}: bySeverity`)
    t.same(stats.body.byCategory, tally((e) => String(e.category)), `${name}: byCategory`)
    t.same(stats.body.byNamespace, tally((e) => String(e.namespace)), `${name}: byNamespace`)
    const perHour = new Map<string, { bucket: string; critical: number; warning: number; info: number }>()
    for (const e of items) {
      const bucket = `${e.occurredAt.slice(0, 13)}:00:00.000000Z`
      const counts = perHour.get(bucket) ?? { bucket, critical: 0, warning: 0, info: 0 }
      counts[e.severity as 'critical' | 'warning' | 'info']++
      perHour.set(bucket, counts)
    }
    t.same(stats.body.buckets, [...perHour.values()].sort((a, b) => a.bucket.localeCompare(b.bucket)), `${name}: buckets hold the window's events only`)
  }
  const quiet = await getJson<Stats>(`${url}/api/v1/stats?since=${at('10:20').toISOString()}&until=${at('10:40').toISOString()}`)
  t.same(quiet.body.byType, { 'dev.kubereflex.alert.sent': 1 }, 'byType over the same exact window')
})

eachBackend(t, 'bearer-token auth on the API when PERSIST_API_TOKEN is set', async (t, backend) => {
  const { url } = await startPersist(t, backend, { apiToken: 's3cret-token', now })
  const api = `${url}/api/v1`
  t.equal((await fetch(`${api}/events`)).status, 401, 'no token')
  const wrong = await fetch(`${api}/events`, { headers: { authorization: 'Bearer s3cret-tokem' } })
  t.equal(wrong.status, 401, 'wrong token')
  t.equal(wrong.headers.get('www-authenticate'), 'Bearer realm="kube-reflex"')
  t.equal((await fetch(`${api}/events`, { headers: { authorization: 'Basic czNjcmV0LXRva2Vu' } })).status, 401, 'not a bearer token')
  t.equal((await fetch(`${api}/events`, { headers: { authorization: 'Bearer s3cret-token' } })).status, 200, 'right token')
  t.equal((await fetch(`${api}/openapi.json`)).status, 200, 'the API description stays public')
  t.equal((await fetch(`${url}/health/readiness`)).status, 200)
})
