// Guardrail state is durable and shared: cooldown and budgets hold across a restart (the embedded
// database reopened from disk) and across two concurrent instances (two connection pools on one
// PostgreSQL server, i.e. two replicas), because work on a target is serialized by an advisory lock.
import t from 'tap'
import type { Test } from 'tap'
import { openDatabase } from '../../../shared/db.js'
import { handle } from '../../../functions/auto-recover/handler.js'
import { openRecoveryState, type RecoveryState } from '../../../functions/auto-recover/state.js'
import { FakeCluster } from './fake-cluster.js'
import { classifiedEvent, ctxOf, dataOf, makeDeps, useCluster } from './helpers.js'
import { crashLoopStatus, deployment, pod, replicaSet } from './fixtures.js'

const POLICY = 'optIn: { namespaces: [shop] }\ncooldownSeconds: 0\ntargetBudget: { max: 2, windowSeconds: 3600 }'

function crashing(): FakeCluster {
  const c = new FakeCluster().addNamespace('shop')
  c.addWorkload('Deployment', deployment('web'))
  c.addWorkload('ReplicaSet', replicaSet('web', '7d4b9c6f5', 2))
  c.addPod(pod('web-7d4b9c6f5-x2k9p', { owner: { kind: 'ReplicaSet', name: 'web-7d4b9c6f5' }, hash: '7d4b9c6f5', statuses: [crashLoopStatus()] }))
  return c
}

async function decide(state: RecoveryState, cluster: FakeCluster): Promise<string> {
  const r = await handle(classifiedEvent(), ctxOf(makeDeps(state, { mode: 'enforce', policyYaml: POLICY, cluster: () => Promise.resolve(cluster) })))
  return String(dataOf(r).reason)
}

async function concurrently(t: Test, a: RecoveryState, b: RecoveryState): Promise<void> {
  const cluster = crashing()
  cluster.delayMs = 50
  const reasons = await Promise.all([decide(a, cluster), decide(b, cluster), decide(a, cluster), decide(b, cluster), decide(a, cluster)])
  t.same(reasons.filter((r) => r === 'ACTION_APPLIED').length, 2, `exactly the budget was spent: ${reasons.join(', ')}`)
  t.same(reasons.filter((r) => r === 'TARGET_BUDGET_EXHAUSTED').length, 3)
  t.equal(cluster.calls.length, 2, 'two evictions, never more')
}

void t.test('cooldown and budget survive a restart (embedded database reopened from disk)', async (t) => {
  useCluster('restart')
  const dir = t.testdir()
  const cluster = crashing()
  const first = await openRecoveryState(await openDatabase({ dataDir: dir }))
  t.equal(await decide(first, cluster), 'ACTION_APPLIED')
  t.equal(await decide(first, cluster), 'ACTION_APPLIED')
  await first.close() // the process "restarts": PGlite is closed and opened again from its directory
  const second = await openRecoveryState(await openDatabase({ dataDir: dir }))
  t.teardown(() => second.close())
  t.equal(await decide(second, cluster), 'TARGET_BUDGET_EXHAUSTED', 'the budget spent before the restart still counts')
  t.equal(cluster.calls.length, 2)
  const cooled = makeDeps(second, { mode: 'enforce', policyYaml: 'optIn: { namespaces: [shop] }\ncooldownSeconds: 600\ntargetBudget: { max: 10, windowSeconds: 3600 }', cluster: () => Promise.resolve(cluster) })
  t.match(dataOf(await handle(classifiedEvent(), ctxOf(cooled))), { reason: 'COOLDOWN' }, 'and so does the cooldown')
})

void t.test('concurrent events for one target in one instance are serialized (embedded database)', async (t) => {
  useCluster('one-instance')
  const state = await openRecoveryState(await openDatabase({ dataDir: t.testdir() }))
  t.teardown(() => state.close())
  await concurrently(t, state, state)
})

const url = process.env.DATABASE_URL
const noPostgres = url === undefined || url === '' ? 'DATABASE_URL not set: start PostgreSQL with `eval "$(npm run -s services -- start postgres)"` (test-services layer)' : false
void t.test('two instances on one PostgreSQL server never exceed the budget together', { skip: noPostgres }, async (t) => {
  if (url === undefined) throw new Error('unreachable: skipped without DATABASE_URL')
  useCluster(`replicas-${process.pid}-${Date.now()}`)
  const sep = url.includes('?') ? '&' : '?'
  // Two pools (the database handle is shared per URL in a process, so the URLs differ): two replicas.
  const a = await openRecoveryState(await openDatabase({ databaseUrl: `${url}${sep}application_name=replica-a` }))
  const b = await openRecoveryState(await openDatabase({ databaseUrl: `${url}${sep}application_name=replica-b` }))
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  await concurrently(t, a, b)
  const cluster = crashing()
  t.equal(await decide(b, cluster), 'TARGET_BUDGET_EXHAUSTED', 'replica b sees what replica a spent')
})
