// Builders for realistic Kubernetes payloads, with the field shapes kubelet, the scheduler and the
// controllers really write. Tests state only what differs.

export function coreEvent(o: {
  reason: string
  message: string
  type?: 'Normal' | 'Warning'
  kind?: string
  name?: string
  namespace?: string
  component?: string
  host?: string
  count?: number
  fieldPath?: string
  extra?: Record<string, unknown>
}): Record<string, unknown> {
  const kind = o.kind ?? 'Pod'
  const name = o.name ?? 'web-7d4b9c8f5d-x2x9k'
  const namespace = o.namespace ?? 'shop'
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${name}.17a2b3c4d5e6f708`, namespace: kind === 'Node' ? 'default' : namespace, uid: '5b0c7f5e-1d4e-4a8e-9b1c-2f7e3d9a1b11', resourceVersion: '48213' },
    involvedObject: {
      kind,
      name,
      ...(kind === 'Node' ? {} : { namespace }),
      uid: '0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11',
      apiVersion: kind === 'Deployment' || kind === 'ReplicaSet' ? 'apps/v1' : 'v1',
      ...(o.fieldPath === undefined ? {} : { fieldPath: o.fieldPath }),
    },
    reason: o.reason,
    message: o.message,
    source: { component: o.component ?? 'kubelet', ...(o.host === undefined ? { host: 'node-1' } : { host: o.host }) },
    firstTimestamp: '2026-11-28T08:00:00Z',
    lastTimestamp: '2026-11-28T08:05:00Z',
    count: o.count ?? 1,
    type: o.type ?? 'Warning',
    eventTime: null,
    reportingComponent: o.component ?? 'kubelet',
    reportingInstance: o.host ?? 'node-1',
    ...o.extra,
  }
}

export function eventsV1(o: { reason: string; note: string; type?: string; kind?: string; name?: string; namespace?: string; controller?: string; seriesCount?: number }): Record<string, unknown> {
  return {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { name: `${o.name ?? 'db-0'}.17a1bb`, namespace: o.namespace ?? 'data' },
    eventTime: '2026-11-28T08:00:00.000000Z',
    reportingController: o.controller ?? 'kubelet',
    reportingInstance: 'node-2',
    action: 'Mounting',
    reason: o.reason,
    type: o.type ?? 'Warning',
    regarding: { kind: o.kind ?? 'Pod', namespace: o.namespace ?? 'data', name: o.name ?? 'db-0', uid: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d', apiVersion: 'v1' },
    note: o.note,
    ...(o.seriesCount === undefined ? {} : { series: { count: o.seriesCount, lastObservedTime: '2026-11-28T08:09:00.000000Z' } }),
  }
}

export function legacyRecord(o: { reason: string; message: string; type?: string; kind?: string; name?: string; namespace?: string; cluster?: string }): Record<string, unknown> {
  return {
    eventType: 'ADDED',
    timestamp: '2026-11-28T08:00:00Z',
    kubernetes: {
      namespace: o.namespace ?? 'edge',
      object: { kind: o.kind ?? 'Pod', name: o.name ?? 'ingress-gw-5d9b7c6f8-zx4lp', uid: '9b8c7d6e-1f2a-4b3c-8d9e-0f1a2b3c4d5e' },
      reason: o.reason,
      message: o.message,
      source: { component: 'kubelet', host: 'edge-node-4' },
      count: 9,
      type: o.type ?? 'Warning',
    },
    ...(o.cluster === undefined ? {} : { cluster: o.cluster }),
  }
}

export interface ContainerStatusSpec {
  name?: string
  waiting?: { reason: string; message?: string }
  terminated?: { reason: string; exitCode: number; finishedAt?: string }
  lastTerminated?: { reason: string; exitCode: number; finishedAt?: string }
  restarts?: number
  running?: boolean
}

function containerStatus(c: ContainerStatusSpec): Record<string, unknown> {
  const state = c.waiting !== undefined ? { waiting: c.waiting } : c.terminated !== undefined ? { terminated: { ...c.terminated, startedAt: '2026-11-28T07:59:00Z' } } : { running: { startedAt: '2026-11-28T07:59:00Z' } }
  return {
    name: c.name ?? 'app',
    image: 'registry.example.com/app:1.0.0',
    imageID: '',
    ready: c.running === true,
    restartCount: c.restarts ?? 0,
    started: c.running === true,
    state,
    lastState: c.lastTerminated === undefined ? {} : { terminated: { ...c.lastTerminated, startedAt: '2026-11-28T07:58:00Z' } },
  }
}

export function pod(o: {
  name?: string
  namespace?: string
  owner?: { kind: string; name: string } | null
  templateHash?: string
  containers?: ContainerStatusSpec[]
  initContainers?: ContainerStatusSpec[]
  phase?: string
  reason?: string
  message?: string
  unschedulable?: string
}): Record<string, unknown> {
  const owner = o.owner === undefined ? { kind: 'ReplicaSet', name: 'web-7d4b9c8f5d' } : o.owner
  const labels: Record<string, string> = { app: 'web' }
  if (o.templateHash !== undefined) labels['pod-template-hash'] = o.templateHash
  else if (owner?.kind === 'ReplicaSet') labels['pod-template-hash'] = owner.name.split('-').pop() ?? ''
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: o.name ?? 'web-7d4b9c8f5d-x2x9k',
      namespace: o.namespace ?? 'shop',
      uid: '0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11',
      labels,
      ...(owner === null ? {} : { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: '1a2b3c4d-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true }] }),
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'app', image: 'registry.example.com/app:1.0.0' }] },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.reason === undefined ? {} : { reason: o.reason, message: o.message ?? '' }),
      conditions:
        o.unschedulable !== undefined
          ? [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: o.unschedulable, lastTransitionTime: '2026-11-28T08:00:00Z' }]
          : [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-11-28T07:58:00Z' }],
      startTime: '2026-11-28T07:58:00Z',
      ...(o.initContainers === undefined ? {} : { initContainerStatuses: o.initContainers.map(containerStatus) }),
      containerStatuses: (o.containers ?? [{ running: true }]).map(containerStatus),
    },
  }
}

export function deployment(o: { name?: string; namespace?: string; conditions: { type: string; status: string; reason?: string; message?: string }[] }): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name ?? 'checkout', namespace: o.namespace ?? 'shop', uid: '3c2b1a0f-0000-4000-8000-000000000002', generation: 4 },
    spec: { replicas: 3 },
    status: {
      observedGeneration: 4,
      replicas: 3,
      conditions: o.conditions.map((c) => ({ ...c, lastUpdateTime: '2026-11-28T08:10:00Z', lastTransitionTime: '2026-11-28T08:10:00Z' })),
    },
  }
}
