import t from 'tap'
import { join } from 'node:path'
import { ConfigError } from '../../../shared/config.js'
import { inCluster, loadConfig } from '../../../functions/auto-recover/config.js'

void t.test('defaults: dry-run, no cluster (offline planning), embedded database', (t) => {
  const c = loadConfig({}, { tokenFile: '/nonexistent/token' })
  t.equal(c.mode, 'dry-run')
  t.equal(c.kube, undefined)
  t.equal(c.policyFile, undefined)
  t.equal(c.databaseUrl, undefined)
  t.equal(c.dataDir, '.kube-reflex')
  t.ok(Object.isFrozen(c))
  t.end()
})

void t.test('cluster access: KUBECONFIG, else in-cluster when the ServiceAccount token is mounted', (t) => {
  const dir = t.testdir({ kubeconfig: 'apiVersion: v1\nkind: Config\n', token: 'x', 'policy.yaml': '' })
  const token = join(dir, 'token')
  t.same(loadConfig({ KUBECONFIG: join(dir, 'kubeconfig'), RECOVERY_MODE: 'enforce', RECOVERY_POLICY_FILE: join(dir, 'policy.yaml') }).kube, { kind: 'kubeconfig', path: join(dir, 'kubeconfig') })
  const inside = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }
  t.same(loadConfig(inside, { tokenFile: token }).kube, { kind: 'in-cluster' })
  t.equal(loadConfig(inside, { tokenFile: join(dir, 'none') }).kube, undefined, 'env vars without a token: not in a Pod')
  t.notOk(inCluster({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, token))
  t.end()
})

void t.test('every bad option is reported, by name', (t) => {
  const err = t.throws(() => loadConfig({ RECOVERY_MODE: 'apply', KUBECONFIG: '/nope', RECOVERY_POLICY_FILE: '/nope.yaml', PORT: 'x' })) as ConfigError
  t.ok(err instanceof ConfigError)
  t.equal(err.problems.length, 4)
  t.match(err.message, /RECOVERY_MODE must be one of dry-run, enforce/)
  t.match(err.message, /KUBECONFIG names a file that does not exist/)
  t.match(err.message, /RECOVERY_POLICY_FILE names a file that does not exist/)
  t.end()
})
