// Pure pieces: configuration, the record a CloudEvent becomes, query parameter validation, cursors and the
// in-memory filter. (The group committer's batching and poison isolation: test/shared/batch.test.ts.)
import t from 'tap'
import { ConfigError } from '../../../shared/config.js'
import { ReflexError } from '../../../shared/errors.js'
import { loadConfig, matchesFilter, parseEventsQuery, toJsonEvent, toRecord } from '../../../functions/persist/index.js'
import { decodeCursor, encodeCursor } from '../../../functions/persist/query-params.js'
import { alertReply, classified, recoveryReply } from './fixtures.js'

const AT = new Date('2026-11-27T09:30:00Z')
const oom = classified({ namespace: 'payments', name: 'ledger-5c7d9b8f4-q8w2k', workload: 'ledger', reason: 'OOMKilling', message: 'Memory cgroup out of memory: Killed process 4211 (java)', severity: 'critical', category: 'oom', action: 'rollout-restart', at: AT })

void t.test('loadConfig: defaults, validation naming the variable', (t) => {
  const c = loadConfig({})
  t.equal(c.retentionDays, 30)
  t.equal(c.dataDir, '.kube-reflex')
  t.equal(c.apiToken, undefined)
  t.equal(c.archiveTopic, undefined)
  t.ok(Object.isFrozen(c))
  const k = loadConfig({ KAFKA_BROKERS: 'a:9092, b:9092', KAFKA_ARCHIVE_TOPIC: 'archive', PERSIST_RETENTION_DAYS: '7' })
  t.same(k.kafkaBrokers, ['a:9092', 'b:9092'])
  t.equal(k.retentionDays, 7)
  t.throws(() => loadConfig({ PERSIST_RETENTION_DAYS: '0' }), /PERSIST_RETENTION_DAYS must be an integer from 1 to 3650/)
  t.throws(() => loadConfig({ KAFKA_ARCHIVE_TOPIC: 'archive' }), ConfigError)
  t.throws(() => loadConfig({ KAFKA_ARCHIVE_TOPIC: 'archive' }), /KAFKA_ARCHIVE_TOPIC is set but KAFKA_BROKERS is not/)
  t.end()
})

void t.test('toRecord: columns of classified events and of alert/recovery replies', (t) => {
  const r = toRecord(oom, new Date())
  t.match(r, { recordKind: 'classified', severity: 'critical', category: 'oom', action: 'rollout-restart', reason: 'OOMKilling', namespace: 'payments', kind: 'Pod', name: 'ledger-5c7d9b8f4-q8w2k', occurredAt: AT.toISOString(), fingerprint: oom.fingerprint })
  const a = toRecord(alertReply(oom, 'failed', new Date(AT.getTime() + 5000)), new Date())
  t.match(a, { recordKind: 'alert', outcome: 'failed', namespace: 'payments', kind: 'Deployment', name: 'ledger', fingerprint: oom.fingerprint, severity: 'critical' })
  const rc = toRecord(recoveryReply(oom, 'skipped', AT), new Date())
  t.match(rc, { recordKind: 'recovery', outcome: 'skipped', action: 'restart-pod' })
  const received = new Date('2026-11-27T10:00:00Z')
  const other = toRecord({ specversion: '1.0', id: '1', source: '/x', type: 'dev.kubereflex.other', data: Buffer.from('hi') }, received)
  t.match(other, { recordKind: 'other', occurredAt: received.toISOString() })
  t.same(JSON.parse(other.json), { specversion: '1.0', id: '1', source: '/x', type: 'dev.kubereflex.other', data_base64: 'aGk=' }, 'binary data stored as data_base64')
  t.same(JSON.parse(r.json), toJsonEvent(oom), 'the stored text is the JSON event format')
  const sparse = toRecord({ specversion: '1.0', id: '2', source: '/x', type: 'dev.kubereflex.other', partitionkey: undefined, data: { n: 1 } }, received)
  t.equal(sparse.json, '{"specversion":"1.0","id":"2","source":"/x","type":"dev.kubereflex.other","data":{"n":1}}', 'an undefined attribute is left out')
  t.throws(() => toRecord({ ...oom, data: 'text' }, received), { code: 'EVENT_DATA_INVALID', status: 400 })
  t.end()
})

void t.test('parseEventsQuery: typed filters; every problem in one 400', (t) => {
  const now = Date.parse('2026-11-27T12:00:00Z')
  const { filter, page } = parseEventsQuery({ severity: 'Critical,warning', category: 'oom', since: '90m', until: '2026-11-27T13:00:00+01:00', limit: '10' }, now)
  t.same(filter, { severity: ['critical', 'warning'], category: ['oom'], since: '2026-11-27T10:30:00.000Z', until: '2026-11-27T12:00:00.000Z' })
  t.same(page, { limit: 10, cursor: undefined })
  try {
    parseEventsQuery({ severity: 'loud', limit: '1000', since: 'soon' }, now)
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof ReflexError && err.status === 400)
    t.same((err as ReflexError).problems?.map((p) => (p as { parameter: string }).parameter).sort(), ['limit', 'severity', 'since'])
  }
  t.end()
})

void t.test('cursors round-trip on the list that issued them and reject anything else', (t) => {
  const c = encodeCursor('events', '2026-11-27T09:30:00.123456Z', '42')
  t.same(decodeCursor('events', c), ['2026-11-27T09:30:00.123456Z', '42'])
  t.same(decodeCursor('problems', encodeCursor('problems', '2026-11-27T09:30:00.123456Z', '3f2a9c')), ['2026-11-27T09:30:00.123456Z', '3f2a9c'], "/problems' tiebreak is a fingerprint")
  t.same(decodeCursor('events', encodeCursor('events', '0001-01-01T00:00:00.000000Z', '9223372036854775807')), ['0001-01-01T00:00:00.000000Z', '9223372036854775807'], 'the largest bigint, the earliest year')
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const bad: [string, string][] = [
    ['', 'empty'],
    ['!!', 'not base64url'],
    [b64([1, 2]), 'not strings'],
    [b64({ a: 1 }), 'not a list'],
    [Buffer.from('not json').toString('base64url'), 'not JSON'],
    [b64(['2026-11-27T09:30:00.123456Z', '42']), 'untagged'],
    [c.replace(/./, 'x'), 'tampered'],
    [encodeCursor('problems', '2026-11-27T09:30:00.123456Z', '42'), "another list's cursor"],
    [encodeCursor('dead-letters', '2026-11-27T09:30:00.123456Z', '42'), "another list's cursor"],
    [encodeCursor('events', 'abc', '1'), 'key not a timestamp'],
    [encodeCursor('events', '2026-11-27T09:30:00Z', '1'), 'key not as the database prints it'],
    [encodeCursor('events', '2026-02-30T09:30:00.000000Z', '1'), 'no such day'],
    [encodeCursor('events', '0000-01-01T00:00:00.000000Z', '1'), 'year 0'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', '9223372036854775808'), 'tiebreak past the bigint range'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', '12345678901234567890'), 'a 20-digit tiebreak'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', '3f2a9c'), 'tiebreak not a number'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', '-1'), 'tiebreak negative'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', ''), 'tiebreak empty'],
    [encodeCursor('events', '2026-11-27T09:30:00.123456Z', '1e3'), 'tiebreak not an integer literal'],
  ]
  for (const [cursor, why] of bad) t.equal(decodeCursor('events', cursor), undefined, why)
  t.equal(decodeCursor('problems', encodeCursor('problems', '2026-11-27T09:30:00.123456Z', '')), undefined, 'an empty fingerprint')
  t.equal(decodeCursor('problems', encodeCursor('problems', '2026-11-27T09:30:00.123456Z', 'a\u0000b')), undefined, 'a NUL in the fingerprint')
  t.equal(decodeCursor('problems', c), undefined, "an /events cursor on /problems")
  t.end()
})

void t.test('times outside the years 1 to 9999, or on days that do not exist, are a 400', (t) => {
  const now = Date.parse('2026-11-27T12:00:00Z')
  const problem = (q: Record<string, string>): string => {
    try {
      parseEventsQuery(q, now)
    } catch (err) {
      if (err instanceof ReflexError && err.status === 400) return err.message
      throw err
    }
    return 'accepted'
  }
  t.match(problem({ since: '999999d' }), /since: '999999d' reaches back before the year 1/)
  t.match(problem({ until: '0000-01-01T00:00:00Z' }), /until: '0000-01-01T00:00:00Z' is outside the years 1 to 9999/)
  t.match(problem({ since: '0001-01-01T00:30:00+01:00' }), /since: .* is outside the years 1 to 9999/, 'year 0 once in UTC')
  t.match(problem({ until: '9999-12-31T23:30:00-01:00' }), /until: .* is outside the years 1 to 9999/, 'year 10000 once in UTC')
  t.match(problem({ since: '2026-02-30T00:00:00Z' }), /since: '2026-02-30T00:00:00Z' is not an RFC 3339 timestamp/, 'not rolled over to March 2')
  t.match(problem({ q: 'a\u0000b' }), /q: must not contain a NUL character/)
  t.same(parseEventsQuery({ since: '0001-01-01T00:00:00Z', until: '9999-12-31T23:59:59.999Z' }, now).filter, { since: '0001-01-01T00:00:00.000Z', until: '9999-12-31T23:59:59.999Z' }, 'the edges themselves are fine')
  t.same(parseEventsQuery({ since: '2028-02-29T00:00:00Z' }, now).filter.since, '2028-02-29T00:00:00.000Z', 'a leap day is a day')
  t.end()
})

void t.test('matchesFilter agrees with the query semantics', (t) => {
  const r = toRecord(oom, new Date())
  const now = Date.parse('2026-11-27T12:00:00Z')
  const f = (q: Record<string, string>): boolean => matchesFilter(r, parseEventsQuery(q, now).filter)
  t.ok(f({ namespace: 'payments', severity: 'critical,warning', category: 'oom,crashloop', reason: 'OOMKilling', kind: 'Pod' }))
  t.ok(f({ type: 'dev.kubereflex.event.*', q: 'CGROUP OUT', since: '2026-11-27T09:30:00Z', until: '2026-11-27T09:30:01Z' }))
  t.notOk(f({ namespace: 'shop' }))
  t.notOk(f({ severity: 'warning' }))
  t.notOk(f({ until: '2026-11-27T09:30:00Z' }), 'until is exclusive')
  t.notOk(f({ type: 'dev.kubereflex.alert.*' }))
  t.notOk(f({ q: 'disk' }))
  t.ok(f({ fingerprint: String(oom.fingerprint) }), 'its own fingerprint')
  t.notOk(f({ fingerprint: `${String(oom.fingerprint)}0` }), 'another fingerprint')
  t.end()
})
