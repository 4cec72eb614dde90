import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_POLICY, PolicyError, actionGate, isProtectedNamespace, loadPolicyFile, namespaceGate, optInOf, parsePolicy } from '../../../functions/auto-recover/policy.js'

void t.test('defaults are safe: every action needs an opt-in, 3 attempts per workload per hour', (t) => {
  const p = parsePolicy('', 'empty.yaml')
  t.same(p, DEFAULT_POLICY)
  t.equal(p.targetBudget.max, 3)
  t.equal(p.targetBudget.windowSeconds, 3600)
  t.same(optInOf(p, { namespace: 'shop', kind: 'Deployment', name: 'web' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
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
  t.same(optInOf(p, { namespace: 'team-a', kind: 'StatefulSet', name: 'api' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
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
  t.same(optInOf(p, target, off, on), { optedIn: false, reason: 'OPTED_OUT' }, 'a workload opts out of an opted-in namespace')
  t.same(optInOf(p, target, on, off), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.same(optInOf(p, target, undefined, off), { optedIn: false, reason: 'OPTED_OUT' }, "namespace 'false' beats the policy's namespace list")
  t.same(optInOf(p, target, { labels: { 'kube-reflex.dev/auto-recover': 'TRUE' } }, undefined), { optedIn: true, by: 'deployment kube-reflex.dev/auto-recover' })
  t.same(optInOf(p, { ...target, namespace: 'other' }, { labels: { 'kube-reflex.dev/auto-recover': 'yes-please' } }, { labels: { 'kube-reflex.dev/auto-recover': 'true' } }), {
    optedIn: true,
    by: 'namespace kube-reflex.dev/auto-recover',
  }, 'a value other than true/false is no mark')
  t.same(optInOf(p, { ...target, namespace: 'other' }, undefined, undefined), { optedIn: false, reason: 'NOT_OPTED_IN' })
  const file = join(t.testdir(), 'p.yaml')
  writeFileSync(file, 'cooldownSeconds: 0\n')
  t.equal(loadPolicyFile(file).cooldownSeconds, 0)
  t.end()
})

void t.test('a policy file that cannot be read is a PolicyError naming the file, not a bare errno', (t) => {
  const dir = t.testdir()
  t.throws(() => loadPolicyFile(dir), { name: 'PolicyError', message: /cannot read the policy file \(EISDIR: a directory/ })
  t.throws(() => loadPolicyFile(join(dir, 'missing.yaml')), { name: 'PolicyError', message: /missing\.yaml: cannot read the policy file \(ENOENT\)/ })
  t.end()
})
