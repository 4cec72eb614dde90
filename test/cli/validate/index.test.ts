import { existsSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { loadCrdsFromDirectory, validateBundle } from '../../../cli/validate/index.js'
import { copyBundle, edit, lineOf, repoRoot, specsDir } from './helpers.js'

void t.test('every shipped manifest passes', async (t) => {
  const result = await validateBundle({ root: repoRoot })
  t.same(result.problems, [], 'no problems')
  t.ok(result.files >= 40, `checked ${result.files} files`)
  t.ok(result.documents >= result.files, 'every file yields at least one document')
})

const crdDir = path.join(specsDir, 'knative-crds')
const noCrds = existsSync(crdDir) ? false : `upstream CRDs not present at ${crdDir} (../shared/specs is only there in CI/dev checkouts)`

void t.test('shipped Knative manifests also validate against the upstream CRDs', { skip: noCrds }, async (t) => {
  const crds = await loadCrdsFromDirectory(crdDir)
  const result = await validateBundle({ root: repoRoot, crds })
  t.same(result.problems, [])
  // Broker, 5 Triggers, ApiServerSource, PingSource, KafkaSource
  t.ok(result.crdChecked >= 9, `${result.crdChecked} custom resources checked against CRDs`)
})

void t.test('the CRD check catches what only the CRD knows', { skip: noCrds }, async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  // retry is an int32 in the Broker CRD; a string passes YAML but not the API server.
  const text = await edit(dir, 'knative/base/broker.yaml', 'retry: 5', 'retry: "5"')
  const result = await validateBundle({ root: dir, crds: await loadCrdsFromDirectory(crdDir) })
  const crd = result.problems.filter((p) => p.rule === 'crd')
  t.ok(crd.length > 0, 'a CRD problem')
  t.match(crd[0], { file: 'knative/base/broker.yaml', line: lineOf(text, 'retry:'), message: /^CRD brokers\.eventing\.knative\.dev eventing\.knative\.dev\/v1: spec\.delivery\.retry: must be integer/ })
})

interface BrokenCase {
  readonly name: string
  readonly file: string
  readonly from: string | RegExp
  readonly to: string
  readonly rule: string
  readonly message: RegExp
  /** Text on the line the problem must point at (in the edited file, or `reportFile`). */
  readonly marker?: string
  readonly reportFile?: string
}

const corpus: readonly BrokenCase[] = [
  { name: 'non-ISO-8601 backoffDelay', file: 'triggers/alert.yaml', from: 'backoffDelay: PT1S', to: 'backoffDelay: 1s', rule: 'duration', message: /backoffDelay "1s" is not an ISO-8601 duration/, marker: 'backoffDelay' },
  { name: 'Trigger on a Broker that is not shipped', file: 'triggers/persist.yaml', from: 'broker: kube-reflex', to: 'broker: default', rule: 'trigger-broker', message: /Broker "default" is not shipped/, marker: 'broker: default' },
  { name: 'subscriber that resolves to nothing', file: 'triggers/alert.yaml', from: '      name: kube-reflex-alert\n', to: '      name: kube-reflex-alerts\n', rule: 'reference', message: /subscriber Service kube-reflex-alerts \(serving\.knative\.dev\/v1\) is not shipped/, marker: '^    ref:' },
  { name: 'filter attribute name with upper case', file: 'triggers/auto-recover.yaml', from: 'type: dev.kubereflex.event.classified', to: 'Type: dev.kubereflex.event.classified', rule: 'trigger-filter', message: /invalid key name "Type"/, marker: 'Type:' },
  { name: 'two dialects in one filter expression', file: 'triggers/persist.yaml', from: '    - prefix:\n        type: dev.kubereflex.\n', to: '    - prefix:\n        type: dev.kubereflex.\n      suffix:\n        type: .classified\n', rule: 'trigger-filter', message: /multiple dialects found/, marker: '- prefix:' },
  { name: 'Trigger delivery without the dead-letter sink drops failed events', file: 'triggers/alert.yaml', from: '    deadLetterSink:\n      ref:\n        apiVersion: serving.knative.dev/v1\n        kind: Service\n        name: kube-reflex-persist\n      uri: /dead-letter\n', to: '', rule: 'trigger-dead-letter', message: /without a deadLetterSink here, events that exhaust their retries are dropped/, marker: 'delivery:' },
  { name: 'CESQL that does not parse', file: 'triggers/auto-recover.yaml', from: '    - not:\n', to: '    - cesql: "action = \'none\' AND"\n    - not:\n', rule: 'trigger-filter', message: /cesql/i, marker: 'cesql:' },
  { name: 'empty exact value Knative would ignore', file: 'triggers/auto-recover.yaml', from: 'action: none', to: 'action: ""', rule: 'trigger-filter', message: /empty value; Knative ignores this filter/, marker: 'action: ""' },
  { name: 'Trigger no event can reach (type typo)', file: 'triggers/auto-recover.yaml', from: 'type: dev.kubereflex.event.classified', to: 'type: dev.kubereflex.event.clasified', rule: 'trigger-unreachable', message: /no event type produced in the bundle passes this filter/, marker: 'filters:' },
  { name: 'typo in a Trigger field', file: 'triggers/classify.yaml', from: '  subscriber:', to: '  subscribr:', rule: 'schema', message: /unknown field "subscribr" in spec/, marker: 'subscribr:' },
  { name: 'backoffPolicy outside the enum', file: 'knative/base/broker.yaml', from: 'backoffPolicy: exponential', to: 'backoffPolicy: exponentail', rule: 'schema', message: /spec\.delivery\.backoffPolicy: must be one of "linear", "exponential"/, marker: 'backoffPolicy' },
  { name: 'wildcard verb in a ClusterRole', file: 'knative/base/rbac/classify.yaml', from: 'verbs: [get, list]\n  - apiGroups: [apps]', to: 'verbs: ["*"]\n  - apiGroups: [apps]', rule: 'rbac-wildcard', message: /wildcard "\*" in verbs/, marker: 'verbs: ["*"]' },
  { name: 'secrets in a ClusterRole', file: 'knative/base/rbac/auto-recover.yaml', from: 'resources: [replicasets]', to: 'resources: [replicasets, secrets]', rule: 'rbac-secrets', message: /never needs to read Secrets/, marker: 'resources: [replicasets, secrets]' },
  { name: 'ApiServerSource resource its RBAC does not cover', file: 'knative/base/sources/apiserversource.yaml', from: 'verbs: [get, list, watch]\n---', to: 'verbs: [get, list]\n---', rule: 'rbac-missing', message: /may not watch deployments \(apps\/v1\)/, reportFile: 'knative/base/sources/apiserversource.yaml', marker: '- apiVersion: apps/v1' },
  { name: 'cron schedule with four fields', file: 'knative/base/sources/pingsource.yaml', from: 'schedule: "*/10 * * * *"', to: 'schedule: "*/10 * * *"', rule: 'schedule', message: /expected 5 fields/, marker: 'schedule:' },
  { name: 'min-scale that is not a number', file: 'knative/base/services/alert.yaml', from: 'min-scale: "0"', to: 'min-scale: "zero"', rule: 'scale', message: /min-scale must be a non-negative integer/, marker: 'autoscaling.knative.dev/min-scale' },
  { name: 'Service using a ServiceAccount that is not shipped', file: 'knative/base/services/persist.yaml', from: 'serviceAccountName: kube-reflex-persist', to: 'serviceAccountName: kube-reflex-db', rule: 'reference', message: /ServiceAccount "kube-reflex-db" is not shipped/, marker: 'serviceAccountName' },
  { name: 'func.yaml drifting from its Service', file: 'functions/classify/func.yaml', from: 'max: 10', to: 'max: 20', rule: 'func-drift', message: /scale\.max is 20 here but 10 in knative\/base\/services\/classify\.yaml/, marker: 'max: 20' },
  { name: 'func.yaml that does not scale to zero', file: 'functions/alert/func.yaml', from: 'min: 0', to: 'min: 1', rule: 'scale', message: /scale\.min must be 0/, marker: 'scale:' },
  { name: 'alert on a metric the code does not export', file: 'knative/monitoring/prometheusrule.yaml', from: 'rate(events_received_total[5m])', to: 'rate(events_recieved_total[5m])', rule: 'metric-name', message: /metric "events_recieved_total" is not exported by kube-reflex \(did you mean events_received_total\?\)/, marker: 'expr: |' },
  { name: 'dashboard query on an unknown metric', file: 'knative/monitoring/grafana-dashboard.json', from: 'rate(alert_notifications_total[', to: 'rate(alert_notification_total[', rule: 'metric-name', message: /metric "alert_notification_total" is not exported/, marker: 'alert_notification_total' },
  { name: 'kustomization naming a missing file', file: 'knative/base/kustomization.yaml', from: '  - broker.yaml', to: '  - brokers.yaml', rule: 'kustomize', message: /resources entry "brokers\.yaml" does not exist/, marker: 'brokers.yaml' },
  { name: 'YAML syntax error', file: 'triggers/alert.yaml', from: 'retry: 8', to: 'retry: [8', rule: 'yaml', message: /^YAML: /, reportFile: 'triggers/alert.yaml' },
  { name: 'promtool test for an alert that does not exist', file: 'knative/monitoring/tests/recovery.test.yaml', from: 'alertname: KubeReflexRecoveryFailing\n        exp_alerts: []', to: 'alertname: KubeReflexRecoveryFails\n        exp_alerts: []', rule: 'alert-test', message: /alert "KubeReflexRecoveryFails" is not defined in any PrometheusRule/, marker: 'KubeReflexRecoveryFails' },
]

for (const broken of corpus) {
  void t.test(`broken: ${broken.name}`, async (t) => {
    const dir = t.testdir()
    await copyBundle(dir)
    const text = await edit(dir, broken.file, broken.from, broken.to)
    const result = await validateBundle({ root: dir })
    const hits = result.problems.filter((p) => p.rule === broken.rule && broken.message.test(p.message))
    t.ok(hits.length > 0, `expected a ${broken.rule} problem matching ${String(broken.message)}; got:\n${result.problems.map((p) => `${p.file}:${p.line} ${p.message} [${p.rule}]`).join('\n')}`)
    const hit = hits[0]
    if (hit !== undefined) {
      t.equal(hit.file, broken.reportFile ?? broken.file)
      if (broken.marker !== undefined) t.equal(hit.line, lineOf(text, broken.marker), `points at the line with ${broken.marker}`)
    }
  })
}

void t.test('broken: an alert without a promtool test', async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  await rm(path.join(dir, 'knative/monitoring/tests/recovery.test.yaml'))
  const result = await validateBundle({ root: dir })
  const missing = result.problems.filter((p) => p.rule === 'alert-test').map((p) => p.message)
  t.equal(missing.length, 2)
  t.match(missing.join('\n'), /alert "KubeReflexRecoveryBudgetExhausted" has no promtool unit test/)
  t.match(missing.join('\n'), /alert "KubeReflexRecoveryFailing" has no promtool unit test/)
})

void t.test('broken: a function nobody subscribes to', async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  await rm(path.join(dir, 'triggers/persist.yaml'))
  // The kustomization lists the file; it is the only Trigger for persist.
  await edit(dir, 'triggers/Kustomization', '  - persist.yaml\n', '')
  const result = await validateBundle({ root: dir })
  t.match(result.problems, [{ file: 'knative/base/services/persist.yaml', rule: 'unsubscribed', message: /no Trigger subscribes Service "kube-reflex-persist"/ }])
})

void t.test('an unknown kind is reported, not ignored', async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  await writeFile(path.join(dir, 'knative/extra.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n')
  const result = await validateBundle({ root: dir })
  t.match(result.problems, [{ file: 'knative/extra.yaml', line: 2, rule: 'schema', message: /Deployment \(apps\/v1\) is not a kind kube-reflex ships/ }])
})

void t.test('paths narrow what is reported, references still resolve against the bundle', async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  await edit(dir, 'knative/base/broker.yaml', 'backoffDelay: PT0.5S', 'backoffDelay: 500ms')
  const onlyTriggers = await validateBundle({ root: dir, paths: [path.join(dir, 'triggers')] })
  t.same(onlyTriggers.problems, [], 'triggers are fine: their Broker and Services resolve')
  t.equal(onlyTriggers.files, 6)
  const all = await validateBundle({ root: dir })
  t.match(all.problems, [{ file: 'knative/base/broker.yaml', rule: 'duration' }])
})
