// Realistic ApiServerSource (Resource mode) CloudEvents for the benchmark, in binary and structured mode:
// a core/v1 Event as the API server returns it (managedFields included, ~1.2 KB of data) and a Pod in
// CrashLoopBackOff with container statuses and conditions. Every request carries a fresh `id`: the
// placeholder `[<id>]` is replaced per request by the load generator (bench/load-worker.mjs, a UUID per request) and by the
// start-up poller, so functions that deduplicate on (source, id) see new events, not redeliveries.
import { randomUUID } from 'node:crypto'
import { toBinary, toStructured, type CloudEventV1 } from '../../shared/cloudevent.js'
import { wrapAsApiServerSource } from '../../shared/apiserver-source.js'

export const ID_PLACEHOLDER = '[<id>]'
export type Mode = 'binary' | 'structured'

/** One HTTP request template: what the load generator and the start-up poller send. */
export interface Payload {
  readonly name: string
  readonly mode: Mode
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

const TIME = '2026-11-28T08:05:00Z'

/** core/v1 Event for a container restart back-off, with the managedFields the API server adds. */
export function coreV1Event(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: 'checkout-6f9c7b8d4-qk2vx.187b2c1f3a9d4e21',
      namespace: 'shop',
      uid: '8c2f9a41-7d3e-4b6a-9f0e-2a1c5d7e9b33',
      resourceVersion: '1048213',
      creationTimestamp: '2026-11-28T08:00:04Z',
      managedFields: [
        {
          manager: 'kubelet',
          operation: 'Update',
          apiVersion: 'v1',
          time: TIME,
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:count': {},
            'f:firstTimestamp': {},
            'f:involvedObject': {},
            'f:lastTimestamp': {},
            'f:message': {},
            'f:reason': {},
            'f:reportingComponent': {},
            'f:reportingInstance': {},
            'f:source': { 'f:component': {}, 'f:host': {} },
            'f:type': {},
          },
        },
      ],
    },
    involvedObject: {
      kind: 'Pod',
      namespace: 'shop',
      name: 'checkout-6f9c7b8d4-qk2vx',
      uid: '3e7a1b9c-2d4f-4e6a-8b0c-1f3d5e7a9c21',
      apiVersion: 'v1',
      resourceVersion: '1047990',
      fieldPath: 'spec.containers{checkout}',
    },
    reason: 'BackOff',
    message: 'Back-off restarting failed container checkout in pod checkout-6f9c7b8d4-qk2vx_shop(3e7a1b9c-2d4f-4e6a-8b0c-1f3d5e7a9c21)',
    source: { component: 'kubelet', host: 'worker-2' },
    firstTimestamp: '2026-11-28T08:00:04Z',
    lastTimestamp: TIME,
    count: 7,
    type: 'Warning',
    eventTime: null,
    reportingComponent: 'kubelet',
    reportingInstance: 'worker-2',
  }
}

/** A Deployment's Pod whose main container is in CrashLoopBackOff (sidecar healthy). */
export function crashLoopPod(): Record<string, unknown> {
  const container = (name: string, image: string) => ({
    name,
    image,
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
    resources: { limits: { memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
  })
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'checkout-6f9c7b8d4-qk2vx',
      generateName: 'checkout-6f9c7b8d4-',
      namespace: 'shop',
      uid: '3e7a1b9c-2d4f-4e6a-8b0c-1f3d5e7a9c21',
      resourceVersion: '1048214',
      creationTimestamp: '2026-11-28T07:58:40Z',
      labels: { app: 'checkout', 'pod-template-hash': '6f9c7b8d4' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'checkout-6f9c7b8d4', uid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      containers: [container('checkout', 'registry.example.com/shop/checkout:1.14.2'), container('envoy', 'envoyproxy/envoy:v1.31.2')],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'checkout',
      nodeName: 'worker-2',
      schedulerName: 'default-scheduler',
    },
    status: {
      phase: 'Running',
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-28T07:58:42Z' },
        { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-28T07:58:40Z' },
        { type: 'Ready', status: 'False', lastProbeTime: null, lastTransitionTime: '2026-11-28T08:00:04Z', reason: 'ContainersNotReady', message: 'containers with unready status: [checkout]' },
        { type: 'ContainersReady', status: 'False', lastProbeTime: null, lastTransitionTime: '2026-11-28T08:00:04Z', reason: 'ContainersNotReady', message: 'containers with unready status: [checkout]' },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: '2026-11-28T07:58:40Z' },
      ],
      hostIP: '10.0.0.12',
      podIP: '10.244.2.37',
      startTime: '2026-11-28T07:58:40Z',
      containerStatuses: [
        {
          name: 'checkout',
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container=checkout pod=checkout-6f9c7b8d4-qk2vx_shop(3e7a1b9c-2d4f-4e6a-8b0c-1f3d5e7a9c21)' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: '2026-11-28T08:02:11Z', finishedAt: '2026-11-28T08:02:13Z', containerID: 'containerd://4f1c2b3a' } },
          ready: false,
          restartCount: 7,
          image: 'registry.example.com/shop/checkout:1.14.2',
          imageID: 'registry.example.com/shop/checkout@sha256:1f2e3d4c5b6a79880716253443526170f1e2d3c4b5a69788',
          containerID: 'containerd://4f1c2b3a',
          started: false,
        },
        {
          name: 'envoy',
          state: { running: { startedAt: '2026-11-28T07:58:42Z' } },
          lastState: {},
          ready: true,
          restartCount: 0,
          image: 'docker.io/envoyproxy/envoy:v1.31.2',
          imageID: 'docker.io/envoyproxy/envoy@sha256:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071',
          containerID: 'containerd://9e8d7c6b',
          started: true,
        },
      ],
      qosClass: 'Burstable',
    },
  }
}

/** The HTTP request for an event in the given content mode (CloudEvents HTTP binding §3.1 / §3.2). */
export function toRequest(name: string, event: CloudEventV1, mode: Mode): Payload {
  const withPlaceholder: CloudEventV1 = { ...event, id: ID_PLACEHOLDER }
  if (mode === 'structured') {
    return { name, mode, headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' }, body: toStructured(withPlaceholder) }
  }
  const { headers, body } = toBinary(withPlaceholder)
  // The placeholder must reach the wire as-is (it is replaced before sending); toBinary percent-encodes '<'.
  headers['ce-id'] = ID_PLACEHOLDER
  return { name, mode, headers, body: body.toString('utf8') }
}

export function apiServerEvent(object: Record<string, unknown>, verb: 'add' | 'update' = 'update'): CloudEventV1 {
  return wrapAsApiServerSource(object, { verb, id: ID_PLACEHOLDER, time: TIME, source: 'https://10.96.0.1:443' })
}

/** Replaces the id placeholder (what autocannon does per request). */
export function materialize(p: Payload, id: string): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(p.headers)) headers[k] = v.split(ID_PLACEHOLDER).join(id)
  return { headers, body: p.body.split(ID_PLACEHOLDER).join(id) }
}

/** A renamed copy of a payload object: workload `checkout` becomes `svc<k>` (a cluster of k workloads). */
function renamed(o: Record<string, unknown>, k: number): Record<string, unknown> {
  return JSON.parse(JSON.stringify(o).replaceAll('checkout', `svc${k}`)) as Record<string, unknown>
}

function coreEvent(k: number, type: 'Normal' | 'Warning', reason: string, message: string): Record<string, unknown> {
  return { ...renamed(coreV1Event(), k), type, reason, message }
}

const NORMAL_REASONS = ['Scheduled', 'Pulling', 'Pulled', 'Created', 'Started', 'SuccessfulCreate', 'ScalingReplicaSet', 'Killing']

export type DevWorkload = 'storm' | 'mixed'

/**
 * The objects `kube-reflex dev` replays in the bench, in order (the replay cycles through them), across 50
 * workloads so that alert's groups and auto-recover's budgets see many problems:
 *  - storm: the worst case — every input is a critical problem (a crash-looping Pod update or a BackOff
 *    Event), so every input reaches alert (and its escalation) and auto-recover.
 *  - mixed: what a cluster's event stream looks like — per 20 inputs of a workload, 16 Normal lifecycle
 *    Events (Scheduled, Pulled, Started, … → info, stored only), 3 readiness-probe Warnings (→ warning:
 *    alert, no remediation) and 1 critical problem (a crash-looping Pod or a BackOff Event).
 */
export function devReplayObjects(workload: DevWorkload): Record<string, unknown>[] {
  const WORKLOADS = 50
  if (workload === 'storm') return Array.from({ length: WORKLOADS }, (_, k) => [renamed(crashLoopPod(), k), renamed(coreV1Event(), k)]).flat()
  return Array.from({ length: WORKLOADS }, (_, k) => [
    ...Array.from({ length: 16 }, (_, i) => coreEvent(k, 'Normal', NORMAL_REASONS[i % NORMAL_REASONS.length] ?? 'Pulled', 'lifecycle step completed')),
    ...Array.from({ length: 3 }, () => coreEvent(k, 'Warning', 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503')),
    k % 2 === 0 ? renamed(crashLoopPod(), k) : renamed(coreV1Event(), k),
  ]).flat()
}

/** `n` inputs of a dev replay workload as NDJSON (CloudEvents in the JSON format, a fresh id each), cycling through devReplayObjects. */
export function devReplayNdjson(workload: DevWorkload, n: number): string {
  const objects = devReplayObjects(workload)
  const lines: string[] = []
  for (let i = 0; i < n; i++) lines.push(toStructured({ ...apiServerEvent(objects[i % objects.length] ?? crashLoopPod()), id: randomUUID() }))
  return lines.join('\n') + '\n'
}

/** The input payloads every HTTP subject is measured with. */
export function inputPayloads(): Payload[] {
  const event = apiServerEvent(coreV1Event(), 'add')
  const pod = apiServerEvent(crashLoopPod(), 'update')
  return [toRequest('pod', pod, 'binary'), toRequest('pod', pod, 'structured'), toRequest('event', event, 'binary'), toRequest('event', event, 'structured')]
}
