// `npm run bench -- --dev-persist-skip …`: the harness's copy of triggers/ with persist's filter narrowed. The
// copy must load in dev's broker as the shipped files do, change persist's Trigger only, and leave out exactly
// the types asked for.
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { persistTriggersWithout } from '../../bench/dev-triggers.js'
import { loadTriggers, type TriggerManifest } from '../../broker/manifests.js'
import { compileTriggerFilter } from '../../broker/filters.js'
import { renderMarkdown, type DevResult } from '../../bench/report.js'
import { spread } from '../../bench/harness.js'

const shipped = resolve(import.meta.dirname, '..', '..', 'triggers')
const SKIPPED = ['dev.kubereflex.alert.suppressed', 'dev.kubereflex.recovery.skipped']
const event = (type: string): Record<string, unknown> => ({ specversion: '1.0', id: 'e-1', source: '/kube-reflex/test', type })
const persistOf = (triggers: readonly TriggerManifest[]): TriggerManifest => {
  const found = triggers.find((tr) => tr.subscriber.ref?.name === 'kube-reflex-persist')
  if (found === undefined) throw new Error('no persist Trigger')
  return found
}

t.test('persist leaves out the given types and keeps everything else it received', async (t) => {
  const dir = persistTriggersWithout(SKIPPED, shipped, t.testdir())
  const before = await loadTriggers(shipped)
  const after = await loadTriggers(dir)
  t.same(
    after.map((tr) => tr.name),
    before.map((tr) => tr.name),
    'the same Triggers',
  )
  const original = compileTriggerFilter(persistOf(before).spec)
  const narrowed = compileTriggerFilter(persistOf(after).spec)
  for (const type of SKIPPED) {
    t.equal(original(event(type)), true, `${type} reached persist before`)
    t.equal(narrowed(event(type)), false, `${type} is left out`)
  }
  for (const type of ['dev.kubereflex.event.classified', 'dev.kubereflex.alert.sent', 'dev.kubereflex.alert.failed', 'dev.kubereflex.recovery.planned', 'dev.kubereflex.recovery.failed']) {
    t.equal(narrowed(event(type)), true, `${type} still reaches persist`)
  }
  t.equal(narrowed(event('dev.knative.apiserver.resource.update')), false, 'what persist never received it still does not')
  for (const tr of after.filter((x) => x.name !== persistOf(after).name)) {
    t.same(tr.spec, before.find((b) => b.name === tr.name)?.spec, `${tr.name} unchanged`)
  }
  t.same(persistOf(after).spec.delivery, persistOf(before).spec.delivery, "persist's delivery unchanged")
})

t.test('a persist Trigger written with the older filter.attributes form is refused, not rewritten', async (t) => {
  // Knative ignores `filter` once `filters` is set, and attributes' "empty value = present" has no exact twin.
  const from = t.testdir({
    'persist.yaml': `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: p, namespace: ns}
spec:
  broker: b
  filter: {attributes: {source: /kube-reflex/alert}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: kube-reflex-persist}}
`,
  })
  t.throws(() => persistTriggersWithout(['dev.kubereflex.alert.suppressed'], from, join(from, 'out')), /persist's Trigger in persist\.yaml uses `filter`; only a `filters` list can be narrowed/)
})

t.test('usage errors', async (t) => {
  const out = t.testdir()
  t.throws(() => persistTriggersWithout([], shipped, out), /at least one/)
  t.throws(() => persistTriggersWithout(['dev.knative.apiserver.resource.add'], shipped, out), /not a type persist receives/)
  const noPersist = t.testdir()
  mkdirSync(join(noPersist, 'in'))
  writeFileSync(
    join(noPersist, 'in', 'alert.yaml'),
    'apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: a}\nspec: {broker: b, subscriber: {ref: {kind: Service, name: kube-reflex-alert}}}\n',
  )
  t.throws(() => persistTriggersWithout(SKIPPED, join(noPersist, 'in'), join(noPersist, 'out')), /no Trigger .* subscribes kube-reflex-persist/)
})

t.test('the report shows the other configuration beside the shipped one, with no verdict of its own', async (t) => {
  const dev = (workload: string, rates: number[], variant?: number[]): DevResult => ({
    status: 'measured',
    workload,
    events: 5000,
    eventsPerSecond: spread(rates),
    ...(variant === undefined ? {} : { variant: { label: "persist's Trigger leaving out dev.kubereflex.alert.suppressed", eventsPerSecond: spread(variant) } }),
  })
  const md = renderMarkdown({ subjects: [], ratios: [], dev: dev('storm', [600, 700], [900, 1000]), devMixed: dev('mixed', [1500]), scenarios: [], soak: { status: 'not-measured', reason: 'off' } })
  const rows = md.split('\n').filter((l) => l.includes('`kube-reflex dev` end to end'))
  t.equal(rows.length, 3, 'storm, its variant, mixed')
  t.match(rows[0], /storm: every input critical\) \| events\/s \| 650 \| ≥ 5,000 events\/s \| \*\*no\*\* \|/)
  t.match(rows[1], /with persist's Trigger leaving out dev\.kubereflex\.alert\.suppressed, each run right after the one above \| events\/s \| 950 \(1\.46× the shipped configuration\) \| — \| — \|/)
  t.notMatch(rows[2], /leaving out/, 'no variant row where none was measured')
})
