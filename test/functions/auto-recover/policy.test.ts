import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_POLICY, PolicyError, actionGate, isProtectedNamespace, loadPolicyFile, namespaceGate, optInOf, parsePolicy } from '../../../functions/auto-recover/policy.js'

void t.test('defaults are safe: every action needs an opt-in, 3 attempts per workload per hour', (t) => {
  const p = parsePolicy('', 'empty.yaml')
  t.same(p, DEFAULT_POLICY)
  t.equal(p.targetBudget.max, 3)
  t.equal(p.targetBudget.windowSeconds, 3600)
  t.match(optInOf(p, { namespace: 'shop', kind: 'Deployment', name: 'web' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
  t.equal(loadPolicyFile(undefined), DEFAULT_POLICY)
  t.end()
})

void t.test('a full policy file parses; missing keys take defaults', (t) => {
  const dir = t.testdir({
    'policy.yaml': `kind: RecoveryPolicy
namespaces:
  allow: [shop, "team-*"]
  deny: [team-legacy]
optIn:
  namespaces: [shop]
  workloads:
    - { namespace: "team-*", kind: Deployment, name: api }
actions: [restart-pod, rollout-restart]
cooldownSeconds: 60
targetBudget: { max: 2, windowSeconds: 600 }
`,
  })
  const p = loadPolicyFile(join(dir, 'policy.yaml'))
  t.same(p.namespaces, { allow: ['shop', 'team-*'], deny: ['team-legacy'] })
  t.same(p.actions, ['restart-pod', 'rollout-restart'])
  t.equal(p.cooldownSeconds, 60)
  t.same(p.targetBudget, { max: 2, windowSeconds: 600 })
  t.same(p.globalBudget, DEFAULT_POLICY.globalBudget, 'unset budget keeps the default')
  t.equal(actionGate(p, 'rollback'), 'ACTION_DISABLED')
  t.equal(actionGate(p, 'restart-pod'), undefined)
  t.equal(namespaceGate(p, 'shop'), undefined)
  t.equal(namespaceGate(p, 'team-a'), undefined)
  t.equal(namespaceGate(p, 'team-legacy'), 'NAMESPACE_DENIED', 'deny wins over allow')
  t.equal(namespaceGate(p, 'other'), 'NAMESPACE_NOT_ALLOWED')
  t.same(optInOf(p, { namespace: 'team-a', kind: 'Deployment', name: 'api' }, undefined, undefined), { optedIn: true, by: 'policy optIn.workloads' })
  t.match(optInOf(p, { namespace: 'team-a', kind: 'StatefulSet', name: 'api' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
  t.same(optInOf(p, { namespace: 'shop', kind: 'Deployment', name: 'x' }, undefined, undefined), { optedIn: true, by: 'policy optIn.namespaces' })
  t.end()
})

void t.test('every problem in a bad policy is reported with the file name', (t) => {
  const err = t.throws(() =>
    parsePolicy(
      `namespaces: { allow: [Shop] }
actoins: [restart-pod]
actions: [delete-everything]
targetBudget: { max: -1 }
cooldownSeconds: soon
`,
      'bad.yaml',
    ),
  ) as PolicyError
  t.ok(err instanceof PolicyError)
  const text = err.problems.join('\n')
  t.match(text, /bad\.yaml: \(top level\): unknown field 'actoins'/)
  t.match(text, /bad\.yaml: actions\.0 must be one of restart-pod, rollout-restart, rollback/)
  t.match(text, /targetBudget must have required property 'windowSeconds'/)
  t.match(text, /targetBudget\.max must be >= 0/)
  t.match(text, /cooldownSeconds must be integer/)
  t.match(text, /namespaces\.allow\.0 must match pattern/)
  t.throws(() => parsePolicy('a: [', 'broken.yaml'), /broken\.yaml/)
  t.throws(() => parsePolicy('actions: []\nactions: []', 'dup.yaml'), /dup\.yaml/, 'duplicate keys are an error')
  t.end()
})

void t.test('protected namespaces are refused whatever the policy allows', (t) => {
  const p = parsePolicy('namespaces: { allow: ["*"] }\noptIn: { namespaces: ["*"] }', 'p.yaml')
  for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'knative-serving', 'knative-eventing']) {
    t.ok(isProtectedNamespace(ns), ns)
    t.equal(namespaceGate(p, ns), 'PROTECTED_NAMESPACE', ns)
  }
  for (const ns of ['kube-systems', 'my-kube-system', 'knative', 'default', 'kube-reflex']) t.notOk(isProtectedNamespace(ns), ns)
  t.equal(namespaceGate(p, 'default'), undefined)
  t.end()
})

void t.test('opt-in: the workload mark wins, then policy workloads, then the namespace mark, then policy namespaces', (t) => {
  const p = parsePolicy('optIn: { namespaces: [shop] }', 'p.yaml')
  const target = { namespace: 'shop', kind: 'Deployment', name: 'web' }
  const on = { annotations: { 'kube-reflex.dev/auto-recover': 'true' } }
  const off = { labels: { 'kube-reflex.dev/auto-recover': 'false' } }
  t.match(optInOf(p, target, off, on), { optedIn: false, reason: 'OPTED_OUT' }, 'a workload opts out of an opted-in namespace')
  t.same(optInOf(p, target, on, off), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.match(optInOf(p, target, undefined, off), { optedIn: false, reason: 'OPTED_OUT' }, "namespace 'false' beats the policy's namespace list")
  t.same(optInOf(p, target, { labels: { 'kube-reflex.dev/auto-recover': 'TRUE' } }, undefined), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.match(optInOf(p, { ...target, namespace: 'other' }, { labels: { 'kube-reflex.dev/auto-recover': 'yes-please' } }, { labels: { 'kube-reflex.dev/auto-recover': 'true' } }), {
    optedIn: false,
    reason: 'OPTED_OUT',
  }, 'a value other than true/false is an opt-out, not "no mark": the namespace does not opt the workload in')
  t.match(optInOf(p, { ...target, namespace: 'other' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
  const file = join(t.testdir(), 'p.yaml')
  writeFileSync(file, 'cooldownSeconds: 0\n')
  t.equal(loadPolicyFile(file).cooldownSeconds, 0)
  t.end()
})

void t.test('marks fail closed: "false" as label or annotation opts out, a value other than true/false never opts in', (t) => {
  const key = 'kube-reflex.dev/auto-recover'
  const target = { namespace: 'shop', kind: 'Deployment', name: 'web' }
  const nsOn = { labels: { [key]: 'true' } }
  const everything = parsePolicy('optIn: { namespaces: [shop], workloads: [{ namespace: shop, kind: Deployment, name: web }] }', 'p.yaml')
  const nsList = parsePolicy('optIn: { namespaces: [shop] }', 'p.yaml')
  const none = parsePolicy('', 'p.yaml')
  const out = { optedIn: false, reason: 'OPTED_OUT' }
  // The workload's own marks: the annotation no longer hides the label, and "false" in either place wins.
  for (const [annotation, label] of [
    ['yes', 'false'],
    ['flase', 'false'],
    ['', 'false'],
    ['true', 'false'],
    ['false', 'true'],
    ['False', undefined],
  ] as const) {
    const marks = { annotations: { [key]: annotation }, ...(label === undefined ? {} : { labels: { [key]: label } }) }
    t.match(optInOf(everything, target, marks, nsOn), out, `workload annotation ${JSON.stringify(annotation)}, label ${JSON.stringify(label)}: opted out`)
  }
  // A present but invalid value (misspelt, empty, "yes") opts nothing in, and nothing after it may either.
  for (const bad of ['yes', 'flase', '', 'True ', '1']) {
    for (const marks of [{ annotations: { [key]: bad } }, { labels: { [key]: bad } }, { annotations: { [key]: bad }, labels: { [key]: 'true' } }, { annotations: { [key]: 'true' }, labels: { [key]: bad } }]) {
      const where = JSON.stringify(marks)
      t.match(optInOf(everything, target, marks, nsOn), out, `workload ${where}: not opted in by the policy's workload list or the namespace`)
      t.match(optInOf(nsList, target, marks, undefined), out, `workload ${where}: not opted in by the policy's namespace list`)
    }
    // The namespace's marks, by the same rules: an invalid one does not let the policy's namespace list opt in.
    t.match(optInOf(nsList, target, undefined, { annotations: { [key]: bad } }), out, `namespace annotation ${JSON.stringify(bad)}`)
    t.match(optInOf(none, target, undefined, { annotations: { [key]: bad }, labels: { [key]: 'true' } }), out, `namespace annotation ${JSON.stringify(bad)} beside label "true"`)
  }
  t.match(optInOf(nsList, target, undefined, { annotations: { [key]: 'true' }, labels: { [key]: 'false' } }), out, 'namespace annotation "true", label "false"')
  t.match(optInOf(nsList, target, undefined, { annotations: { [key]: 'yes' }, labels: { [key]: 'false' } }), out, 'namespace annotation "yes", label "false"')
  // The reply says why.
  t.match(optInOf(none, target, { annotations: { [key]: 'yes' } }, undefined), { detail: /Deployment web.*"yes".*neither "true" nor "false"/ })
  // What still opts in: "true" in both places, or in one place with nothing in the other; the workload's own
  // "true" still wins over its namespace's opt-out, as the precedence says.
  t.match(optInOf(none, target, { annotations: { [key]: 'true' }, labels: { [key]: 'TRUE' } }, undefined), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.match(optInOf(none, target, { labels: { [key]: 'true' } }, { annotations: { [key]: 'yes' } }), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.match(optInOf(none, target, { labels: { app: 'web' }, annotations: {} }, { annotations: { [key]: 'true' }, labels: { [key]: 'true' } }), { optedIn: true, by: 'namespace kube-reflex.dev/auto-recover' })
  t.end()
})

void t.test('a policy file that cannot be read is a PolicyError naming the file, not a bare errno', (t) => {
  const dir = t.testdir()
  t.throws(() => loadPolicyFile(dir), { name: 'PolicyError', message: /cannot read the policy file \(EISDIR: a directory/ })
  t.throws(() => loadPolicyFile(join(dir, 'missing.yaml')), { name: 'PolicyError', message: /missing\.yaml: cannot read the policy file \(ENOENT\)/ })
  t.end()
})
