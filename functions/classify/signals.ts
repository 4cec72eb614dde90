// Turns what Kubernetes wrote into signals the rules can match (DESIGN.md "Objects to understand"):
// core/v1 Event, events.k8s.io/v1 Event, the legacy producer format, Pod status and Deployment
// conditions. Everything here reads untrusted JSON: every field is checked, nothing is assumed.
import type { ObjectRef } from '../../shared/contracts.js'

export type SignalOrigin = 'event' | 'pod-status' | 'deployment-status'

export interface Signal {
  readonly origin: SignalOrigin
  readonly reason: string
  readonly message: string
  /** Normal | Warning for events; Status for object status. */
  readonly eventType: string
  /** Kind of the involved object. */
  readonly kind: string
  readonly component: string | null
  readonly host: string | null
  readonly container: string | null
}

export interface OwnerRef {
  readonly kind: string
  readonly name: string
  readonly controller: boolean
}

/** One Kubernetes occurrence, ready to classify. */
export interface Occurrence {
  readonly object: ObjectRef
  readonly owners: readonly OwnerRef[]
  readonly labels: Readonly<Record<string, string>>
  readonly signals: readonly Signal[]
  readonly firstTime: string | null
  readonly lastTime: string | null
  readonly count: number
  readonly cluster: string | null
}

type Json = Record<string, unknown>

export function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}
export function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null
}
function obj(v: unknown): Json {
  return isObject(v) ? v : {}
}
function list(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isObject) : []
}
// Normalized timestamps by their text: a Pod's statuses repeat the same few times event after event, and
// Date.parse + toISOString per field was ≈ 5 % of an event's CPU. Deterministic (same text → same result),
// and bounded: the cache starts over when it fills.
const TIMES = new Map<string, string | null>()
const TIMES_MAX = 4096

function time(v: unknown): string | null {
  const s = str(v)
  if (s === null) return null
  let out = TIMES.get(s)
  if (out === undefined) {
    out = Number.isNaN(Date.parse(s)) ? null : new Date(s).toISOString()
    if (TIMES.size >= TIMES_MAX) TIMES.clear()
    TIMES.set(s, out)
  }
  return out
}
function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null
}

// labelsOf, ownersOf and fromPod run for every Pod event: plain loops over the parsed JSON, without the
// intermediate arrays and spreads (entries, filter, flatMap) that showed up in the event path's profile.
export function labelsOf(metadata: Json): Record<string, string> {
  const out: Record<string, string> = {}
  const labels = metadata.labels
  if (!isObject(labels)) return out
  for (const k of Object.keys(labels)) {
    const v = labels[k]
    if (typeof v === 'string') out[k] = v
  }
  return out
}

export function ownersOf(metadata: Json): OwnerRef[] {
  const out: OwnerRef[] = []
  const refs = metadata.ownerReferences
  if (!Array.isArray(refs)) return out
  for (const o of refs as unknown[]) {
    if (!isObject(o)) continue
    const kind = str(o.kind)
    const name = str(o.name)
    if (kind !== null && name !== null) out.push({ kind, name, controller: o.controller === true })
  }
  return out
}

// Cluster-scoped kinds have no namespace, even though their Events are stored in one (usually default).
const CLUSTER_SCOPED = new Set(['Node', 'Namespace', 'PersistentVolume', 'StorageClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'CSINode', 'VolumeAttachment'])

function refOf(o: Json, fallbackNamespace: string | null): ObjectRef | null {
  const kind = str(o.kind)
  const name = str(o.name)
  if (kind === null || name === null) return null
  const namespace = CLUSTER_SCOPED.has(kind) ? null : (str(o.namespace) ?? fallbackNamespace)
  return { kind, name, namespace, uid: str(o.uid), apiVersion: str(o.apiVersion) }
}

/** Which shape a JSON value has, for the inputs DESIGN.md lists. */
export type KubeShape = 'core-event' | 'events-v1' | 'legacy' | 'pod' | 'deployment' | 'other-object' | 'unknown'

export function shapeOf(v: unknown): KubeShape {
  if (!isObject(v)) return 'unknown'
  const kind = v.kind
  const apiVersion = v.apiVersion
  if (kind === 'Event' && apiVersion === 'events.k8s.io/v1') return 'events-v1'
  if (isObject(v.regarding) && (v.note !== undefined || v.reportingController !== undefined)) return 'events-v1'
  if (isObject(v.involvedObject)) return 'core-event'
  if (typeof v.eventType === 'string' && isObject(v.kubernetes)) return 'legacy'
  if (kind === 'Pod' && isObject(v.metadata)) return 'pod'
  if (kind === 'Deployment' && isObject(v.metadata)) return 'deployment'
  if (typeof kind === 'string' && isObject(v.metadata)) return 'other-object'
  return 'unknown'
}

/** core/v1 Event (also kubernetes-event-exporter's enriched form, which adds labels/ownerReferences). */
export function fromCoreEvent(e: Json): Occurrence | null {
  const involved = obj(e.involvedObject)
  const meta = obj(e.metadata)
  const object = refOf(involved, str(meta.namespace))
  const reason = str(e.reason)
  if (object === null || reason === null) return null
  const source = obj(e.source)
  const series = obj(e.series)
  const first = time(e.firstTimestamp) ?? time(e.eventTime)
  const last = time(series.lastObservedTime) ?? time(e.lastTimestamp) ?? time(e.eventTime) ?? first
  return {
    object,
    owners: ownersOf(involved),
    labels: labelsOf(involved),
    signals: [
      {
        origin: 'event',
        reason,
        message: str(e.message) ?? '',
        eventType: str(e.type) ?? 'Normal',
        kind: object.kind,
        component: str(source.component) ?? str(e.reportingComponent),
        host: str(source.host) ?? str(e.reportingInstance),
        container: containerFromFieldPath(str(involved.fieldPath)),
      },
    ],
    firstTime: first,
    lastTime: last,
    count: count(series.count) ?? count(e.count) ?? 1,
    cluster: str(e.clusterName) ?? str(e.cluster),
  }
}

/** events.k8s.io/v1 Event: `regarding`, `note`, `series.count`, deprecated* fields. */
export function fromEventsV1(e: Json): Occurrence | null {
  const regarding = obj(e.regarding)
  const meta = obj(e.metadata)
  const object = refOf(regarding, str(meta.namespace))
  const reason = str(e.reason)
  if (object === null || reason === null) return null
  const series = obj(e.series)
  const deprecatedSource = obj(e.deprecatedSource)
  const first = time(e.deprecatedFirstTimestamp) ?? time(e.eventTime)
  return {
    object,
    owners: [],
    labels: {},
    signals: [
      {
        origin: 'event',
        reason,
        message: str(e.note) ?? '',
        eventType: str(e.type) ?? 'Normal',
        kind: object.kind,
        component: str(e.reportingController) ?? str(deprecatedSource.component),
        host: str(e.reportingInstance) ?? str(deprecatedSource.host),
        container: containerFromFieldPath(str(regarding.fieldPath)),
      },
    ],
    firstTime: first,
    lastTime: time(series.lastObservedTime) ?? time(e.deprecatedLastTimestamp) ?? time(e.eventTime) ?? first,
    count: count(series.count) ?? count(e.deprecatedCount) ?? 1,
    cluster: null,
  }
}

/** The legacy producer format: {eventType, timestamp, kubernetes:{namespace, object, reason, message, source, count, type}}. */
export function fromLegacy(e: Json): Occurrence | null {
  const k = obj(e.kubernetes)
  const o = obj(k.object)
  const object = refOf({ ...o, namespace: o.namespace ?? k.namespace }, str(k.namespace))
  const reason = str(k.reason)
  if (object === null || reason === null) return null
  const source = obj(k.source)
  const ts = time(e.timestamp)
  return {
    object,
    owners: [],
    labels: {},
    signals: [
      {
        origin: 'event',
        reason,
        message: str(k.message) ?? '',
        eventType: str(k.type) ?? 'Normal',
        kind: object.kind,
        component: str(source.component),
        host: str(source.host),
        container: null,
      },
    ],
    firstTime: ts,
    lastTime: ts,
    count: count(k.count) ?? 1,
    cluster: str(e.cluster) ?? str(k.cluster),
  }
}

// e.g. "spec.containers{app}" → "app"
function containerFromFieldPath(fieldPath: string | null): string | null {
  if (fieldPath === null) return null
  const m = /spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}/.exec(fieldPath)
  return m?.[1] ?? null
}

// Waiting reasons that are part of a normal start, not a problem.
const BENIGN_WAITING = new Set(['ContainerCreating', 'PodInitializing'])
// A last termination this recent still counts as the problem of the moment.
const RECENT_TERMINATION_MS = 10 * 60 * 1000

function objectRefOf(v: Json): ObjectRef | null {
  const meta = obj(v.metadata)
  const kind = str(v.kind)
  const name = str(meta.name)
  if (kind === null || name === null) return null
  return { kind, name, namespace: str(meta.namespace), uid: str(meta.uid), apiVersion: str(v.apiVersion) }
}

/** A Pod status signal; one shape for all of them (rules test them in a hot loop). */
function podSignal(reason: string, message: string, host: string | null, container: string | null, component = 'kubelet'): Signal {
  return { origin: 'pod-status', reason, message, eventType: 'Status', kind: 'Pod', component, host, container }
}

/**
 * Pod status → signals: each container's (and init container's) waiting reason, a recent OOMKilled
 * termination, the Pod's `status.reason` (Evicted, ...) and PodScheduled=False/Unschedulable.
 * A healthy Pod gives no signal.
 */
export function fromPod(pod: Json, now: number): Occurrence | null {
  const object = objectRefOf(pod)
  if (object === null) return null
  const meta = obj(pod.metadata)
  const status = obj(pod.status)
  const spec = obj(pod.spec)
  const host = str(spec.nodeName)
  const signals: Signal[] = []
  let lastTime: string | null = null
  // Init containers first, then the app containers.
  for (let pass = 0; pass < 2; pass++) {
    const statuses = pass === 0 ? status.initContainerStatuses : status.containerStatuses
    if (!Array.isArray(statuses)) continue
    for (const cs of statuses as unknown[]) {
      if (!isObject(cs)) continue
      const container = str(cs.name)
      const state = obj(cs.state)
      const last = obj(cs.lastState)
      const waiting = isObject(state.waiting) ? state.waiting : null
      const terminatedNow = isObject(state.terminated) ? state.terminated : null
      const lastTerminated = isObject(last.terminated) ? last.terminated : null
      const oom = terminatedNow?.reason === 'OOMKilled' ? terminatedNow : lastTerminated?.reason === 'OOMKilled' ? lastTerminated : null
      if (oom !== null) {
        const finished = Date.parse(str(oom.finishedAt) ?? '')
        const recent = Number.isFinite(finished) && now - finished < RECENT_TERMINATION_MS
        if (waiting !== null || oom === terminatedNow || recent) {
          signals.push(podSignal('OOMKilled', `container ${container ?? '?'} was OOMKilled (exit code ${count(oom.exitCode) ?? 137}), restarts: ${count(cs.restartCount) ?? 0}`, host, container))
          lastTime = time(oom.finishedAt) ?? lastTime
        }
      }
      if (waiting !== null) {
        lastTime = time(lastTerminated?.finishedAt) ?? lastTime
        const reason = str(waiting.reason)
        if (reason !== null && !BENIGN_WAITING.has(reason)) {
          signals.push(podSignal(reason, str(waiting.message) ?? `container ${container ?? '?'} is waiting: ${reason}`, host, container))
        }
      }
    }
  }
  const podReason = str(status.reason)
  if (podReason !== null) signals.push(podSignal(podReason, str(status.message) ?? podReason, host, null))
  const conditions = status.conditions
  if (Array.isArray(conditions)) {
    for (const c of conditions as unknown[]) {
      if (isObject(c) && c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable') {
        signals.push(podSignal('Unschedulable', str(c.message) ?? 'pod is unschedulable', host, null, 'default-scheduler'))
        lastTime = time(c.lastTransitionTime) ?? lastTime
      }
    }
  }
  if (signals.length === 0) return null
  return {
    object,
    owners: ownersOf(meta),
    labels: labelsOf(meta),
    signals,
    firstTime: time(status.startTime) ?? time(meta.creationTimestamp),
    lastTime,
    count: 1,
    cluster: null,
  }
}

/** Deployment conditions → signals: Progressing=False (ProgressDeadlineExceeded), Available=False, ReplicaFailure=True. */
export function fromDeployment(d: Json): Occurrence | null {
  const object = refOf({ ...obj(d.metadata), kind: 'Deployment', apiVersion: d.apiVersion }, null)
  if (object === null) return null
  const signals: Signal[] = []
  let lastTime: string | null = null
  for (const c of list(obj(d.status).conditions)) {
    const problem =
      (c.type === 'Progressing' && c.status === 'False') ||
      (c.type === 'Available' && c.status === 'False') ||
      (c.type === 'ReplicaFailure' && c.status === 'True')
    if (!problem) continue
    const reason = str(c.reason) ?? (c.type === 'Available' ? 'Unavailable' : String(c.type))
    signals.push({ origin: 'deployment-status', reason, message: str(c.message) ?? reason, eventType: 'Status', kind: 'Deployment', component: 'deployment-controller', host: null, container: null })
    lastTime = time(c.lastUpdateTime) ?? time(c.lastTransitionTime) ?? lastTime
  }
  if (signals.length === 0) return null
  const meta = obj(d.metadata)
  return { object, owners: [], labels: labelsOf(meta), signals, firstTime: time(meta.creationTimestamp), lastTime, count: 1, cluster: null }
}
