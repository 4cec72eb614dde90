import t from 'tap'
import { planRollback } from '../../../functions/auto-recover/rollback.js'
import { deployment, replicaSet } from './fixtures.js'

void t.test('rolls back to the previous revision when the newest one fails and the previous still serves', (t) => {
  const d = deployment('web', { revision: 3 })
  const rss = [replicaSet('web', 'aaaa1', 1, { ready: 0 }), replicaSet('web', 'bbbb2', 2, { ready: 2 }), replicaSet('web', 'cccc3', 3, { ready: 0 })]
  const plan = planRollback(d, rss, 'cccc3')
  if (!plan.ok) throw new Error(plan.detail)
  t.equal(plan.fromRevision, 3)
  t.equal(plan.toRevision, 2, 'the previous revision, not the oldest')
  t.equal(plan.toReplicaSet, 'web-bbbb2')
  t.equal(plan.template.spec?.containers[0]?.image, 'ghcr.io/acme/web:2')
  t.same(plan.template.metadata?.labels, { app: 'web' }, 'pod-template-hash is stripped like kubectl rollout undo')
  t.ok(planRollback(d, rss.toReversed(), undefined).ok, 'order of the list does not matter; a Deployment-level failure needs no hash')
  t.end()
})

void t.test('refuses when the failure is not on the newest revision', (t) => {
  const plan = planRollback(deployment('web'), [replicaSet('web', 'aaaa1', 1, { ready: 2 }), replicaSet('web', 'bbbb2', 2)], 'aaaa1')
  t.match(plan, { ok: false, reason: 'NOT_NEWEST_REVISION' })
  t.end()
})

void t.test('refuses when there is no healthy previous revision', (t) => {
  t.match(planRollback(deployment('web'), [replicaSet('web', 'aaaa1', 1)], 'aaaa1'), { ok: false, reason: 'NO_HEALTHY_REVISION', detail: /only revision/ })
  t.match(planRollback(deployment('web'), [replicaSet('web', 'aaaa1', 1, { ready: 0 }), replicaSet('web', 'bbbb2', 2)], 'bbbb2'), {
    ok: false,
    reason: 'NO_HEALTHY_REVISION',
    detail: /previous revision 1 \(web-aaaa1\) has no ready pods/,
  })
  t.match(planRollback(deployment('web'), [], undefined), { ok: false, reason: 'NO_HEALTHY_REVISION' })
  t.end()
})

void t.test("ignores ReplicaSets of other owners and ones without a revision", (t) => {
  const rss = [replicaSet('web', 'aaaa1', 1, { ready: 2, ownerUid: 'someone-else' }), replicaSet('web', 'zzzz9', undefined, { ready: 2 }), replicaSet('web', 'bbbb2', 2)]
  t.match(planRollback(deployment('web'), rss, 'bbbb2'), { ok: false, reason: 'NO_HEALTHY_REVISION', detail: /only revision/ })
  t.end()
})
