import t from 'tap'
import { classify } from '../../cli/commands/classify.js'
import { captureIO } from '../helpers/io.js'

t.test('the bundled demo scenario: every line classified, the redelivery spotted', async (t) => {
  const io = captureIO()
  t.equal(await classify([], io), 0)
  const summary = /(\d+) events read: (\d+) critical, (\d+) warning, (\d+) info, (\d+) without a finding, (\d+) redelivered, (\d+) invalid/.exec(io.err())
  t.ok(summary, io.err())
  const [, read, critical, warning, info, none, dup, invalid] = (summary ?? []).map(Number)
  t.equal(read, (critical ?? 0) + (warning ?? 0) + (info ?? 0) + (none ?? 0) + (dup ?? 0) + (invalid ?? 0), 'every line accounted for')
  t.equal(dup, 1)
  t.equal(invalid, 0)
  t.ok((critical ?? 0) >= 10)
  for (const category of ['image', 'crashloop', 'oom', 'node', 'config', 'probe', 'scheduling', 'rollout', 'eviction', 'volume']) {
    t.match(io.out(), new RegExp(` ${category} `), `the story shows ${category}`)
  }
})

t.test('--json prints classified CloudEvents; bad lines are reported with file:line', async (t) => {
  const dir = t.testdir({
    'rec.ndjson': [
      JSON.stringify({ apiVersion: 'v1', kind: 'Event', metadata: { name: 'a', namespace: 'ns' }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'ns' }, reason: 'FailedMount', message: 'MountVolume.SetUp failed', type: 'Warning' }),
      '{not json',
      JSON.stringify({ specversion: '1.0', source: '/x', type: 'y' }),
      JSON.stringify({ hello: 'world' }),
      '',
    ].join('\n'),
  })
  const io = captureIO()
  t.equal(await classify(['--json', `${dir}/rec.ndjson`], io), 1, 'exit 1 when lines were invalid')
  const lines = io.out().trim().split('\n')
  t.equal(lines.length, 1)
  const event = JSON.parse(lines[0] ?? '{}') as { type: string; category: string }
  t.equal(event.type, 'dev.kubereflex.event.classified')
  t.equal(event.category, 'volume')
  t.match(io.err(), /rec\.ndjson:2: not valid JSON/)
  t.match(io.err(), /rec\.ndjson:3: invalid CloudEvent: id is required/)
  t.match(io.err(), /rec\.ndjson:4: neither a CloudEvent/)
})

t.test('a missing file and a bad rules file are clear errors', async (t) => {
  const io = captureIO()
  t.equal(await classify(['/nonexistent.ndjson'], io), 1)
  t.match(io.err(), /cannot read \/nonexistent\.ndjson: no such file or directory/)
  const rules = captureIO()
  t.equal(await classify(['--rules', '/nonexistent-rules.yaml'], rules), 2)
  t.match(rules.err(), /CLASSIFY_RULES_FILE names a file that does not exist: \/nonexistent-rules\.yaml/)
  await t.rejects(classify(['--bogus'], captureIO()), /Unknown option/)
})
