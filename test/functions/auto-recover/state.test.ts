// Guardrail state is durable and shared: cooldown and budgets hold across a restart (the embedded
// database reopened from disk) and across two concurrent instances (two connection pools on one
// PostgreSQL server, i.e. two replicas), because work on a target is serialized by an advisory lock.
import t from 'tap'
import pg from 'pg'
import type { V1Namespace } from '@kubernetes/client-node'
import { isolatedDatabaseUrl } from '../../helpers/pg-schema.js'
import type { Test } from 'tap'
import { openDatabase } from '../../../shared/db.js'
import { handle } from '../../../functions/auto-recover/handler.js'
import { openRecoveryState, type RecoveryState } from '../../../functions/auto-recover/state.js'
import { FakeCluster } from './fake-cluster.js'
import { classifiedEvent, ctxOf, dataOf, makeDeps, useCluster } from './helpers.js'
import { crashLoopStatus, deployment, healthyStatus, pod, replicaSet } from './fixtures.js'

const POLICY = 'optIn: { namespaces: [shop] }\ncooldownSeconds: 0\ntargetBudget: { max: 2, windowSeconds: 3600 }'

function crashing(c = new FakeCluster()): FakeCluster {
  c.addNamespace('shop')
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

// One event, one answer: the reply stored first is the one every delivery gets, also when a delivery's
// decision under the target's lock meets one stored without it (first writer wins).
async function firstWriterWins(t: Test, state: RecoveryState): Promise<void> {
  const event = classifiedEvent()
  const first = { ...event, id: 'first' }
  const second = { ...event, id: 'second' }
  t.equal(await state.recordDecision(event.source, event.id, first, new Date()), first, 'stored')
  const attempt = { target: `t-${event.id}`, fingerprint: 'f', action: 'restart-pod', mode: 'enforce', outcome: 'performed', at: new Date(), event }
  const got = await state.withTarget(attempt.target, async (locked) => {
    await locked.recordAttempt(attempt)
    return locked.recordDecision(event.source, event.id, second, new Date())
  }, { input: event })
  t.same(got, first, 'under the lock: the decision stored first is returned')
  t.same(await state.decision(event.source, event.id), first, 'and stays the stored one')
  const history = await state.withTarget(attempt.target, (locked) => locked.decisionAndHistory(event.source, event.id, attempt.target, 'enforce', new Date(Date.now() - 60_000)))
  t.equal(history.history.targetAttempts, 1, 'the attempt made is recorded all the same: it counts against the budget')
  t.same(await state.recordDecision(event.source, event.id, second, new Date()), first, 'without the lock too')
}

void t.test('a decision recorded under the lock returns the one stored first (embedded database)', async (t) => {
  useCluster(`first-writer-pglite-${process.pid}`)
  const state = await openRecoveryState(await openDatabase({ dataDir: t.testdir() }))
  t.teardown(() => state.close())
  await firstWriterWins(t, state)
})

void t.test('a decision recorded under the lock returns the one stored first (PostgreSQL)', async (t) => {
  const url = await isolatedDatabaseUrl(t)
  useCluster(`first-writer-pg-${process.pid}`)
  const state = await openRecoveryState(await openDatabase({ databaseUrl: url }))
  t.teardown(() => state.close())
  await firstWriterWins(t, state)
})

/** A FakeCluster whose evictions wait until released, and say when one has started. */
class HeldEviction extends FakeCluster {
  private release: () => void = () => undefined
  private readonly held = new Promise<void>((resolve) => (this.release = resolve))
  readonly started: Promise<void>
  private start: () => void = () => undefined
  constructor() {
    super()
    this.started = new Promise<void>((resolve) => (this.start = resolve))
  }
  override async evictPod(namespace: string, name: string, dryRun: boolean): Promise<void> {
    this.start()
    await this.held
    return super.evictPod(namespace, name, dryRun)
  }
  letGo(): void {
    this.release()
  }
}

void t.test('two replicas delivered one event at once give one answer (PostgreSQL)', async (t) => {
  const url = await isolatedDatabaseUrl(t)
  useCluster(`same-event-${process.pid}-${Date.now()}`)
  const sep = url.includes('?') ? '&' : '?'
  const appB = `replica-b-${process.pid}-${Date.now()}`
  const a = await openRecoveryState(await openDatabase({ databaseUrl: `${url}${sep}application_name=replica-a-${process.pid}` }))
  const b = await openRecoveryState(await openDatabase({ databaseUrl: `${url}${sep}application_name=${appB}` }))
  const observer = new pg.Client({ connectionString: url })
  await observer.connect()
  t.teardown(async () => {
    await observer.end()
    await a.close()
    await b.close()
  })
  const deps = (state: RecoveryState, cluster: FakeCluster): ReturnType<typeof makeDeps> => makeDeps(state, { mode: 'enforce', policyYaml: POLICY, cluster: () => Promise.resolve(cluster) })
  /** 'waiting' once replica b waits for an advisory lock, 'answered' if it answers first (polled; tap's timeout bounds it). */
  const bWaitsForALock = async (answer: Promise<unknown>): Promise<'waiting' | 'answered'> => {
    let answered = false
    void answer.finally(() => (answered = true)).catch(() => undefined)
    while (!answered) {
      const r = await observer.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory'", [appB])
      if (r.rowCount !== null && r.rowCount > 0) return 'waiting'
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return 'answered'
  }

  // Replica a sees the pod failing and is evicting it (holding its locks) when replica b, delivered the same
  // event, sees the pod gone healthy. b must wait for a's decision and answer with it.
  const acting = new HeldEviction()
  crashing(acting)
  const healed = crashing()
  healed.addPod(pod('web-7d4b9c6f5-x2k9p', { owner: { kind: 'ReplicaSet', name: 'web-7d4b9c6f5' }, hash: '7d4b9c6f5', statuses: [healthyStatus()] }))
  const event = classifiedEvent()
  const first = handle(event, ctxOf(deps(a, acting)))
  await acting.started
  const second = handle(structuredClone(event), ctxOf(deps(b, healed)))
  t.equal(await bWaitsForALock(second), 'waiting', 'b waits for a while a acts')
  acting.letGo()
  const [ra, rb] = await Promise.all([first, second])
  t.equal(dataOf(ra).reason, 'ACTION_APPLIED')
  t.same(rb, ra, 'b answers with a\'s decision')
  t.same(await b.decision(event.source, event.id), ra, 'which is the stored one')
  t.equal(acting.calls.length + healed.calls.length, 1, 'one eviction')

  // The other order: b decides first (the pod healed) while a, which saw it failing, has not taken its
  // lock yet. a then finds b's decision under the lock and neither acts nor answers differently.
  let arrive: () => void = () => undefined
  const arrived = new Promise<void>((resolve) => (arrive = resolve))
  let proceed: () => void = () => undefined
  const proceeding = new Promise<void>((resolve) => (proceed = resolve))
  class Paused extends FakeCluster {
    override async readNamespace(name: string): Promise<V1Namespace | null> {
      arrive()
      await proceeding
      return super.readNamespace(name)
    }
  }
  const late = crashing(new Paused())
  const again = classifiedEvent()
  const slow = handle(again, ctxOf(deps(a, late)))
  await arrived
  const fast = await handle(structuredClone(again), ctxOf(deps(b, healed)))
  t.equal(dataOf(fast).reason, 'PROBLEM_GONE')
  proceed()
  t.same(await slow, fast, 'a answers with b\'s decision')
  t.same(late.calls, [], 'and does not act')
})
