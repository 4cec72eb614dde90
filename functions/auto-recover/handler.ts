// auto-recover: a classified problem in, a guarded remediation through the Kubernetes API out, and one
// `dev.kubereflex.recovery.*` reply that says what was decided and why (docs/AUTO-RECOVER.md).
//
// Order of the guardrails, cheapest and most absolute first: duplicate → protected/denied namespace →
// action enabled → (online) live state: resolve the real workload → opt-in → is the problem still there →
// under the target's lock: cooldown → target budget → global budget → the change (dryRun=All in dry-run)
// → record → reply; the audit Kubernetes Event is written after the decision is committed, on an opted-in
// target only.
import type { V1Deployment, V1OwnerReference, V1Pod } from '@kubernetes/client-node'
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { EVENT_TYPES } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'
import type { FunctionContext, HandlerResult } from '../../shared/host.js'
import { stableHash } from '../../shared/ids.js'
import { kubeStatus } from '../../shared/kube-rest.js'
import { apiGroup, apiMessage, isDisruptionBudgetRefusal, workloadKind, type RecoveryCluster, type RestartableKind, type Workload } from './cluster.js'
import type { RecoveryMode } from './config.js'
import type { ReasonCode } from './errors.js'
import { parseInput, type RecoveryInput } from './input.js'
import { controllerOf, deploymentProblem, podProblem, revisionsOf, selectorString } from './live-state.js'
import type { RecoveryMetrics } from './metrics.js'
import { actionGate, namespaceGate, optInOf, type EnabledAction, type MarkedController, type RecoveryPolicy } from './policy.js'
import { describeDecision, toRecoveryEvent, type Decision, type TargetRef } from './recovery-event.js'
import { planRollback } from './rollback.js'
import type { RecoveryState } from './state.js'

export interface AutoRecoverDeps {
  readonly mode: RecoveryMode
  readonly policy: RecoveryPolicy
  /** undefined = no cluster configured: plan from the event alone (`recovery.planned`, data.offline = true). */
  readonly cluster: (() => Promise<RecoveryCluster>) | undefined
  readonly state: RecoveryState
  readonly metrics: RecoveryMetrics
  readonly now: () => number
}

export interface AutoRecoverContext extends FunctionContext {
  readonly deps: AutoRecoverDeps
}

const RESTARTABLE = new Set(['Deployment', 'StatefulSet', 'DaemonSet'])
const API_VERSION: Record<string, string> = {
  Pod: 'v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
}
// Reasons for which no Kubernetes Event is written: objects outside our remit are not written to at all.
// Beyond these, an Event is written only on a target whose opt-in was established (audit()).
const NO_AUDIT_EVENT = new Set<ReasonCode>(['DUPLICATE', 'PROTECTED_NAMESPACE', 'NAMESPACE_DENIED', 'NAMESPACE_NOT_ALLOWED', 'NOT_OPTED_IN', 'OPTED_OUT', 'ACTION_DISABLED'])

/** A Kubernetes API failure, sorted: retry the event, or an outcome to report. */
function kubeFailure(err: unknown, what: string): { outcome: 'skipped' | 'failed'; reason: ReasonCode; detail: string } {
  if (err instanceof ReflexError) throw err
  const status = kubeStatus(err)
  const said = apiMessage(err)
  if (status === 401 || status === 403) {
    return { outcome: 'failed', reason: 'FORBIDDEN', detail: `${what}: ${status} ${said ?? 'forbidden'} — grant it in the auto-recover Role (knative/) or leave the action off` }
  }
  if (status === 404) return { outcome: 'skipped', reason: 'TARGET_GONE', detail: `${what}: ${said ?? 'not found'}` }
  if (status === 400 || status === 422) return { outcome: 'failed', reason: 'REJECTED', detail: `${what}: ${status} ${said ?? ''}`.trim() }
  // Unreachable, 5xx, 429 (other than a PDB), 409 (changed under us): the broker retries later.
  throw new ReflexError('DOWNSTREAM_UNAVAILABLE', `Kubernetes API unavailable while ${what} (${status ?? 'no answer'})`, { cause: err, retryAfterSeconds: 5 })
}

class Outcome extends Error {
  constructor(readonly decision: Decision) {
    super(decision.reason)
  }
}

function skip(target: TargetRef, reason: ReasonCode, detail?: string): Outcome {
  return new Outcome({ outcome: 'skipped', reason, detail, target })
}

/** The target the live owner references name, before anything about its problem is known. */
interface Located {
  readonly target: TargetRef & { readonly namespace: string }
  /** The target's live object: its own opt-in mark is read from it, so there is always one. */
  readonly workload: Workload
  /** The controllers above the target whose marks count as its own (a Job's CronJob), read live too. */
  readonly above: readonly MarkedController[]
  /** The live pod the event was about (restart-pod evicts it); null when the event was not about a pod or it is gone. */
  readonly pod: V1Pod | null
}

interface Resolved extends Located {
  readonly problem: string
  /** pod-template-hash of a failing pod, for rollback's "newest revision introduced it". */
  readonly failingHash: string | undefined
}

/**
 * A failing pod the workload really runs. Its selector can match pods of another controller too (an Argo
 * Rollout or a second Deployment with the same labels): their problem is not this workload's, and acting on
 * it would restart or roll back a workload that is healthy. So a pod counts only when its controller is the
 * workload itself (same uid) or, for a Deployment, one of the ReplicaSets that Deployment controls.
 */
async function workloadPodsProblem(cluster: RecoveryCluster, namespace: string, kind: string, w: Workload): Promise<{ problem: string; hash: string | undefined } | undefined> {
  const selector = selectorString(w.spec?.selector?.matchLabels)
  const uid = w.metadata?.uid
  if (selector === undefined || uid === undefined) return undefined
  let owners = new Set([uid])
  if (kind === 'Deployment') {
    const revisions = revisionsOf(w as V1Deployment, await cluster.listReplicaSets(namespace, selector))
    owners = new Set(revisions.map((rs) => rs.metadata?.uid).filter((u): u is string => u !== undefined))
  }
  for (const pod of await cluster.listPods(namespace, selector)) {
    const owner = controllerOf(pod.metadata)
    if (owner === undefined || !owners.has(owner.uid)) continue
    const problem = podProblem(pod)
    if (problem !== undefined) return { problem: `pod ${pod.metadata?.name ?? '?'}: ${problem}`, hash: pod.metadata?.labels?.['pod-template-hash'] }
  }
  return undefined
}

/**
 * Reads the controller an owner reference names. Fails closed: a controller that cannot be read — a kind
 * auto-recover does not read, or gone (404, or its name now taken by another object) — has an opt-out mark
 * nobody can check, so what it runs is not touched (never the namespace's mark in its place).
 */
async function readController(cluster: RecoveryCluster, namespace: string, owner: V1OwnerReference, of: string): Promise<{ target: TargetRef & { namespace: string }; object: Workload }> {
  const kind = workloadKind(owner.kind, owner.apiVersion)
  const target = { namespace, kind: kind ?? owner.kind, name: owner.name }
  if (kind === undefined) throw skip(target, 'UNSUPPORTED_WORKLOAD', `${of} is controlled by ${owner.kind} ${owner.name} (${owner.apiVersion}), which auto-recover does not read, so its opt-in marks cannot be checked`)
  const object = await cluster.readWorkload(kind, namespace, owner.name)
  const uid = object?.metadata?.uid
  if (object === null || (uid !== undefined && owner.uid !== uid)) throw skip(target, 'TARGET_GONE', `${kind} ${owner.name}, the controller of ${of}, no longer exists`)
  return { target, object }
}

/**
 * What runs a Job, read for its marks: a CronJob's "false" keeps the pods of every Job it creates (a Job
 * carries its CronJob's jobTemplate labels, not the CronJob's own). Fails closed as readController does: a
 * Job run by anything else than a batch/v1 CronJob (a JobSet…), or by a CronJob that is gone or was
 * recreated, has an opt-out mark nobody can check.
 */
async function jobController(cluster: RecoveryCluster, namespace: string, job: Workload, name: string): Promise<MarkedController[]> {
  const owner = controllerOf(job.metadata)
  if (owner === undefined) return []
  const target = { namespace, kind: owner.kind, name: owner.name }
  if (owner.kind !== 'CronJob' || apiGroup(owner.apiVersion) !== 'batch') {
    throw skip(target, 'UNSUPPORTED_WORKLOAD', `Job ${name} is controlled by ${owner.kind} ${owner.name} (${owner.apiVersion}), which auto-recover does not read, so its opt-in marks cannot be checked`)
  }
  const cronJob = await cluster.readCronJob(namespace, owner.name)
  const uid = cronJob?.metadata?.uid
  if (cronJob === null || (uid !== undefined && owner.uid !== uid)) throw skip(target, 'TARGET_GONE', `CronJob ${owner.name}, the controller of Job ${name}, no longer exists`)
  return [{ kind: 'CronJob', name: owner.name, metadata: cronJob.metadata }]
}

/** The workload a live pod really belongs to: owner references (Pod → ReplicaSet → Deployment), not naming conventions. */
async function ownerWorkload(cluster: RecoveryCluster, namespace: string, pod: V1Pod, eventTarget: TargetRef): Promise<Omit<Located, 'pod'>> {
  const name = pod.metadata?.name ?? '?'
  const owner = controllerOf(pod.metadata)
  if (owner === undefined) throw skip(eventTarget, 'NO_WORKLOAD', `pod ${name} has no controller owner reference`)
  const controller = await readController(cluster, namespace, owner, `pod ${name}`)
  // A Job is the target, and the CronJob that runs it (if one does) speaks for it too.
  if (controller.target.kind === 'Job') return { target: controller.target, workload: controller.object, above: await jobController(cluster, namespace, controller.object, owner.name) }
  const up = controller.target.kind === 'ReplicaSet' ? controllerOf(controller.object.metadata) : undefined
  // A ReplicaSet run by a Deployment is one revision of it: the Deployment is the target. A ReplicaSet of
  // another controller (or of none) is the target itself, with its own marks.
  const { target, object } = up?.kind === 'Deployment' ? await readController(cluster, namespace, up, `ReplicaSet ${owner.name}`) : controller
  return { target, workload: object, above: [] }
}

// The 5 characters the API server appends to a generateName (apimachinery util/rand: consonants and digits
// that cannot spell words or be confused).
const GENERATED_SUFFIX = /^(.+)-[bcdfghjklmnpqrstvwxz2456789]{5}$/

/**
 * The Deployment that ran a pod which is gone. Its owner references went with it, so the event's workload is
 * only classify's guess from the pod's name (`web-6f9c7b8d4-qk2vx` → Deployment web), which another
 * controller's pod (an Argo Rollout web), a bare pod or a Job's pod can match as well. The one trace a pod
 * leaves is its ReplicaSet, a revision its Deployment keeps, named by the pod's name without the suffix its
 * generateName added: the guess holds only if that ReplicaSet exists and this very Deployment (same uid)
 * controls it. Otherwise the decision is TARGET_GONE, taken before opt-in, so the guessed workload is neither
 * changed nor written to (no audit Event). A StatefulSet or DaemonSet keeps no such trace: a pod of theirs
 * that is gone is never acted on (a StatefulSet's replacement has the same name and is read live).
 */
async function ownerOfGonePod(cluster: RecoveryCluster, namespace: string, podName: string, target: TargetRef & { namespace: string }): Promise<Workload> {
  const deployment = await cluster.readWorkload('Deployment', namespace, target.name)
  if (deployment === null) throw skip(target, 'TARGET_GONE', `${target.kind} ${target.name} no longer exists`)
  const replicaSet = GENERATED_SUFFIX.exec(podName)?.[1]
  const rs = replicaSet === undefined ? null : await cluster.readWorkload('ReplicaSet', namespace, replicaSet)
  const owner = controllerOf(rs?.metadata)
  const uid = deployment.metadata?.uid
  if (owner === undefined || workloadKind(owner.kind, owner.apiVersion) !== 'Deployment' || owner.name !== target.name || uid === undefined || owner.uid !== uid) {
    throw skip(target, 'TARGET_GONE', `pod ${podName} no longer exists, and ${replicaSet === undefined ? 'its name is not one a ReplicaSet gives' : `ReplicaSet ${replicaSet}, which its name points to, is not Deployment ${target.name}'s`}: nothing live shows that Deployment ${target.name} ran it`)
  }
  return deployment
}

/** Finds the live target of the event: the workload that really runs the object, with its own marks. */
async function locate(cluster: RecoveryCluster, input: RecoveryInput, namespace: string, eventTarget: TargetRef): Promise<Located> {
  const { object, action } = input
  if (object.kind === 'Pod') {
    const pod = await cluster.readPod(namespace, object.name)
    if (pod !== null) return { ...(await ownerWorkload(cluster, namespace, pod, eventTarget)), pod }
    // The pod is gone (replaced or evicted already). Evicting it is moot; a workload action still may be due,
    // on the workload that really ran the pod, which the event only guesses (ownerOfGonePod).
    if (action === 'restart-pod' || input.workload === null) throw skip(eventTarget, 'TARGET_GONE', `pod ${object.name} no longer exists`)
    const target = { namespace, kind: input.workload.kind, name: input.workload.name }
    const kind = workloadKind(target.kind)
    if (kind === undefined) throw skip(target, 'UNSUPPORTED_WORKLOAD', `${target.kind} is not a workload auto-recover acts on`)
    if (kind !== 'Deployment') throw skip(target, 'TARGET_GONE', `pod ${object.name} no longer exists, and nothing live shows which ${kind} ran it`)
    return { target, workload: await ownerOfGonePod(cluster, namespace, object.name, target), above: [], pod: null }
  }
  const kind = workloadKind(object.kind)
  if (kind === undefined || kind === 'Job') throw skip(eventTarget, 'UNSUPPORTED_WORKLOAD', `${object.kind} is not a workload auto-recover acts on`)
  const w = await cluster.readWorkload(kind, namespace, object.name)
  if (w === null) throw skip({ namespace, kind, name: object.name }, 'TARGET_GONE', `${object.kind} ${object.name} no longer exists`)
  const up = kind === 'ReplicaSet' ? controllerOf(w.metadata) : undefined
  if (up?.kind === 'Deployment') {
    const deployment = await readController(cluster, namespace, up, `ReplicaSet ${object.name}`)
    return { target: deployment.target, workload: deployment.object, above: [], pod: null }
  }
  return { target: { namespace, kind, name: object.name }, workload: w, above: [], pod: null }
}

/** Is the problem still there: in the live pod, else in the workload's state or its pods. */
async function stillFailing(cluster: RecoveryCluster, input: RecoveryInput, located: Located): Promise<Resolved> {
  const { target, workload, pod } = located
  const { object } = input
  if (pod !== null) {
    const problem = podProblem(pod)
    if (problem === undefined) throw skip(target, 'PROBLEM_GONE', `pod ${object.name} is healthy now`)
    return { ...located, problem, failingHash: pod.metadata?.labels?.['pod-template-hash'] }
  }
  const podGone = object.kind === 'Pod'
  const own = !podGone && target.kind === 'Deployment' ? deploymentProblem(workload as V1Deployment) : undefined
  const pods = await workloadPodsProblem(cluster, target.namespace, target.kind, workload)
  const problem = own ?? pods?.problem
  if (problem === undefined) {
    throw skip(target, 'PROBLEM_GONE', podGone ? `pod ${object.name} is gone and no pod of ${target.kind} ${target.name} is failing` : `${target.kind} ${target.name} is healthy now`)
  }
  return { ...located, problem, failingHash: pods?.hash }
}

interface Change {
  readonly detail: string
  readonly change: Record<string, unknown>
  readonly apply: (dryRun: boolean) => Promise<void>
}

/** Works out the exact change for the action (without sending it), or the reason it does not apply. */
async function planChange(cluster: RecoveryCluster, action: EnabledAction, r: Resolved, at: string): Promise<Change> {
  const { target } = r
  switch (action) {
    case 'restart-pod': {
      const pod = r.pod
      if (pod === null) throw skip(target, 'TARGET_GONE', 'the pod no longer exists')
      const name = pod.metadata?.name ?? ''
      return {
        detail: `evict pod ${name} (${r.problem}); ${target.kind} ${target.name} recreates it`,
        change: { kind: 'Eviction', pod: name },
        apply: (dryRun) => cluster.evictPod(target.namespace, name, dryRun),
      }
    }
    case 'rollout-restart': {
      if (!RESTARTABLE.has(target.kind)) throw skip(target, 'UNSUPPORTED_WORKLOAD', `rollout restart needs a Deployment, StatefulSet or DaemonSet, not ${target.kind}`)
      return {
        detail: `rollout restart of ${target.kind} ${target.name} (${r.problem})`,
        change: { kind: 'RolloutRestart', restartedAt: at },
        apply: (dryRun) => cluster.restartRollout(target.kind as RestartableKind, target.namespace, target.name, at, dryRun),
      }
    }
    case 'rollback': {
      if (target.kind !== 'Deployment') throw skip(target, 'UNSUPPORTED_WORKLOAD', `rollback needs a Deployment, not ${target.kind}`)
      // target.kind is Deployment, so readWorkload returned a V1Deployment.
      const d = r.workload as V1Deployment
      const replicaSets = await cluster.listReplicaSets(target.namespace, selectorString(d.spec?.selector.matchLabels))
      const plan = planRollback(d, replicaSets, r.failingHash)
      if (!plan.ok) throw skip(target, plan.reason, plan.detail)
      const resourceVersion = d.metadata?.resourceVersion ?? ''
      return {
        detail: `roll back Deployment ${target.name} from revision ${plan.fromRevision} to revision ${plan.toRevision} (ReplicaSet ${plan.toReplicaSet}) (${r.problem})`,
        change: { kind: 'Rollback', fromRevision: plan.fromRevision, toRevision: plan.toRevision, replicaSet: plan.toReplicaSet },
        apply: (dryRun) => cluster.rollbackDeployment(target.namespace, target.name, resourceVersion, plan.template, dryRun),
      }
    }
  }
}

function targetKey(cluster: string, t: TargetRef): string {
  return `${cluster}/${t.namespace ?? ''}/${t.kind}/${t.name}`
}

export async function handle(event: CloudEventV1, ctx: AutoRecoverContext): Promise<HandlerResult> {
  if (event.type !== EVENT_TYPES.classified) return undefined // not ours: acknowledge (DESIGN.md)
  const input = parseInput(event)
  if (input.action === 'none') return undefined // the Trigger filters these; a stray one needs no answer
  const { deps } = ctx
  const { policy, state, metrics } = deps
  const action: EnabledAction = input.action
  const offline = deps.cluster === undefined
  const budgetMode = offline ? 'offline' : deps.mode
  const nowMs = deps.now()
  const now = new Date(nowMs)
  const time = now.toISOString()

  // Redelivery: the same answer, nothing done twice. The audit Event is written again (same name: the
  // server answers 409 if it exists), which completes it when the API server was down the first time.
  // Offline there is neither a cluster to read nor an audit Event to write, so this read is left to the
  // ones that decide anyway (recordDecision's first-writer-wins, the read under the target's lock).
  // The client is asked for now: at a cold start, loading it overlaps the wait for the database.
  const clusterReady = deps.cluster?.()
  clusterReady?.catch(() => undefined) // a failure is reported where it is awaited
  if (!offline) {
    const prior = await state.decision(event.source, event.id)
    if (prior !== undefined) return audit(ctx, await clusterReady, prior, undefined)
  }

  const eventTarget: TargetRef = { namespace: input.namespace, kind: input.workload?.kind ?? input.object.kind, name: input.workload?.name ?? input.object.name }
  // Counted and logged once the decision is committed: a decision rolled back (with its batch of offline
  // decisions on PGlite, state.ts offlineBatch, or its own transaction) was never taken.
  const announce = (decision: Decision): void => {
    metrics.actions.inc({ action, outcome: decision.outcome, reason: decision.reason })
    ctx.log.info({ action, outcome: decision.outcome, reason: decision.reason, target: decision.target, mode: deps.mode, offline }, 'recovery decision')
  }
  const finish = async (decision: Decision): Promise<CloudEventV1> => {
    const reply = toRecoveryEvent(event, input, decision, { mode: deps.mode, offline, time })
    const stored = await state.recordDecision(event.source, event.id, reply, now)
    if (stored !== reply) return stored // a concurrent delivery (or, offline, an earlier one) decided first
    announce(decision)
    return reply
  }

  // Gates that need neither the cluster nor the history.
  if (input.namespace === null) return finish({ outcome: 'skipped', reason: 'UNSUPPORTED_WORKLOAD', detail: `cluster-scoped ${input.object.kind} is not a workload`, target: eventTarget })
  const namespace = input.namespace
  const nsGate = namespaceGate(policy, namespace)
  if (nsGate !== undefined) return finish({ outcome: 'skipped', reason: nsGate, detail: `namespace ${namespace}`, target: eventTarget })
  const actGate = actionGate(policy, action)
  if (actGate !== undefined) return finish({ outcome: 'skipped', reason: actGate, detail: `enabled: ${policy.actions.join(', ') || 'none'}`, target: eventTarget })

  let located: Located | undefined
  let change: Change | undefined
  /** How the target opted in, once that is established: until then nothing is written on it (audit). */
  let optIn: string | undefined
  const cluster = await clusterReady
  try {
    if (cluster === undefined) {
      // Offline (replay, Kafka without a cluster): the plan comes from the event alone; labels cannot be
      // read, so only the policy can speak for opt-in, and the reply says so.
      const decided = optInOf(policy, { namespace, kind: eventTarget.kind, name: eventTarget.name }, undefined, undefined)
      optIn = decided.optedIn ? decided.by : 'unverified (offline: labels and annotations cannot be read)'
      if (action === 'restart-pod' && input.workload === null) throw skip(eventTarget, 'NO_WORKLOAD', `pod ${input.object.name} has no known controller`)
      if (action === 'rollout-restart' && !RESTARTABLE.has(eventTarget.kind)) throw skip(eventTarget, 'UNSUPPORTED_WORKLOAD', `rollout restart needs a Deployment, StatefulSet or DaemonSet, not ${eventTarget.kind}`)
      if (action === 'rollback' && eventTarget.kind !== 'Deployment') throw skip(eventTarget, 'UNSUPPORTED_WORKLOAD', `rollback needs a Deployment, not ${eventTarget.kind}`)
    } else {
      located = await locate(cluster, input, namespace, eventTarget)
      // Namespace opt-in needs `get namespaces` (cluster-scoped). Without that grant the namespace's
      // marks are unknown, not a failure: workload marks and the policy still decide.
      const ns = await cluster.readNamespace(namespace).catch((err: unknown) => {
        if (kubeStatus(err) !== 403) throw err
        ctx.log.warn({ namespace }, 'cannot read the namespace (RBAC): namespace opt-in labels are ignored')
        return null
      })
      // Opt-in before the problem: what is decided about a target that did not opt in is nobody's business
      // on the cluster (no audit Event), whether or not its problem is still there.
      const decided = optInOf(policy, located.target, located.workload.metadata, ns?.metadata, located.above)
      if (!decided.optedIn) throw skip(located.target, decided.reason, decided.detail)
      optIn = decided.by
      change = await planChange(cluster, action, await stillFailing(cluster, input, located), time)
    }
  } catch (err) {
    if (err instanceof Outcome) return audit(ctx, cluster, await finish({ ...err.decision, optIn }), located)
    const f = kubeFailure(err, `reading the live state of ${eventTarget.kind} ${eventTarget.name}`)
    return audit(ctx, cluster, await finish({ outcome: f.outcome, reason: f.reason, detail: f.detail, target: located?.target ?? eventTarget, optIn }), located)
  }

  const target: TargetRef = located?.target ?? eventTarget
  const key = targetKey(input.cluster, target)
  // Offline (no Kubernetes call under the lock): what the decision below reads, so that on the embedded
  // database decisions arriving together can be taken together (state.ts offlineBatch).
  const offlineScope = {
    source: event.source,
    id: event.id,
    mode: budgetMode,
    targetSince: new Date(nowMs - policy.targetBudget.windowSeconds * 1000),
    globalSince: new Date(nowMs - policy.globalBudget.windowSeconds * 1000),
  }
  const { reply, decided } = await state.withTarget(key, async (locked): Promise<{ reply: CloudEventV1; decided?: Decision }> => {
    const tb = policy.targetBudget
    const gb = policy.globalBudget
    // The clock is read again under the lock: another replica may have acted while we waited for it.
    const lockedMs = Math.max(nowMs, deps.now())
    const { decision: again, history } = await locked.decisionAndHistory(event.source, event.id, key, budgetMode, new Date(lockedMs - tb.windowSeconds * 1000))
    if (again !== undefined) return { reply: again }
    const commit = async (taken: Decision): Promise<{ reply: CloudEventV1; decided?: Decision }> => {
      const decision = { ...taken, optIn }
      const r = toRecoveryEvent(event, input, decision, { mode: deps.mode, offline, time })
      // First writer wins: should a decision for this event be stored already (one taken without this lock),
      // that is the answer, so every delivery of one event gets the same reply.
      const stored = await locked.recordDecision(event.source, event.id, r, now)
      return stored === r ? { reply: r, decided: decision } : { reply: stored }
    }
    const targetView = { used: history.targetAttempts, max: tb.max, windowSeconds: tb.windowSeconds }
    if (policy.cooldownSeconds > 0 && history.lastAttemptAt !== undefined && lockedMs - history.lastAttemptAt.getTime() < policy.cooldownSeconds * 1000) {
      const until = new Date(history.lastAttemptAt.getTime() + policy.cooldownSeconds * 1000).toISOString()
      return commit({ outcome: 'skipped', reason: 'COOLDOWN', detail: `last attempt ${history.lastAttemptAt.toISOString()}, cooldown until ${until}`, target, budget: { target: targetView } })
    }
    if (history.targetAttempts >= tb.max) {
      return commit({ outcome: 'skipped', reason: 'TARGET_BUDGET_EXHAUSTED', detail: `${history.targetAttempts} of ${tb.max} attempts used in the last ${tb.windowSeconds} s`, target, budget: { target: targetView } })
    }
    const globalUsed = await locked.globalAttempts(budgetMode, new Date(lockedMs - gb.windowSeconds * 1000))
    const globalView = { used: globalUsed, max: gb.max, windowSeconds: gb.windowSeconds }
    metrics.budgetRemaining.set({ scope: 'global' }, Math.max(0, gb.max - globalUsed))
    if (globalUsed >= gb.max) {
      return commit({ outcome: 'skipped', reason: 'GLOBAL_BUDGET_EXHAUSTED', detail: `${globalUsed} of ${gb.max} actions used cluster-wide in the last ${gb.windowSeconds} s`, target, budget: { target: targetView, global: globalView } })
    }
    let decision: Decision
    if (change === undefined) {
      decision = { outcome: 'planned', reason: 'ACTION_OFFLINE', target }
    } else {
      const dryRun = deps.mode === 'dry-run'
      try {
        await change.apply(dryRun)
        decision = { outcome: dryRun ? 'planned' : 'performed', reason: dryRun ? 'ACTION_DRY_RUN' : 'ACTION_APPLIED', detail: change.detail, target, change: change.change }
      } catch (err) {
        // Eviction API: a 429 whose cause is DisruptionBudget = a PodDisruptionBudget does not allow it now.
        // Never fall back to delete. Any other 429 is throttling: kubeFailure answers 503, the broker retries.
        if (action === 'restart-pod' && kubeStatus(err) === 429 && isDisruptionBudgetRefusal(err)) {
          return commit({ outcome: 'skipped', reason: 'PDB_BLOCKED', detail: apiMessage(err) ?? 'Cannot evict pod as it would violate the pod\'s disruption budget', target, budget: { target: targetView, global: globalView } })
        }
        const f = kubeFailure(err, `${action} on ${target.kind} ${target.name}`)
        return commit({ outcome: f.outcome, reason: f.reason, detail: f.detail, target, budget: { target: targetView, global: globalView } })
      }
    }
    await locked.recordAttempt({ target: key, fingerprint: input.fingerprint, action, mode: budgetMode, outcome: decision.outcome, at: new Date(lockedMs), event: { source: event.source, id: event.id } })
    metrics.budgetRemaining.set({ scope: 'global' }, Math.max(0, gb.max - globalUsed - 1))
    return commit({
      ...decision,
      budget: { target: { ...targetView, used: targetView.used + 1 }, global: { ...globalView, used: globalUsed + 1 } },
    })
  }, { input: { source: event.source, id: event.id }, offline: change === undefined ? offlineScope : undefined })
  if (decided !== undefined) announce(decided)
  return audit(ctx, cluster, reply, located)
}

/**
 * Writes the Kubernetes Event on the target after the decision is committed. It is the human-facing audit
 * trail, not the durable record (that is the database and the reply). Only on a target that opted in
 * (`data.optIn` is set once that is established, so a redelivery's stored reply says it too): a bare pod,
 * a workload that is gone or not supported, one that did not opt in or opted out gets nothing written on
 * it — nor on the workload classify guessed, which may not exist or not have run the pod (ownerOfGonePod).
 * A refusal (RBAC, validation) is logged and does not fail the event. An unavailable API server (no answer,
 * 5xx, 429) fails it with 503:
 * the broker redelivers, the stored decision is returned again without redoing anything, and the Event
 * is written then (found by the kube-apiserver chaos run: audit Events were lost across a restart).
 */
async function audit(ctx: AutoRecoverContext, cluster: RecoveryCluster | undefined, reply: CloudEventV1, located: Located | undefined): Promise<CloudEventV1> {
  const data = reply.data as { target?: TargetRef; reason?: ReasonCode; outcome?: string; action?: string; mode?: string; message?: string; optIn?: unknown; offline?: unknown } | undefined
  const target = data?.target
  if (cluster === undefined || data === undefined || target === undefined || target.namespace === null) return reply
  if (typeof data.optIn !== 'string' || data.offline === true || data.reason === undefined || NO_AUDIT_EVENT.has(data.reason)) return reply
  const uid = located?.target.kind === target.kind && located.target.name === target.name ? located.workload.metadata?.uid : undefined
  try {
    await cluster.recordEvent({
      namespace: target.namespace,
      involved: { kind: target.kind, name: target.name, uid, apiVersion: API_VERSION[target.kind] ?? 'v1' },
      name: `${target.name.slice(0, 200)}.${stableHash(reply.id).slice(0, 16)}`,
      type: data.outcome === 'failed' || data.outcome === 'skipped' ? 'Warning' : 'Normal',
      reason: 'KubeReflexRecovery',
      message: (data.message ?? describeDecision(String(data.action), String(data.mode), false, { outcome: 'skipped', reason: data.reason, target })).slice(0, 1024),
      action: String(data.action),
      time: new Date(reply.time ?? Date.now()),
    })
  } catch (err) {
    const status = kubeStatus(err)
    const message = apiMessage(err) ?? (err instanceof Error ? err.message : String(err))
    if (status === undefined || status >= 500 || status === 429) {
      throw new ReflexError('DOWNSTREAM_UNAVAILABLE', `Kubernetes API unavailable while recording the audit Event (${status ?? 'no answer'})`, { cause: err, retryAfterSeconds: 5 })
    }
    ctx.log.warn({ err: { status, message }, target }, 'could not record the audit Event')
  }
  return reply
}
