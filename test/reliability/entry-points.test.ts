// The bad-input corpus at the other entry points: Kafka records, replay files, the rules/routes/policy
// files, and persist's query API parameters. Expected everywhere: an error that names the problem (a
// 4xx, a ConfigError/RulesError/PolicyError naming the variable or file, a counted rejection), never a
// 5xx, an unexpected exception type, a crash or a stack trace on the terminal.
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createFunction, FUNCTION_NAMES, type FunctionName } from '../../cli/registry.js'
import { kafkaRecordToEvent, type KafkaRecordLike } from '../../broker/sources/kafka-record.js'
import { replayLineToEvent } from '../../broker/sources/replay.js'
import { toBinary } from '../../shared/cloudevent.js'
import { ConfigError } from '../../shared/config.js'
import { ReflexError } from '../../shared/errors.js'
import { silentLogger } from '../../shared/logger.js'
import { startHost } from '../helpers/host.js'
import { deepJson } from './corpus.js'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const sql = "'; DROP TABLE persist_events; --"

function tmp(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-reflex-entry-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

// Hostile file contents shared by the rules, routes and policy files.
const HOSTILE_FILES: Record<string, string> = {
  'not YAML': 'rules: [unclosed\n  - {',
  'empty': '',
  'a scalar': '42',
  'a list at the top': '- a\n- b\n',
  'wrong types': 'rules: 7\nroutes: "x"\nsinks: true\nactions: [1, 2]\nbudgets: {global: "many"}\n',
  '__proto__ keys': '__proto__: {polluted: yes}\nconstructor: {prototype: {polluted: yes}}\nrules:\n  - __proto__: {polluted: yes}\n',
  'SQL-looking strings': `rules:\n  - name: "${sql}"\n    match: {reason: "${sql}"}\nroutes:\n  - name: "${sql}"\n`,
  'billion laughs (YAML aliases)': ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...'bcdefghi'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].join('\n'),
  'deeply nested': `x: ${deepJson(20_000)}\n`,
  'control characters': 'rules:\n  - name: "\u0007\u001b[2J"\n    match: {reason: "\u0000"}\n',
  'invalid UTF-8': Buffer.from([0x72, 0x75, 0x6c, 0x65, 0x73, 0x3a, 0x20, 0xff, 0xfe, 0x0a]).toString('latin1'),
}

const FILE_VARIABLES: readonly { fn: FunctionName; variable: string }[] = [
  { fn: 'classify', variable: 'CLASSIFY_RULES_FILE' },
  { fn: 'alert', variable: 'ALERT_ROUTES_FILE' },
  { fn: 'auto-recover', variable: 'RECOVERY_POLICY_FILE' },
]

void t.test('rules, routes and policy files: hostile content is refused with an error naming the file', async (t) => {
  const dir = tmp(t)
  for (const { fn, variable } of FILE_VARIABLES) {
    const cases: [string, string][] = Object.entries(HOSTILE_FILES).map(([name, text], i) => {
      const file = path.join(dir, `${fn}-${i}.yaml`)
      writeFileSync(file, text, name === 'invalid UTF-8' ? 'latin1' : 'utf8')
      return [name, file]
    })
    cases.push(['a path that does not exist (path tricks)', path.join(dir, '..', '..', 'nonexistent', '..', 'etc', 'kube-reflex-missing.yaml')], ['a directory', dir])
    for (const [name, file] of cases) {
      const env = { KUBE_REFLEX_DATA_DIR: path.join(dir, 'data'), [variable]: file }
      let outcome: unknown
      try {
        const created = await createFunction(fn, env, silentLogger)
        await created.close?.()
        outcome = 'accepted'
      } catch (err) {
        outcome = err
      }
      if (outcome === 'accepted') {
        // Some hostile texts are valid enough (an empty file, ignored unknown keys): accepted is fine,
        // as long as nothing was polluted.
        t.pass(`${variable} ${name}: accepted as valid`)
        continue
      }
      t.ok(outcome instanceof Error && !(outcome instanceof TypeError) && !(outcome instanceof RangeError), `${variable} ${name}: a domain error, not ${outcome instanceof Error ? outcome.constructor.name : typeof outcome}`)
      const message = outcome instanceof Error ? outcome.message : ''
      if (name === 'a directory' || name.startsWith('a path that does not exist')) {
        // A path that is not a readable file is a configuration error naming both the variable and the path.
        t.ok(outcome instanceof ConfigError, `${variable} ${name}: a ConfigError`)
        t.ok(message.includes(variable) && message.includes(file), `${variable} ${name}: the message names the variable and the path (${message.slice(0, 160)})`)
        if (name === 'a directory') t.match(message, /directory/, `${variable} ${name}: the message says it is a directory`)
      } else {
        t.ok(message.includes(variable) || message.includes(path.basename(file)), `${variable} ${name}: the message names the variable or file (${message.slice(0, 160)})`)
      }
    }
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
})

const recordArb: fc.Arbitrary<KafkaRecordLike> = fc.record({
  topic: fc.constantFrom('k8s-events', '../../etc', ''),
  partition: fc.integer({ min: -1, max: 1000 }),
  offset: fc.oneof(fc.bigInt({ min: 0n, max: 1n << 62n }).map(String), fc.string({ maxLength: 10 })),
  // Kafka record timestamps are int64 on the wire and kafkajs hands them over as numeric strings.
  timestamp: fc.oneof(fc.nat().map(String), fc.constantFrom('-1', '', 'yesterday', '99999999999999999999', '8640000000000001')),
  key: fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
  value: fc.option(
    fc.oneof(
      fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
      fc.jsonValue({ maxDepth: 5 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.constantFrom(Buffer.from(`{"__proto__":{"polluted":"yes"},"kind":"Event","reason":"${sql}"}`), Buffer.from([0xff, 0xfe, 0x00])),
    ),
  ),
  headers: fc.dictionary(
    fc.constantFrom('ce_specversion', 'ce_id', 'ce_source', 'ce_type', 'ce_time', 'ce_Bad_Name', 'content-type', 'x-trace', '__proto__'),
    fc.oneof(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)), fc.constantFrom('1.0', 'application/cloudevents+json', 'application/json')),
    { maxKeys: 6 },
  ),
})

void t.test('Kafka records: mapped or refused with EVENT_INVALID, and classify answers every mapped one without a 5xx', async (t) => {
  const dir = tmp(t)
  const classify = await createFunction('classify', { KUBE_REFLEX_DATA_DIR: dir }, silentLogger)
  const host = await startHost(t, classify)
  let mapped = 0
  let refused = 0
  let failure = ''
  await fc.assert(
    fc.asyncProperty(recordArb, async (record) => {
      let event
      try {
        event = kafkaRecordToEvent(record, { namespace: 'kube-reflex', name: 'kube-reflex-kafka' })
      } catch (err) {
        if (err instanceof ReflexError && err.status === 400) {
          refused++
          return
        }
        throw err
      }
      mapped++
      const { headers, body } = toBinary(event)
      const res = await fetch(host.url, { method: 'POST', headers, body })
      await res.arrayBuffer()
      if (res.status >= 500) throw new Error(`classify answered ${res.status} for a mapped Kafka record`)
    }),
    { numRuns: 300 },
  ).catch((err: unknown) => {
    failure = err instanceof Error ? err.message.slice(0, 300) : String(err)
  })
  t.equal(failure, '', 'every Kafka record mapped or refused, no 5xx')
  t.ok(mapped > 0, `records mapped ${mapped}, refused ${refused}`)
  // Not yet checked: a value nested 50 000 deep (docs/RELIABILITY.md, finding 6).
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
})

const REPLAY_LINES = [
  '',
  'not json',
  '{"truncated": ',
  'null',
  '42',
  '"a string"',
  '[1,2]',
  '{}',
  '{"specversion":"1.0","id":"","source":"/x","type":"t"}',
  '{"specversion":"1.0","id":"x","source":"/x","type":"t","time":"yesterday"}',
  '{"specversion":"1.0","id":"x","source":"/x","type":"t","Bad_Ext":"1"}',
  '{"__proto__":{"polluted":"yes"},"specversion":"1.0","id":"p","source":"/x","type":"t"}',
  '{"apiVersion":"v1","kind":"Event","metadata":{"__proto__":{"polluted":"yes"},"name":"../../etc/passwd"}}',
  `{"apiVersion":"v1","kind":"${sql}","metadata":{"name":"${sql}"}}`,
  deepJson(100_000),
  '\u0000\u0001\u001b[31m',
  Buffer.from([0xff, 0xfe, 0x7b, 0x7d]).toString('latin1'),
]

void t.test('replay lines: every malformed line is an error with a reason, never an exception', async (t) => {
  for (const line of REPLAY_LINES) {
    let r
    try {
      r = replayLineToEvent(line, new Set(), 'https://kubernetes.default.svc')
    } catch (err) {
      t.fail(`replay line ${JSON.stringify(line.slice(0, 60))} threw ${err instanceof Error ? err.message : String(err)}`)
      continue
    }
    if ('error' in r) t.ok(r.error.length > 0, `${JSON.stringify(line.slice(0, 40))}: ${r.error}`)
    else t.ok(typeof r.event.id === 'string' && r.event.id !== '', `${JSON.stringify(line.slice(0, 40))}: a CloudEvent with an id`)
  }
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? '')), (line) => {
      const r = replayLineToEvent(line, new Set(), 'https://kubernetes.default.svc')
      return 'error' in r ? r.error.length > 0 : typeof r.event.id === 'string'
    }),
    { numRuns: 500 },
  )
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
})

void t.test('kube-reflex dev --replay of a hostile file: counted rejections, exit 1, no stack trace', async (t) => {
  const dir = tmp(t)
  const good = JSON.stringify({ specversion: '1.0', id: 'good-1', source: '/reliability', type: 'dev.knative.apiserver.resource.add', datacontenttype: 'application/json', data: { apiVersion: 'v1', kind: 'Event', metadata: { name: 'web.1', namespace: 'shop' }, involvedObject: { kind: 'Pod', name: 'web-1', namespace: 'shop' }, reason: 'BackOff', message: 'Back-off restarting failed container web in pod web-1_shop(1)', type: 'Warning', count: 1 } })
  const file = path.join(dir, 'hostile.ndjson')
  writeFileSync(file, [...REPLAY_LINES.filter((l) => !l.includes('\n')), good].join('\n'), 'latin1')
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'cli', 'bin.ts'), 'dev', '--replay', file, '--once', '--json', '--data-dir', path.join(dir, 'data'), '--port', '0'], {
    cwd: repo,
    env: { ...process.env, LOG_LEVEL: 'silent', DATABASE_URL: '', KUBECONFIG: '', KAFKA_BROKERS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 1, 'exit 1: the run had rejected lines')
  t.notMatch(err, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace on stderr')
  const summary = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { received?: number; errors?: number }
  t.ok((summary.errors ?? 0) > 0, `rejected lines are counted as errors (${summary.errors ?? '?'})`)
  t.ok((summary.received ?? 0) >= 1, 'the valid line still went through')
})

void t.test("persist's query API: hostile parameters get a 400 naming the parameter, never a 5xx", async (t) => {
  const dir = tmp(t)
  const mounts = []
  for (const name of FUNCTION_NAMES.filter((n) => n === 'persist')) mounts.push({ fn: await createFunction(name, { KUBE_REFLEX_DATA_DIR: dir }, silentLogger), path: '/persist' })
  const host = await startHost(t, mounts)
  const api = `${host.url}/persist/api/v1`
  const refused: [string, string][] = [
    ['/events?severity=' + encodeURIComponent(sql), 'severity'],
    ['/events?namespace=' + encodeURIComponent(sql), 'namespace'],
    ['/events?limit=-1', 'limit'],
    ['/events?limit=1e9', 'limit'],
    ['/events?limit=' + '9'.repeat(400), 'limit'],
    ['/events?since=yesterday', 'since'],
    ['/events?since=2026-01-01T00:00:00Z&until=2025-01-01T00:00:00Z', 'until'],
    ['/events?cursor=' + encodeURIComponent('../../etc/passwd'), 'cursor'],
    ['/events?cursor=' + 'A'.repeat(10_000), 'cursor'],
    ['/events?type=' + encodeURIComponent('dev.*.*; DROP'), 'type'],
    ['/events?namespace=a&namespace=b', 'namespace'],
    ['/events?__proto__[polluted]=yes', '__proto__'],
    ['/events?constructor[prototype][polluted]=yes', 'constructor'],
    ['/events?name=' + encodeURIComponent('\u0000\u001b[2J'), 'name'],
    ['/events?kind=' + encodeURIComponent('%00'), 'kind'],
    ['/pod-events/status/' + encodeURIComponent(sql), 'status'],
    ['/problems?status=' + encodeURIComponent('open\' OR 1=1'), 'status'],
    ['/stats?since=' + '9'.repeat(50) + 'd', 'since'],
    ['/dead-letters?code=' + encodeURIComponent(sql), 'code'],
  ]
  for (const [query, parameter] of refused) {
    const res = await fetch(`${api}${query}`)
    const body = await res.text()
    t.equal(res.status, 400, `${query.slice(0, 80)}: 400 (got ${res.status})`)
    t.match(body, parameter, `${query.slice(0, 80)}: the answer names '${parameter}'`)
  }
  const tolerated = [
    '/events?q=' + encodeURIComponent(sql),
    '/events?q=' + encodeURIComponent('%_\\'),
    '/events/' + encodeURIComponent('../../etc') + '/' + encodeURIComponent('passwd'),
    '/events/' + encodeURIComponent(sql) + '/' + encodeURIComponent(sql),
    '/pod-events/' + encodeURIComponent('..'),
    '/../../../../etc/passwd',
  ]
  for (const query of tolerated) {
    const res = await fetch(`${api}${query}`)
    await res.arrayBuffer()
    t.ok(res.status < 500, `${query.slice(0, 80)}: no 5xx (got ${res.status})`)
  }
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype not polluted')
  const tables = await fetch(`${api}/stats`)
  t.equal(tables.status, 200, 'the store still answers (no table dropped)')
})
