// The kube-apiserver fault (issue 10): `kube-reflex dev --kubeconfig` watches a PRIVATE real cluster
// (etcd + kube-apiserver + kube-controller-manager from the services layer) with auto-recover in
// RECOVERY_MODE=enforce on an opted-in namespace, while kube-apiserver is stopped and restarted (etcd and
// its data stay). The harness plays the kubelet: round after round it marks the current pod of one of the
// Deployments as CrashLoopBackOff (status subresource) and writes a numbered BackOff Event for it, so the
// live source sees two problem signals per failing pod and auto-recover must evict that pod exactly once.
//
// Counted from the outside afterwards:
// - numbered Events created vs. classified rows for them in the store (missing / duplicated);
// - evictions the API server really performed: every pod the ReplicaSet controller had to replace, from
//   its own `SuccessfulCreate` Events (Σ count − replicas), and which pods are gone;
// - `recovery.performed` decisions in the store and `KubeReflexRecovery` audit Events on the workloads.
// Violations: a pod evicted that was never failing or evicted twice (duplicated action), an eviction
// without a stored decision or audit Event, a failing pod left alone without a decision explaining why,
// a numbered Event the watch never delivered, and crashes of dev.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { startServices } from '../../scripts/test-services/index.mjs'
import { admin, failingStatuses, setPodStatus, type Admin } from '../functions/auto-recover/kube-env.js'
import { DevSupervisor, type UnplannedExit } from './dev-supervisor.js'
import { REPO } from './harness.js'

export interface KubeChaosOptions {
  /** Seconds during which failing pods are produced. */
  readonly durationSec: number
  /** Seconds between two rounds (one failing pod each). */
  readonly roundEverySec: number
  readonly deployments: number
  /** kube-apiserver stops during the run (each `downSec` long, spread evenly). */
  readonly apiServerBounces: number
  readonly downSec: number
  readonly settleSec: number
  readonly log: (line: string) => void
  readonly keep?: boolean
}

export interface KubeChaosReport {
  readonly run: string
  readonly namespace: string
  readonly workDir: string
  readonly rounds: number
  readonly roundsFailed: number
  readonly apiServerBounces: number
  readonly numberedEvents: number
  readonly classified: { readonly seen: number; readonly missing: number; readonly duplicated: number }
  readonly failingPods: number
  /** Of which marked failing in a burst right before a kube-apiserver stop. */
  readonly burstPods: number
  readonly evictions: {
    /** Pods the ReplicaSet controller replaced (its SuccessfulCreate Events, minus the initial replicas). */
    readonly replacedByController: number
    /** Failing pods that are gone at the end. */
    readonly failingPodsGone: number
    /** Pods gone that were never marked failing (= an action nobody asked for, or a second one). */
    readonly healthyPodsGone: number
    readonly performedDecisions: number
    readonly performedDecisionsDuplicated: number
    readonly auditEvents: number
    readonly failingPodsWithoutDecision: number
    /** Failing pods still there at the end, by the reasons of their decisions (e.g. COOLDOWN: policy). */
    readonly failingPodsLeft: Readonly<Record<string, number>>
  }
  readonly decisions: Readonly<Record<string, number>>
  readonly crashes: number
  readonly unplannedExits: readonly UnplannedExit[]
  readonly settledAfterSec: number
  readonly violations: readonly string[]
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const IMAGE = 'ghcr.io/acme/chaos:1.0.0'

/** Retries an API call while kube-apiserver is down (the harness must not lose its own steps). */
async function retrying<T>(what: string, fn: () => Promise<T>, log: (l: string) => void, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let failures = 0
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      failures++
      if (Date.now() > deadline) throw err
      if (failures === 1) log(`${what}: ${err instanceof Error ? err.message.slice(0, 120) : String(err)} (retrying)`)
      await sleep(500)
    }
  }
}

export async function runKubeChaos(o: KubeChaosOptions): Promise<KubeChaosReport> {
  const run = Date.now().toString(36)
  const ns = `chaos-kube-${run}`
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'kube-reflex-kube-chaos-'))
  const services = await startServices(['postgres', 'kubernetes'], { reuseEnv: false, session: `kube-chaos-${run}`, log: (l) => o.log(`[services] ${l}`) })
  const postgres = services.services.postgres
  const kube = services.services.kubernetes
  if (postgres === undefined || kube === undefined) throw new Error('the services layer did not start PostgreSQL and Kubernetes')
  if (!kube.controllers) throw new Error('kube-controller-manager is not running: evicted pods would not be replaced')
  const a: Admin = admin(kube.kubeconfig)
  const log = o.log

  // An opted-in namespace with `deployments` Deployments of one replica each.
  await a.core.createNamespace({ body: { metadata: { name: ns, labels: { 'kube-reflex.dev/auto-recover': 'true' } } } })
  const names = Array.from({ length: o.deployments }, (_, i) => `app-${i}`)
  for (const name of names) {
    await a.apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name },
        spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: IMAGE }] } } },
      },
    })
  }
  const livePod = async (name: string): Promise<{ name: string; uid: string } | undefined> => {
    const pods = (await a.core.listNamespacedPod({ namespace: ns, labelSelector: `app=${name}` })).items.filter((p) => p.metadata?.deletionTimestamp === undefined)
    const p = pods[0]
    const n = p?.metadata?.name
    const uid = p?.metadata?.uid
    return n === undefined || uid === undefined ? undefined : { name: n, uid }
  }
  for (const name of names) {
    const deadline = Date.now() + 30_000
    while ((await livePod(name)) === undefined) {
      if (Date.now() > deadline) throw new Error(`the controllers did not create a pod for ${name}`)
      await sleep(200)
    }
  }

  const policyFile = path.join(workDir, 'policy.yaml')
  // Short cooldown so that each round's new failing pod may be acted on; budgets out of the way.
  await writeFile(policyFile, 'cooldownSeconds: 3\ntargetBudget: { max: 1000, windowSeconds: 3600 }\nglobalBudget: { max: 10000, windowSeconds: 3600 }\n')
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const k of ['KAFKA_BROKERS', 'KAFKA_ARCHIVE_TOPIC', 'ALERT_ROUTES_FILE', 'ALERT_WEBHOOK_URL', 'ALERT_SLACK_WEBHOOK_URL', 'ALERT_PAGERDUTY_ROUTING_KEY', 'ALERT_TEAMS_WEBHOOK_URL', 'CLASSIFY_RULES_FILE', 'PORT']) delete env[k]
  Object.assign(env, { DATABASE_URL: postgres.url, KUBECONFIG: kube.kubeconfig, RECOVERY_MODE: 'enforce', RECOVERY_POLICY_FILE: policyFile, LOG_LEVEL: 'warn' })
  const dev = new DevSupervisor({
    repo: REPO,
    args: ['--kubeconfig', kube.kubeconfig, '--namespace', ns, '--json', '--data-dir', path.join(workDir, 'data'), '--port', '0'],
    env,
    logFile: path.join(workDir, 'dev.log'),
    restartDelayMs: 500,
  })

  const failing = new Map<string, { pod: string; deployment: string; n: number }>() // uid → round
  let numbered = 0
  let rounds = 0
  let roundsFailed = 0
  let bounces = 0
  let burstPods = 0
  let settledAfterSec = -1
  const started = Date.now()
  const bounceAt = Array.from({ length: o.apiServerBounces }, (_, i) => ((i + 0.5) / o.apiServerBounces) * o.durationSec)
  const bouncer = (async () => {
    for (const at of bounceAt) {
      const wait = started + at * 1000 - Date.now()
      if (wait > 0) await sleep(wait)
      // A burst of failing pods just before the stop, so that auto-recover is in the middle of its
      // reads, evictions and audit writes when the server goes away.
      const burst = await Promise.all(
        names.map(async (deployment) => {
          try {
            const pod = await livePod(deployment)
            if (pod === undefined || failing.has(pod.uid)) return 0
            await setPodStatus(a, ns, pod.name, failingStatuses(IMAGE))
            failing.set(pod.uid, { pod: pod.name, deployment, n: 0 })
            return 1
          } catch {
            return 0
          }
        }),
      )
      burstPods += burst.reduce((s: number, n) => s + n, 0)
      await sleep(150)
      log(`t=${((Date.now() - started) / 1000).toFixed(1)}s fault: kube-apiserver stop ${o.downSec} s (${burst.reduce((s: number, n) => s + n, 0)} pods just marked failing)`)
      await kube.stopApiServer()
      await sleep(o.downSec * 1000)
      await kube.startApiServer()
      bounces++
      log(`t=${((Date.now() - started) / 1000).toFixed(1)}s kube-apiserver back`)
    }
  })()

  try {
    dev.start()
    // The live source lists first and only reports changes after that: give it time to sync.
    await sleep(8000)
    const roundStart = Date.now()
    while (Date.now() - roundStart < o.durationSec * 1000) {
      const deployment = names[rounds % names.length] ?? 'app-0'
      rounds++
      const n = rounds
      try {
        const pod = await retrying(`round ${n}: find the pod of ${deployment}`, async () => {
          const p = await livePod(deployment)
          if (p === undefined) throw new Error('no live pod yet')
          return p
        }, log)
        if (!failing.has(pod.uid)) {
          // The kubelet's view: CrashLoopBackOff in the status, then its BackOff Event.
          await retrying(`round ${n}: mark ${pod.name} failing`, () => setPodStatus(a, ns, pod.name, failingStatuses(IMAGE)), log)
          failing.set(pod.uid, { pod: pod.name, deployment, n })
          const at = new Date()
          await retrying(`round ${n}: BackOff Event`, () =>
            a.core.createNamespacedEvent({
              namespace: ns,
              body: {
                metadata: { name: `${pod.name}.chaos-${n}`, namespace: ns },
                involvedObject: { kind: 'Pod', namespace: ns, name: pod.name, uid: pod.uid, apiVersion: 'v1', fieldPath: 'spec.containers{app}' },
                reason: 'BackOff',
                message: `Back-off restarting failed container app in pod ${pod.name}_${ns}(${pod.uid}) [chaos-${run}-${n}]`,
                type: 'Warning',
                source: { component: 'kubelet', host: 'node-1' },
                reportingComponent: 'kubelet',
                reportingInstance: 'node-1',
                firstTimestamp: at,
                lastTimestamp: at,
                count: 1,
              },
            }), log)
          numbered++
        }
      } catch (err) {
        roundsFailed++
        log(`round ${n} failed: ${err instanceof Error ? err.message : String(err)}`)
      }
      await sleep(o.roundEverySec * 1000)
    }
    await bouncer
    const inputEnd = Date.now()
    log(`rounds over (${rounds}, ${numbered} numbered Events); waiting for the pipeline to settle`)
    // Settled: every failing pod has a recovery decision and nothing changed for three polls.
    const deadline = inputEnd + o.settleSec * 1000
    let last = ''
    let stable = 0
    while (Date.now() < deadline) {
      await sleep(2000)
      const snap = await withClient(postgres.url, async (c) => {
        const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM persist_events')
        return r.rows[0]?.n ?? ''
      }).catch(() => '')
      const pods = await a.core.listNamespacedPod({ namespace: ns }).then((l) => l.items.map((p) => p.metadata?.uid ?? '').sort().join(','), () => '')
      const s = `${snap}/${pods}`
      stable = s === last && snap !== '' ? stable + 1 : 0
      last = s
      if (stable >= 3) {
        settledAfterSec = (Date.now() - inputEnd) / 1000
        break
      }
    }
  } finally {
    await bouncer.catch(() => undefined)
    await dev.stop()
  }

  try {
    // ---- counting, from the outside ----
    const events = (await a.core.listNamespacedEvent({ namespace: ns })).items
    const rsCreated = events.filter((e) => e.reason === 'SuccessfulCreate' && e.involvedObject.kind === 'ReplicaSet').reduce((s, e) => s + (e.count ?? 1), 0)
    const auditEvents = events.filter((e) => e.reason === 'KubeReflexRecovery')
    const auditPerformed = auditEvents.filter((e) => e.type === 'Normal').length
    const pods = (await a.core.listNamespacedPod({ namespace: ns })).items
    const alive = new Set(pods.filter((p) => p.metadata?.deletionTimestamp === undefined).map((p) => p.metadata?.uid ?? ''))
    const failingGone = [...failing.keys()].filter((uid) => !alive.has(uid))
    const replaced = rsCreated - names.length

    const db = await withClient(postgres.url, async (c) => {
      const classified = await c.query<{ m: string; n: string }>(
        `SELECT substring(event->'data'->>'message' from '\\[chaos-[a-z0-9]+-([0-9]+)\\]') AS m, count(*) AS n FROM persist_events
          WHERE type = 'dev.kubereflex.event.classified' AND event->'data'->>'message' LIKE $1 GROUP BY 1`,
        [`%[chaos-${run}-%`],
      )
      const decisions = await c.query<{ type: string; reason: string | null; pod: string | null; target: string | null; object: string | null }>(
        `SELECT r.type, r.event->'data'->>'reason' AS reason, r.event->'data'->'change'->>'pod' AS pod,
                r.event->'data'->'target'->>'name' AS target, c.event->'data'->'object'->>'name' AS object
           FROM persist_events r LEFT JOIN persist_events c ON c.type = 'dev.kubereflex.event.classified'
             AND c.source = r.event->'data'->'input'->>'source' AND c.id = r.event->'data'->'input'->>'id'
          WHERE r.type LIKE 'dev.kubereflex.recovery.%'`,
      )
      return { classified: classified.rows, decisions: decisions.rows }
    })
    const perNumber = new Map(db.classified.map((r) => [Number(r.m), Number(r.n)]))
    let missing = 0
    let duplicated = 0
    for (const r of failing.values()) {
      if (r.n === 0) continue // burst pods: status signal only, no numbered Event
      const k = perNumber.get(r.n) ?? 0
      if (k === 0) missing++
      if (k > 1) duplicated += k - 1
    }
    const decisionCounts: Record<string, number> = {}
    const decidedPods = new Set<string>()
    const reasonsPerPod = new Map<string, Set<string>>()
    const performedPerPod = new Map<string, number>()
    for (const d of db.decisions) {
      const key = `${d.type.replace('dev.kubereflex.recovery.', '')} ${d.reason ?? '?'}`
      decisionCounts[key] = (decisionCounts[key] ?? 0) + 1
      if (d.object !== null) {
        decidedPods.add(d.object)
        const set = reasonsPerPod.get(d.object) ?? new Set<string>()
        set.add(d.reason ?? '?')
        reasonsPerPod.set(d.object, set)
      }
      if (d.type === 'dev.kubereflex.recovery.performed' && d.pod !== null) performedPerPod.set(d.pod, (performedPerPod.get(d.pod) ?? 0) + 1)
    }
    const performed = [...performedPerPod.values()].reduce((s, n) => s + n, 0)
    const performedDup = [...performedPerPod.values()].reduce((s, n) => s + Math.max(0, n - 1), 0)
    const failingPodNames = new Set([...failing.values()].map((f) => f.pod))
    const healthyGone = Math.max(0, replaced - failingGone.length)
    const failingPodsLeft: Record<string, number> = {}
    for (const [uid, f] of failing) {
      if (!alive.has(uid)) continue
      const key = [...(reasonsPerPod.get(f.pod) ?? new Set(['no decision']))].sort().join('+')
      failingPodsLeft[key] = (failingPodsLeft[key] ?? 0) + 1
    }
    const withoutDecision = [...failing.values()].filter((f) => !decidedPods.has(f.pod)).length
    const startup = dev.unplanned.filter((u) => /database unavailable while/.test(u.tail))
    const crashes = dev.unplanned.length - startup.length

    const violations: string[] = []
    if (missing > 0) violations.push(`${missing} numbered BackOff Event(s) created but never classified (the watch did not deliver them)`)
    if (duplicated > 0) violations.push(`${duplicated} duplicated classified row(s) for one numbered Event`)
    if (healthyGone > 0) violations.push(`${healthyGone} pod eviction(s) beyond one per failing pod (duplicated recovery actions)`)
    if (performedDup > 0) violations.push(`${performedDup} pod(s) with more than one performed decision`)
    if (replaced !== performed) violations.push(`the controller replaced ${replaced} pod(s) but ${performed} eviction(s) are recorded as performed`)
    if (auditPerformed !== performed) violations.push(`${auditPerformed} KubeReflexRecovery audit Event(s) (Normal) for ${performed} performed eviction(s)`)
    if (withoutDecision > 0) violations.push(`${withoutDecision} failing pod(s) without any recovery decision`)
    for (const p of performedPerPod.keys()) if (!failingPodNames.has(p)) violations.push(`pod ${p} evicted but never failing`)
    if (crashes > 0) violations.push(`${crashes} crash(es) of kube-reflex dev`)
    if (settledAfterSec < 0) violations.push(`not settled within ${o.settleSec} s`)
    return {
      run,
      namespace: ns,
      workDir,
      rounds,
      roundsFailed,
      apiServerBounces: bounces,
      numberedEvents: numbered,
      classified: { seen: perNumber.size, missing, duplicated },
      failingPods: failing.size,
      burstPods,
      evictions: {
        replacedByController: replaced,
        failingPodsGone: failingGone.length,
        healthyPodsGone: healthyGone,
        performedDecisions: performed,
        performedDecisionsDuplicated: performedDup,
        auditEvents: auditEvents.length,
        failingPodsWithoutDecision: withoutDecision,
        failingPodsLeft,
      },
      decisions: decisionCounts,
      crashes,
      unplannedExits: dev.unplanned,
      settledAfterSec,
      violations,
    }
  } finally {
    await services.stop()
    if (o.keep !== true) await rm(workDir, { recursive: true, force: true })
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

export function formatKubeReport(r: KubeChaosReport): string {
  const rows: [string, string | number][] = [
    ['rounds (one failing pod each) / failed', `${r.rounds} / ${r.roundsFailed}`],
    ['kube-apiserver stop/start', r.apiServerBounces],
    ['numbered BackOff Events created', r.numberedEvents],
    ['  classified / missing / duplicated', `${r.classified.seen} / ${r.classified.missing} / ${r.classified.duplicated}`],
    ['failing pods (of which in a burst right before a stop)', `${r.failingPods} (${r.burstPods})`],
    ['pods replaced by the ReplicaSet controller', r.evictions.replacedByController],
    ['failing pods gone', r.evictions.failingPodsGone],
    ['evictions beyond one per failing pod', r.evictions.healthyPodsGone],
    ['performed decisions (store) / duplicated', `${r.evictions.performedDecisions} / ${r.evictions.performedDecisionsDuplicated}`],
    ['KubeReflexRecovery audit Events', r.evictions.auditEvents],
    ['failing pods without a decision', r.evictions.failingPodsWithoutDecision],
    ['failing pods left, by decision', Object.entries(r.evictions.failingPodsLeft).map(([k, v]) => `${k}: ${v}`).join(', ') || '-'],
    ['decisions', Object.entries(r.decisions).map(([k, v]) => `${k}: ${v}`).join(', ')],
    ['dev crashes', r.crashes],
    ['settled after the last round (s)', r.settledAfterSec < 0 ? 'no' : r.settledAfterSec.toFixed(1)],
  ]
  const w = Math.max(...rows.map(([k]) => k.length))
  const out = rows.map(([k, v]) => `${k.padEnd(w)}  ${String(v)}`)
  out.push(r.violations.length === 0 ? 'RESULT: no violation' : `RESULT: ${r.violations.length} violation(s)\n  - ${r.violations.join('\n  - ')}`)
  for (const u of r.unplannedExits) out.push(`exit (code ${String(u.code)}, signal ${String(u.signal)}):\n${u.tail.split('\n').slice(-8).join('\n')}`)
  return out.join('\n')
}
