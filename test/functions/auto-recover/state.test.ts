// Guardrail state is durable and shared: cooldown and budgets hold across a restart (the embedded
// database reopened from disk) and across two concurrent instances (two connection pools on one
// PostgreSQL server, i.e. two replicas), because work on a target is serialized by an advisory lock.
import t from 'tap'
import { isolatedDatabaseUrl } from '../../helpers/pg-schema.js'
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

void t.test('state older than any budget window is pruned at start-up', async (t) => {
  useCluster('prune')
  const dir = t.testdir()
  const first = await openRecoveryState(await openDatabase({ dataDir: dir }))
  const old = classifiedEvent()
  const recent = classifiedEvent()
  const at = (days: number): Date => new Date(Date.now() - days * 24 * 3600 * 1000)
  await first.recordDecision(old.source, old.id, old, at(9))
  await first.recordDecision(recent.source, recent.id, recent, at(6))
  await first.withTarget('t', (s) => s.recordAttempt({ target: 't', fingerprint: 'f', action: 'restart-pod', mode: 'enforce', outcome: 'performed', at: at(9), event: old }))
  await first.withTarget('t', (s) => s.recordAttempt({ target: 't', fingerprint: 'f', action: 'restart-pod', mode: 'enforce', outcome: 'performed', at: at(6), event: recent }))
  await first.close()
  const second = await openRecoveryState(await openDatabase({ dataDir: dir }))
  t.teardown(() => second.close())
  t.equal(await second.decision(old.source, old.id), undefined, '9 days old: gone')
  t.equal((await second.decision(recent.source, recent.id))?.id, recent.id, '6 days old: kept (a 7-day window still counts it)')
  t.equal(await second.countGlobal('enforce', at(30)), 1)
})

void t.test('concurrent events for one target in one instance are serialized (embedded database)', async (t) => {
  useCluster('one-instance')
  const state = await openRecoveryState(await openDatabase({ dataDir: t.testdir() }))
  t.teardown(() => state.close())
  await concurrently(t, state, state)
})

void t.test('two instances on one PostgreSQL server never exceed the budget together', async (t) => {
  const url = await isolatedDatabaseUrl(t)
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

// Offline decisions (no cluster configured: `dev`, replay) that arrive together are taken together on the
// embedded database (state.ts offlineBatch: reads loaded once, decisions in arrival order in memory, one
// write). The guardrails must come out exactly as one transaction per decision gives them on PostgreSQL.
const OFFLINE_POLICY = 'optIn: { namespaces: [shop] }\ncooldownSeconds: 0\ntargetBudget: { max: 2, windowSeconds: 3600 }\nglobalBudget: { max: 3, windowSeconds: 3600 }'

async function offlineBurst(state: RecoveryState): Promise<string[]> {
  const deps = makeDeps(state, { mode: 'enforce', policyYaml: OFFLINE_POLICY })
  const web = [classifiedEvent(), classifiedEvent(), classifiedEvent()]
  const api = [classifiedEvent({ workload: { kind: 'Deployment', name: 'api' } }), classifiedEvent({ workload: { kind: 'Deployment', name: 'api' } })]
  const again = web[0]
  if (again === undefined) throw new Error('no event')
  // In one turn: three for web (budget 2), two for api (global budget 3 across both), and a redelivery.
  const replies = await Promise.all([...web, ...api, again].map((e) => handle(e, ctxOf(deps))))
  return replies.map((r) => `${String(dataOf(r).target && (dataOf(r).target as { name: string }).name)}:${String(dataOf(r).reason)}`)
}

const EXPECTED_BURST = ['web:ACTION_OFFLINE', 'web:ACTION_OFFLINE', 'web:TARGET_BUDGET_EXHAUSTED', 'api:ACTION_OFFLINE', 'api:GLOBAL_BUDGET_EXHAUSTED', 'web:ACTION_OFFLINE']

void t.test('offline decisions arriving together keep every guardrail (embedded database, one batch)', async (t) => {
  useCluster(`offline-pglite-${process.pid}`)
  const state = await openRecoveryState(await openDatabase({ dataDir: t.testdir() }))
  t.teardown(() => state.close())
  t.same(await offlineBurst(state), EXPECTED_BURST, 'budgets counted in arrival order; the redelivery gets the first answer')
  // What the batch wrote is what the next decisions read (and a restart would): both budgets are spent.
  const deps = makeDeps(state, { mode: 'enforce', policyYaml: OFFLINE_POLICY })
  t.match(dataOf(await handle(classifiedEvent(), ctxOf(deps))), { reason: 'TARGET_BUDGET_EXHAUSTED' })
  t.match(dataOf(await handle(classifiedEvent({ workload: { kind: 'Deployment', name: 'db' } }), ctxOf(deps))), { reason: 'GLOBAL_BUDGET_EXHAUSTED' })
  t.equal(await state.countGlobal('offline', new Date(Date.now() - 3600_000)), 3, 'three attempts stored')
})

void t.test('the same burst on PostgreSQL (one transaction per decision) spends the same budgets', async (t) => {
  const url = await isolatedDatabaseUrl(t)
  useCluster(`offline-pg-${process.pid}-${Date.now()}`)
  const state = await openRecoveryState(await openDatabase({ databaseUrl: url }))
  t.teardown(() => state.close())
  const got = await offlineBurst(state)
  // Concurrent transactions on PostgreSQL take the locks in whatever order they reach them, so which events
  // get the budget varies there; what is spent does not.
  const first = got.slice(0, 5)
  t.equal(first.filter((r) => r.endsWith(':ACTION_OFFLINE')).length, 3, `the global budget, exactly: ${got.join(', ')}`)
  t.ok(first.filter((r) => r === 'web:ACTION_OFFLINE').length <= 2, 'never over the target budget')
  t.equal(got[5], got[0], 'the redelivery gets the first answer')
  t.equal(await state.countGlobal('offline', new Date(Date.now() - 3600_000)), 3, 'three attempts stored')
})
