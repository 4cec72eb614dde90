// auto-recover against a REAL kube-apiserver (with kube-controller-manager when the layer runs it): real
// namespaces, Deployments, ReplicaSets, Pods and PDBs; pod status driven through the status subresource.
import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import type { V1ClusterRole, V1Deployment } from '@kubernetes/client-node'
import { parseAllDocuments } from 'yaml'
import { createRecoveryCluster, isDisruptionBudgetRefusal, RESTARTED_AT, type RecoveryCluster } from '../../../functions/auto-recover/cluster.js'
import { kubeStatus } from '../../../shared/kube-rest.js'
import { handle } from '../../../functions/auto-recover/handler.js'
import type { RecoveryMode } from '../../../functions/auto-recover/config.js'
import type { RecoveryState } from '../../../functions/auto-recover/state.js'
import { openDatabase } from '../../../shared/db.js'
import { openRecoveryState } from '../../../functions/auto-recover/state.js'
import { classifiedEvent, ctxOf, dataOf, makeDeps, sharedState, useCluster } from './helpers.js'
import { admin, eventually, failingStatuses, impersonating, kubeconfigFromEnv, podsOf, readyStatuses, setPodStatus, unreachable } from './kube-env.js'
import { serviceEnv } from '../../services/env.js'

// The real API server: KUBECONFIG from the environment, else started for this file by the services layer.
run(kubeconfigFromEnv() ?? (await serviceEnv('kubernetes')))

function run(kubeconfig: string): void {
  const a = admin(kubeconfig)
  const state = sharedState(t)
  let cluster: Promise<RecoveryCluster> | undefined
  const real = (): Promise<RecoveryCluster> => (cluster ??= createRecoveryCluster({ kind: 'kubeconfig', path: kubeconfig }))
  const suffix = `${process.pid}-${Date.now().toString(36)}`

  async function namespace(t: Test, name: string, optIn = true): Promise<string> {
    const ns = `${name}-${suffix}`
    await a.core.createNamespace({ body: { metadata: { name: ns, labels: optIn ? { 'kube-reflex.dev/auto-recover': 'true' } : {} } } })
    t.teardown(async () => {
      await a.core.deleteNamespace({ name: ns }).catch(() => undefined)
    })
    return ns
  }

  /** A Deployment whose pods the controllers create; returns their names once they exist. */
  async function deploy(ns: string, name: string, replicas: number, image: string): Promise<string[]> {
    await a.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          replicas,
          selector: { matchLabels: { app: name } },
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image }] } },
        },
      },
    })
    const pods = await eventually(`${replicas} pods of ${name}`, async () => {
      const p = await podsOf(a, ns, `app=${name}`)
      return p.length === replicas ? p : undefined
    })
    return pods.map((p) => p.metadata?.name ?? '')
  }

  function deps(s: RecoveryState, mode: RecoveryMode, policyYaml = 'cooldownSeconds: 0', c: () => Promise<RecoveryCluster> = real): ReturnType<typeof makeDeps> {
    return makeDeps(s, { mode, policyYaml, cluster: c })
  }

  const podEvent = (ns: string, pod: string, action: 'restart-pod' | 'rollout-restart' | 'rollback', workload = 'web'): ReturnType<typeof classifiedEvent> =>
    classifiedEvent({ namespace: ns, object: { kind: 'Pod', name: pod }, workload: { kind: 'Deployment', name: workload, inferred: true }, action })

  async function auditEvents(ns: string): Promise<string[]> {
    const list = await a.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=KubeReflexRecovery' })
    return list.items.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.message ?? ''}`)
  }

  void t.test('dry-run reaches the server but changes nothing; the decision is audited on the workload', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-dry')
    const [ok, bad] = await deploy(ns, 'web', 2, 'ghcr.io/acme/web:1.0.0')
    if (ok === undefined || bad === undefined) throw new Error('pods missing')
    await setPodStatus(a, ns, ok, readyStatuses('ghcr.io/acme/web:1.0.0'))
    const badPod = await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0'))
    const before = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'web' })

    const evict = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'dry-run')))
    t.equal(evict?.type, 'dev.kubereflex.recovery.planned')
    t.match(dataOf(evict), { reason: 'ACTION_DRY_RUN', mode: 'dry-run', offline: false, target: { namespace: ns, kind: 'Deployment', name: 'web' } })
    const restart = await handle(podEvent(ns, bad, 'rollout-restart'), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(restart), { outcome: 'planned', reason: 'ACTION_DRY_RUN', change: { kind: 'RolloutRestart' } })

    const still = await a.core.readNamespacedPod({ namespace: ns, name: bad })
    t.equal(still.metadata?.uid, badPod.metadata?.uid, 'the pod was not evicted')
    t.equal(still.metadata?.deletionTimestamp, undefined)
    const after = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'web' })
    t.equal(after.metadata?.generation, before.metadata?.generation, 'the Deployment did not change')
    t.equal(after.spec?.template.metadata?.annotations?.[RESTARTED_AT], undefined)
    const events = await eventually('two audit Events', async () => {
      const e = await auditEvents(ns)
      return e.length === 2 ? e : undefined
    })
    t.match(events.sort(), [/^Deployment\/web: restart-pod planned \(dry-run\)/, /^Deployment\/web: rollout-restart planned \(dry-run\)/])
  })

  void t.test('enforce: eviction is refused by a PodDisruptionBudget (never a delete), then happens and the ReplicaSet recreates the pod', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-evict')
    const [ok, bad] = await deploy(ns, 'web', 2, 'ghcr.io/acme/web:1.0.0')
    if (ok === undefined || bad === undefined) throw new Error('pods missing')
    await setPodStatus(a, ns, ok, readyStatuses('ghcr.io/acme/web:1.0.0'))
    await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0', true))
    await a.policy.createNamespacedPodDisruptionBudget({ namespace: ns, body: { metadata: { name: 'web' }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } } })
    await eventually('the disruption controller to process the PDB', async () => {
      const pdb = await a.policy.readNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' })
      return pdb.status?.observedGeneration === pdb.metadata?.generation ? pdb : undefined
    })

    // The refusal's shape, which tells it from API server throttling (also a 429): a DisruptionBudget cause.
    const refusal: unknown = await (await real()).evictPod(ns, bad, true).then(
      () => undefined,
      (err: unknown) => err,
    )
    t.equal(kubeStatus(refusal), 429)
    t.match((refusal as { body?: unknown }).body, { reason: 'TooManyRequests', details: { causes: [{ reason: 'DisruptionBudget', message: /The disruption budget web needs 2 healthy pods/ }] } })
    t.ok(isDisruptionBudgetRefusal(refusal), 'recognised as a PodDisruptionBudget refusal')
    const dry = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(dry), { outcome: 'skipped', reason: 'PDB_BLOCKED' }, 'dry-run eviction hits the same PDB check')
    const refused = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'enforce')))
    t.equal(refused?.type, 'dev.kubereflex.recovery.skipped')
    t.match(dataOf(refused), { reason: 'PDB_BLOCKED', detail: /disruption budget/ })
    t.equal((await a.core.readNamespacedPod({ namespace: ns, name: bad })).metadata?.deletionTimestamp, undefined, 'the pod is still there')

    await a.policy.deleteNamespacedPodDisruptionBudget({ namespace: ns, name: 'web' })
    const evicted = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'enforce')))
    t.equal(evicted?.type, 'dev.kubereflex.recovery.performed')
    t.match(dataOf(evicted), { reason: 'ACTION_APPLIED', change: { kind: 'Eviction', pod: bad }, budget: { target: { used: 1, max: 3 } } })
    await eventually('the evicted pod to be gone', async () => ((await podsOf(a, ns, 'app=web')).some((p) => p.metadata?.name === bad) ? undefined : true))
    t.pass('the evicted pod is gone')
    const replaced = await eventually('the ReplicaSet to recreate a pod', async () => {
      const p = await podsOf(a, ns, 'app=web')
      return p.length === 2 && !p.some((x) => x.metadata?.name === bad) ? p : undefined
    }, 30_000)
    t.equal(replaced.length, 2, 'kube-controller-manager recreated the evicted pod')

    const gone = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(gone), { outcome: 'skipped', reason: 'TARGET_GONE' }, 'a second event for the evicted pod does nothing')
  })

  void t.test('enforce: rollout restart stamps restartedAt; a healed pod is left alone', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-restart')
    const [bad] = await deploy(ns, 'web', 1, 'ghcr.io/acme/web:1.0.0')
    if (bad === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0'))
    const r = await handle(podEvent(ns, bad, 'rollout-restart'), ctxOf(deps(s, 'enforce')))
    t.equal(r?.type, 'dev.kubereflex.recovery.performed')
    const d = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'web' })
    t.equal(d.spec?.template.metadata?.annotations?.[RESTARTED_AT], (dataOf(r).change as { restartedAt?: string }).restartedAt)
    await setPodStatus(a, ns, bad, readyStatuses('ghcr.io/acme/web:1.0.0'))
    const healed = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(healed), { outcome: 'skipped', reason: 'PROBLEM_GONE' })
  })

  void t.test('rollback picks the previous revision when the newest one crash-loops, and refuses without a healthy one', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-rollback')
    const [v1] = await deploy(ns, 'api', 1, 'ghcr.io/acme/api:1.0.0')
    if (v1 === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, v1, readyStatuses('ghcr.io/acme/api:1.0.0'))
    await eventually('revision 1 ready', async () => {
      const rs = (await a.apps.listNamespacedReplicaSet({ namespace: ns })).items
      return rs.length === 1 && rs[0]?.status?.readyReplicas === 1 ? rs : undefined
    })
    // A new image: revision 2. maxUnavailable 0 keeps revision 1's ready pod while revision 2 fails.
    await a.apps.patchNamespacedDeployment(
      { namespace: ns, name: 'api', body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: 'ghcr.io/acme/api:2.0.0' }] },
    )
    const v2 = await eventually('a revision 2 pod', async () => (await podsOf(a, ns, 'app=api')).find((p) => p.metadata?.name !== v1)?.metadata?.name)
    await setPodStatus(a, ns, v2, failingStatuses('ghcr.io/acme/api:2.0.0'))

    const old = await handle(podEvent(ns, v1, 'rollback', 'api'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(old), { outcome: 'skipped', reason: 'PROBLEM_GONE' }, 'the revision 1 pod is healthy')
    const dry = await handle(podEvent(ns, v2, 'rollback', 'api'), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(dry), { outcome: 'planned', change: { kind: 'Rollback', fromRevision: 2, toRevision: 1 } })
    t.equal((await a.apps.readNamespacedDeployment({ namespace: ns, name: 'api' })).spec?.template.spec?.containers[0]?.image, 'ghcr.io/acme/api:2.0.0', 'dry-run did not roll back')
    // A lost race: the Deployment changes between the read the rollback is planned from and the patch. The
    // server refuses the stale version with 409 (dry-run too); the event is retried, nothing is recorded.
    const template = (await a.apps.readNamespacedDeployment({ namespace: ns, name: 'api' })).spec?.template ?? {}
    await t.rejects((await real()).rollbackDeployment(ns, 'api', '1', template, true), { code: 409, body: { reason: 'Conflict' } }, 'a stale resourceVersion is a 409 Conflict')
    const base = await real()
    const racing: RecoveryCluster = {
      ...base,
      rollbackDeployment: async (...args) => {
        await a.apps.patchNamespacedDeployment({ namespace: ns, name: 'api', body: [{ op: 'add', path: '/metadata/annotations/example.com~1touched', value: 'by someone else' }] })
        return base.rollbackDeployment(...args)
      },
    }
    const raced = podEvent(ns, v2, 'rollback', 'api')
    await t.rejects(handle(raced, ctxOf(deps(s, 'enforce', 'cooldownSeconds: 0', () => Promise.resolve(racing)))), { code: 'DOWNSTREAM_UNAVAILABLE', status: 503, retryAfterSeconds: 5 }, 'changed under us: retried')
    t.equal(await s.decision(raced.source, raced.id), undefined, 'nothing recorded: the retry decides afresh')
    t.equal((await a.apps.readNamespacedDeployment({ namespace: ns, name: 'api' })).spec?.template.spec?.containers[0]?.image, 'ghcr.io/acme/api:2.0.0', 'the lost race changed nothing')
    // The broker's redelivery reads the Deployment again and rolls back.
    const r = await handle(structuredClone(raced), ctxOf(deps(s, 'enforce')))
    t.equal(r?.type, 'dev.kubereflex.recovery.performed')
    t.match(dataOf(r), { change: { kind: 'Rollback', fromRevision: 2, toRevision: 1 } })
    const d: V1Deployment = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'api' })
    t.equal(d.spec?.template.spec?.containers[0]?.image, 'ghcr.io/acme/api:1.0.0', 'the template is revision 1 again')
    t.equal(d.spec?.template.metadata?.labels?.['pod-template-hash'], undefined, 'no pod-template-hash copied into the Deployment')
    await eventually('the deployment controller to adopt revision 1 as revision 3', async () => {
      const dd = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'api' })
      return dd.metadata?.annotations?.['deployment.kubernetes.io/revision'] === '3' ? true : undefined
    })
    t.pass('revision 1 became revision 3, as with kubectl rollout undo')

    const [solo] = await deploy(ns, 'solo', 1, 'ghcr.io/acme/solo:1.0.0')
    if (solo === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, solo, failingStatuses('ghcr.io/acme/solo:1.0.0'))
    const refused = await handle(podEvent(ns, solo, 'rollback', 'solo'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(refused), { outcome: 'skipped', reason: 'NO_HEALTHY_REVISION', detail: /only revision/ })
    t.equal((await a.apps.readNamespacedDeployment({ namespace: ns, name: 'solo' })).metadata?.generation, 1, 'unchanged')
  })

  void t.test('protected namespaces and workloads that did not opt in are refused', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-optout', false)
    const [bad] = await deploy(ns, 'web', 1, 'ghcr.io/acme/web:1.0.0')
    if (bad === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0'))
    const r = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(r), { outcome: 'skipped', reason: 'NOT_OPTED_IN' })
    await a.apps.patchNamespacedDeployment({ namespace: ns, name: 'web', body: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-reflex.dev/auto-recover': 'true' } }] })
    const now = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(now), { outcome: 'planned', optIn: 'deployment kube-reflex.dev/auto-recover' }, 'the workload annotation opts in')
    const sys = await handle(classifiedEvent({ namespace: 'kube-system', object: { kind: 'Pod', name: 'coredns-5d78c9869d-abcde' }, workload: { kind: 'Deployment', name: 'coredns' } }), ctxOf(deps(s, 'enforce', 'optIn: { namespaces: ["*"] }')))
    t.match(dataOf(sys), { outcome: 'skipped', reason: 'PROTECTED_NAMESPACE' })
    const sysEvents = await a.core.listNamespacedEvent({ namespace: 'kube-system', fieldSelector: 'reason=KubeReflexRecovery' })
    t.equal(sysEvents.items.length, 0, 'nothing written in kube-system')
  })

  void t.test('a Job is read live: its own "false" opts it out of an opted-in namespace, else its pod is evicted', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-job')
    const image = 'ghcr.io/acme/migrate:1.0.0'
    /** A Job whose one pod crash-loops; returns the pod's name. */
    const job = async (name: string, labels: Record<string, string>): Promise<string> => {
      await a.batch.createNamespacedJob({
        namespace: ns,
        body: { metadata: { name, labels }, spec: { backoffLimit: 6, template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'app', image }] } } } },
      })
      const pod = await eventually(`the pod of Job ${name}`, async () => (await podsOf(a, ns, `job-name=${name}`))[0]?.metadata?.name)
      await setPodStatus(a, ns, pod, failingStatuses(image))
      return pod
    }
    const jobEvent = (pod: string, name: string): ReturnType<typeof classifiedEvent> =>
      classifiedEvent({ namespace: ns, object: { kind: 'Pod', name: pod }, workload: { kind: 'Job', name, inferred: true }, action: 'restart-pod' })

    const keep = await job('keep', { 'kube-reflex.dev/auto-recover': 'false' })
    const before = await a.core.readNamespacedPod({ namespace: ns, name: keep })
    const out = await handle(jobEvent(keep, 'keep'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(out), { outcome: 'skipped', reason: 'OPTED_OUT', target: { kind: 'Job', name: 'keep' } })
    const after = await a.core.readNamespacedPod({ namespace: ns, name: keep })
    t.equal(after.metadata?.uid, before.metadata?.uid, 'the opted-out Job\'s pod is the same pod')
    t.equal(after.metadata?.deletionTimestamp, undefined, 'and it was not evicted')

    const retry = await job('retry', {})
    const r = await handle(jobEvent(retry, 'retry'), ctxOf(deps(s, 'enforce')))
    t.match(dataOf(r), { outcome: 'performed', reason: 'ACTION_APPLIED', target: { kind: 'Job', name: 'retry' }, optIn: 'namespace kube-reflex.dev/auto-recover' })
    await eventually('the Job\'s pod to be evicted', async () => ((await podsOf(a, ns, 'job-name=retry')).some((p) => p.metadata?.name === retry) ? undefined : true))
    t.pass('the pod of the Job that did not opt out was evicted')
  })

  void t.test("a CronJob's \"false\" is read through its Job, with the shipped ClusterRole: the Job's pod is not evicted", async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-cron')
    const image = 'ghcr.io/acme/report:1.4.0'
    // auto-recover as deployed: a ServiceAccount bound to the ClusterRole knative/ ships (a copy under a name
    // of this run's own), so a read that RBAC refuses shows here as FORBIDDEN.
    const shipped = parseAllDocuments(readFileSync(new URL('../../../knative/base/rbac/auto-recover.yaml', import.meta.url), 'utf8'))
      .map((d) => d.toJS() as V1ClusterRole)
      .find((o) => o.kind === 'ClusterRole')
    if (shipped === undefined) throw new Error('no ClusterRole in knative/base/rbac/auto-recover.yaml')
    const role = `kube-reflex-auto-recover-${suffix}`
    await a.rbac.createClusterRole({ body: { metadata: { name: role }, rules: shipped.rules ?? [] } })
    t.teardown(() => a.rbac.deleteClusterRole({ name: role }).catch(() => undefined))
    await a.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'auto-recover' } } })
    await a.rbac.createClusterRoleBinding({
      body: { metadata: { name: role }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'auto-recover', namespace: ns }] },
    })
    t.teardown(() => a.rbac.deleteClusterRoleBinding({ name: role }).catch(() => undefined))
    const asAutoRecover = createRecoveryCluster({ kind: 'kubeconfig', path: impersonating(kubeconfig, t.testdir(), ns, 'auto-recover') })

    /** A suspended CronJob and a Job made from it (`kubectl create job --from=cronjob/<name>`), whose pod crash-loops. */
    const nightly = async (name: string, labels: Record<string, string>): Promise<{ job: string; pod: string }> => {
      const template = { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'app', image }] } }
      const cron = await a.batch.createNamespacedCronJob({ namespace: ns, body: { metadata: { name, labels }, spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { backoffLimit: 6, template } } } } })
      const job = `${name}-manual`
      await a.batch.createNamespacedJob({
        namespace: ns,
        body: {
          metadata: { name: job, ownerReferences: [{ apiVersion: 'batch/v1', kind: 'CronJob', name, uid: cron.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }] },
          spec: { backoffLimit: 6, template },
        },
      })
      const pod = await eventually(`the pod of Job ${job}`, async () => (await podsOf(a, ns, `job-name=${job}`))[0]?.metadata?.name)
      await setPodStatus(a, ns, pod, failingStatuses(image))
      return { job, pod }
    }
    const event = (pod: string, cronJob: string): ReturnType<typeof classifiedEvent> =>
      classifiedEvent({ namespace: ns, object: { kind: 'Pod', name: pod }, workload: { kind: 'CronJob', name: cronJob, inferred: true }, action: 'restart-pod' })

    const keep = await nightly('keep', { 'kube-reflex.dev/auto-recover': 'false' })
    const before = await a.core.readNamespacedPod({ namespace: ns, name: keep.pod })
    const out = await handle(event(keep.pod, 'keep'), ctxOf(deps(s, 'enforce', 'cooldownSeconds: 0', () => asAutoRecover)))
    t.match(dataOf(out), { outcome: 'skipped', reason: 'OPTED_OUT', target: { kind: 'Job', name: keep.job }, detail: /CronJob keep opted out/ })
    const after = await a.core.readNamespacedPod({ namespace: ns, name: keep.pod })
    t.equal(after.metadata?.uid, before.metadata?.uid, "the opted-out CronJob's pod is the same pod")
    t.equal(after.metadata?.deletionTimestamp, undefined, 'and it was not evicted')

    const run = await nightly('run', {})
    const r = await handle(event(run.pod, 'run'), ctxOf(deps(s, 'enforce', 'cooldownSeconds: 0', () => asAutoRecover)))
    t.match(dataOf(r), { outcome: 'performed', reason: 'ACTION_APPLIED', target: { kind: 'Job', name: run.job }, optIn: 'namespace kube-reflex.dev/auto-recover' })
    await eventually("the pod of the CronJob's Job to be evicted", async () => ((await podsOf(a, ns, `job-name=${run.job}`)).some((p) => p.metadata?.name === run.pod) ? undefined : true))
    t.pass('the pod of the CronJob that did not opt out was evicted')
  })

  void t.test("a pod that is gone: its Deployment is found through the ReplicaSet its name carries, a name-alike is not acted on", async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-gone')
    const [failing, deleted] = await deploy(ns, 'web', 2, 'ghcr.io/acme/web:1.0.0')
    if (failing === undefined || deleted === undefined) throw new Error('pods missing')
    await setPodStatus(a, ns, failing, failingStatuses('ghcr.io/acme/web:1.0.0'))
    await a.core.deleteNamespacedPod({ namespace: ns, name: deleted, gracePeriodSeconds: 0 })
    await eventually(`pod ${deleted} to be gone`, async () => a.core.readNamespacedPod({ namespace: ns, name: deleted }).then(() => undefined, (err: unknown) => (kubeStatus(err) === 404 ? true : undefined)))
    const guessed = (pod: string): ReturnType<typeof classifiedEvent> => podEvent(ns, pod, 'rollout-restart')

    // The pod the ReplicaSet controller really named: `<ReplicaSet>-<5 characters>`, its ReplicaSet controlled by web.
    const real = await handle(guessed(deleted), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(real), { outcome: 'planned', reason: 'ACTION_DRY_RUN', target: { kind: 'Deployment', name: 'web' }, detail: new RegExp(`pod ${failing}: app: CrashLoopBackOff`) })
    await eventually('its audit Event', async () => ((await auditEvents(ns)).length === 1 ? true : undefined))
    // A pod whose name only looks like web's (classify guessed Deployment web from it): no ReplicaSet of web
    // has that name, so web is neither restarted nor written to, though one of its own pods crash-loops.
    const alike = await handle(guessed('web-6f9c7b8d4-qk2vx'), ctxOf(deps(s, 'dry-run')))
    t.match(dataOf(alike), { outcome: 'skipped', reason: 'TARGET_GONE', target: { kind: 'Deployment', name: 'web' } })
    t.equal((await auditEvents(ns)).length, 1, 'no audit Event for the name-alike')
  })

  void t.test('a ServiceAccount without the RBAC for evictions: recovery.failed with a clear reason', async (t) => {
    const s = await state(t)
    const ns = await namespace(t, 'ar-rbac')
    const [bad] = await deploy(ns, 'web', 1, 'ghcr.io/acme/web:1.0.0')
    if (bad === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0'))
    await a.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'reader' } } })
    // Reads and events, but not pods/eviction.
    await a.rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'reader' },
        rules: [
          { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
          { apiGroups: ['apps'], resources: ['replicasets', 'deployments'], verbs: ['get', 'list'] },
          { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
        ],
      },
    })
    await a.rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: { metadata: { name: 'reader' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' }, subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] },
    })
    // This SA cannot read namespaces, so the namespace label is invisible to it: opt in on the workload.
    await a.apps.patchNamespacedDeployment({ namespace: ns, name: 'web', body: [{ op: 'add', path: '/metadata/annotations', value: { 'kube-reflex.dev/auto-recover': 'true' } }] })
    const asReader = impersonating(kubeconfig, t.testdir(), ns, 'reader')
    const readerCluster = createRecoveryCluster({ kind: 'kubeconfig', path: asReader })
    for (const mode of ['dry-run', 'enforce'] as const) {
      const r = await handle(podEvent(ns, bad, 'restart-pod'), ctxOf(deps(s, mode, 'cooldownSeconds: 0', () => readerCluster)))
      t.equal(r?.type, 'dev.kubereflex.recovery.failed', mode)
      t.match(dataOf(r), { reason: 'FORBIDDEN', detail: /403 .*cannot create resource "pods\/eviction"/ }, `${mode}: the reason names the missing permission`)
    }
    t.equal((await a.core.readNamespacedPod({ namespace: ns, name: bad })).metadata?.deletionTimestamp, undefined, 'nothing evicted')
  })

  void t.test('the budget holds across two concurrent instances and a restart (real server, durable state)', async (t) => {
    const ns = await namespace(t, 'ar-budget')
    const [bad] = await deploy(ns, 'web', 1, 'ghcr.io/acme/web:1.0.0')
    if (bad === undefined) throw new Error('pod missing')
    await setPodStatus(a, ns, bad, failingStatuses('ghcr.io/acme/web:1.0.0'))
    useCluster(`budget-${suffix}`)
    const url = process.env.DATABASE_URL
    const dir = t.testdir()
    // Two replicas: two pools on PostgreSQL when DATABASE_URL is set; else two handles on one PGlite store.
    const open = async (name: string): Promise<RecoveryState> =>
      openRecoveryState(await openDatabase(url === undefined || url === '' ? { dataDir: dir } : { databaseUrl: `${url}${url.includes('?') ? '&' : '?'}application_name=${name}` }))
    const replicaA = await open('replica-a')
    const replicaB = await open('replica-b')
    const policy = 'cooldownSeconds: 0\ntargetBudget: { max: 2, windowSeconds: 3600 }'
    const replies = await Promise.all([replicaA, replicaB, replicaA].map((s) => handle(podEvent(ns, bad, 'rollout-restart'), ctxOf(deps(s, 'enforce', policy)))))
    t.same(replies.map((r) => String(dataOf(r).reason)).sort(), ['ACTION_APPLIED', 'ACTION_APPLIED', 'TARGET_BUDGET_EXHAUSTED'])
    t.equal(replies.find((r) => dataOf(r).reason === 'TARGET_BUDGET_EXHAUSTED')?.severity, 'critical', 'escalation for alert')
    await replicaA.close()
    await replicaB.close()
    // The restart replaced the failing pod (the deployment controller scales unhealthy old pods down);
    // the new pods crash-loop as well, so the problem is still there after our restart.
    // The controllers keep replacing pods meanwhile: a pod listed a moment ago may be gone (404) when its
    // status is written, so list again until at least one live pod carries the failing status.
    const current = await eventually('a live pod of the restarted Deployment, crash-looping', async () => {
      const alive = []
      for (const p of await podsOf(a, ns, 'app=web')) {
        try {
          await setPodStatus(a, ns, p.metadata?.name ?? '', failingStatuses('ghcr.io/acme/web:1.0.0'))
          alive.push(p)
        } catch (err) {
          if ((err as { code?: unknown }).code !== 404) throw err
        }
      }
      return alive.length > 0 ? alive : undefined
    })
    const restarted = await open('replica-c')
    t.teardown(() => restarted.close())
    const after = await handle(podEvent(ns, current[0]?.metadata?.name ?? bad, 'rollout-restart'), ctxOf(deps(restarted, 'enforce', policy)))
    t.match(dataOf(after), { outcome: 'skipped', reason: 'TARGET_BUDGET_EXHAUSTED', budget: { target: { used: 2, max: 2 } } }, 'after a restart the spent budget still counts')
    const d = await a.apps.readNamespacedDeployment({ namespace: ns, name: 'web' })
    t.ok((d.metadata?.generation ?? 0) >= 2 && (d.metadata?.generation ?? 0) <= 3, `at most two template changes (generation ${d.metadata?.generation ?? '?'})`)
    const escalations = await eventually('the escalation Event', async () => {
      const e = (await auditEvents(ns)).filter((m) => m.includes('attempt budget for this workload is spent'))
      return e.length >= 2 ? e : undefined
    })
    t.equal(escalations.length, 2)
  })

  void t.test('API server down: 503 DOWNSTREAM_UNAVAILABLE so the broker retries; nothing recorded', async (t) => {
    const s = await state(t)
    const down = unreachable(kubeconfig, t.testdir(), 1)
    const c = createRecoveryCluster({ kind: 'kubeconfig', path: down })
    const event = classifiedEvent({ namespace: 'shop' })
    await t.rejects(handle(event, ctxOf(deps(s, 'enforce', 'optIn: { namespaces: [shop] }', () => c))), { code: 'DOWNSTREAM_UNAVAILABLE', status: 503 })
    t.equal(await s.decision(event.source, event.id), undefined)
  })
}
