// Numbered, realistic input events for the chaos harness: the demo scenario's shapes (core/v1 Events as
// kubelet and the controllers write them, wrapped the way ApiServerSource Resource mode wraps them) over
// many workloads, every event written 2–3 times on purpose (same source + id, as a redelivery would be),
// and a small share of events that are invalid by design (classify must answer 400, the broker must
// dead-letter them, nothing else may be dead-lettered).
import { createHash } from 'node:crypto'

export const API_SERVER = 'https://kubernetes.default.svc'

export interface GeneratedInput {
  /** CloudEvent `id` (unique per logical event). */
  readonly id: string
  readonly valid: boolean
  /** Times this event appears in the stream (2 or 3). */
  readonly copies: number
}

export interface GeneratedStream {
  /** NDJSON lines in stream order (duplicates included). */
  readonly lines: string[]
  readonly inputs: readonly GeneratedInput[]
}

interface Shape {
  readonly reason: string
  readonly type: 'Normal' | 'Warning'
  readonly component: string
  readonly message: (w: Workload) => string
  readonly on: 'pod' | 'deployment'
}

interface Workload {
  readonly ns: string
  readonly deploy: string
  readonly rs: string
  readonly pod: string
  readonly container: string
  readonly image: string
}

// Messages are the real texts kubelet / scheduler / controllers write (see scripts/demo-scenario.mjs).
const SHAPES: readonly Shape[] = [
  { reason: 'Scheduled', type: 'Normal', component: 'default-scheduler', on: 'pod', message: (w) => `Successfully assigned ${w.ns}/${w.pod} to node-2` },
  { reason: 'Pulling', type: 'Normal', component: 'kubelet', on: 'pod', message: (w) => `Pulling image "${w.image}"` },
  { reason: 'Pulled', type: 'Normal', component: 'kubelet', on: 'pod', message: (w) => `Successfully pulled image "${w.image}" in 1.203s (1.203s including waiting)` },
  { reason: 'Started', type: 'Normal', component: 'kubelet', on: 'pod', message: (w) => `Started container ${w.container}` },
  { reason: 'ScalingReplicaSet', type: 'Normal', component: 'deployment-controller', on: 'deployment', message: (w) => `Scaled up replica set ${w.rs} to 3 from 2` },
  { reason: 'BackOff', type: 'Warning', component: 'kubelet', on: 'pod', message: (w) => `Back-off restarting failed container ${w.container} in pod ${w.pod}_${w.ns}(3f1c2a9e-1d2b-4c5d-8e9f-0a1b2c3d4e5f)` },
  { reason: 'Failed', type: 'Warning', component: 'kubelet', on: 'pod', message: (w) => `Failed to pull image "${w.image}-rc1": rpc error: code = NotFound desc = failed to pull and unpack image "${w.image}-rc1": not found` },
  { reason: 'Unhealthy', type: 'Warning', component: 'kubelet', on: 'pod', message: () => 'Liveness probe failed: HTTP probe failed with statuscode: 500' },
  { reason: 'FailedScheduling', type: 'Warning', component: 'default-scheduler', on: 'pod', message: () => '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.' },
  { reason: 'FailedMount', type: 'Warning', component: 'kubelet', on: 'pod', message: (w) => `MountVolume.SetUp failed for volume "${w.deploy}-config" : configmap "${w.deploy}-config" not found` },
  { reason: 'Failed', type: 'Warning', component: 'kubelet', on: 'pod', message: (w) => `Error: secret "${w.deploy}-credentials" not found` },
]

const NAMESPACES = ['shop', 'payments', 'analytics', 'jobs', 'edge', 'search', 'identity', 'media']
const APPS = ['api', 'worker', 'cart', 'ledger', 'collector', 'mailer', 'gateway', 'indexer', 'thumbnailer', 'auth', 'billing', 'notifier']

function hex(...parts: string[]): string {
  return createHash('sha1').update(parts.join('/')).digest('hex')
}

function uid(...parts: string[]): string {
  const h = hex(...parts)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

export function workloads(count: number): Workload[] {
  const out: Workload[] = []
  for (let i = 0; i < count; i++) {
    const ns = NAMESPACES[i % NAMESPACES.length] ?? 'default'
    const app = APPS[Math.floor(i / NAMESPACES.length) % APPS.length] ?? 'app'
    const deploy = `${app}-${Math.floor(i / (NAMESPACES.length * APPS.length))}`
    const rs = `${deploy}-${hex(ns, deploy).slice(0, 9)}`
    out.push({ ns, deploy, rs, pod: `${rs}-${hex(ns, deploy, 'pod').slice(0, 5)}`, container: app, image: `registry.example.com/${app}:2.${i % 10}.0` })
  }
  return out
}

/** Small deterministic PRNG (mulberry32) so a run is reproducible from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function coreEvent(w: Workload, shape: Shape, n: number, at: string): Record<string, unknown> {
  const involved =
    shape.on === 'pod'
      ? { kind: 'Pod', namespace: w.ns, name: w.pod, uid: uid(w.ns, 'Pod', w.pod), apiVersion: 'v1', fieldPath: `spec.containers{${w.container}}` }
      : { kind: 'Deployment', namespace: w.ns, name: w.deploy, uid: uid(w.ns, 'Deployment', w.deploy), apiVersion: 'apps/v1' }
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${involved.name}.${(0x180000000 + n).toString(16)}`, namespace: w.ns, uid: uid('event', String(n)), resourceVersion: String(100000 + n), creationTimestamp: at },
    involvedObject: involved,
    reason: shape.reason,
    message: shape.message(w),
    source: shape.component === 'kubelet' ? { component: 'kubelet', host: 'node-2' } : { component: shape.component },
    firstTimestamp: at,
    lastTimestamp: at,
    count: 1,
    type: shape.type,
    eventTime: null,
    reportingComponent: shape.component,
    reportingInstance: shape.component === 'kubelet' ? 'node-2' : '',
  }
}

/** What ApiServerSource (Resource mode) sends for an added Event, with our numbered id. */
function wrap(id: string, data: Record<string, unknown>, at: string): Record<string, unknown> {
  const md = (data.metadata ?? {}) as Record<string, unknown>
  const name = typeof md.name === 'string' ? md.name : 'unnamed'
  const ns = typeof md.namespace === 'string' ? md.namespace : 'default'
  return {
    specversion: '1.0',
    id,
    source: API_SERVER,
    type: 'dev.knative.apiserver.resource.add',
    subject: `/apis/v1/namespaces/${ns}/events/${name}`,
    time: at,
    datacontenttype: 'application/json',
    kind: 'Event',
    apiversion: 'v1',
    name,
    namespace: ns,
    data,
  }
}

export interface StreamOptions {
  readonly run: string
  readonly events: number
  readonly workloads: number
  readonly seed: number
  /** One event in `invalidEvery` is invalid by design (0: none). */
  readonly invalidEvery: number
  readonly now?: () => Date
}

/**
 * The stream: `events` logical events, each written 2–3 times; a copy lands up to ~40 lines after the
 * first, as a broker redelivery or a source re-list would bring it.
 */
export function generateStream(o: StreamOptions): GeneratedStream {
  const rand = prng(o.seed)
  const ws = workloads(o.workloads)
  const now = o.now ?? (() => new Date())
  const inputs: GeneratedInput[] = []
  const slots: { pos: number; line: string }[] = []
  for (let n = 0; n < o.events; n++) {
    const id = `chaos-${o.run}-${String(n).padStart(6, '0')}`
    const w = ws[Math.floor(rand() * ws.length)] ?? ws[0]
    const shape = SHAPES[Math.floor(rand() * SHAPES.length)] ?? SHAPES[0]
    if (w === undefined || shape === undefined) throw new Error('no workloads or shapes')
    const at = now().toISOString()
    const valid = !(o.invalidEvery > 0 && n % o.invalidEvery === o.invalidEvery - 1)
    // Invalid by design: an "Event" without metadata, involved object or reason (classify: 400).
    const data = valid ? coreEvent(w, shape, n, at) : { apiVersion: 'v1', kind: 'Event', note: `broken on purpose #${n}` }
    const line = JSON.stringify(wrap(id, data, at))
    const copies = rand() < 0.5 ? 2 : 3
    inputs.push({ id, valid, copies })
    slots.push({ pos: n, line })
    for (let c = 1; c < copies; c++) slots.push({ pos: n + 1 + rand() * 40, line })
  }
  slots.sort((a, b) => a.pos - b.pos)
  return { lines: slots.map((s) => s.line), inputs }
}
