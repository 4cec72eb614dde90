// Realistic object shapes (as the API server returns them) for auto-recover's unit tests.
import type { V1ContainerStatus, V1CronJob, V1Deployment, V1Job, V1Pod, V1ReplicaSet } from '@kubernetes/client-node'

const T = new Date('2026-11-28T04:00:00Z')

export function crashLoopStatus(name = 'app'): V1ContainerStatus {
  return {
    name,
    image: 'ghcr.io/acme/web:2.0.1',
    imageID: '',
    ready: false,
    restartCount: 5,
    state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container=app pod=web' } },
    lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: T, finishedAt: T } },
  }
}

export function oomStatus(name = 'app'): V1ContainerStatus {
  return {
    name,
    image: 'ghcr.io/acme/web:2.0.1',
    imageID: '',
    ready: false,
    restartCount: 2,
    state: { running: { startedAt: T } },
    lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: T, finishedAt: T } },
  }
}

export function healthyStatus(name = 'app'): V1ContainerStatus {
  return { name, image: 'ghcr.io/acme/web:2.0.1', imageID: '', ready: true, restartCount: 0, state: { running: { startedAt: T } } }
}

/** The API version of an owner reference to a controller of `kind` (a Job is batch/v1). */
const OWNER_API_VERSION: Readonly<Record<string, string>> = { Job: 'batch/v1', Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1', ReplicaSet: 'apps/v1' }

export function pod(name: string, options: { owner?: { kind: string; name: string; uid?: string; apiVersion?: string }; hash?: string; statuses?: V1ContainerStatus[]; ready?: boolean; phase?: string; namespace?: string } = {}): V1Pod {
  const statuses = options.statuses ?? [healthyStatus()]
  const ready = options.ready ?? statuses.every((s) => s.ready)
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: options.namespace ?? 'shop',
      uid: `uid-${name}`,
      labels: { app: 'web', ...(options.hash === undefined ? {} : { 'pod-template-hash': options.hash }) },
      ...(options.owner === undefined
        ? {}
        : { ownerReferences: [{ apiVersion: options.owner.apiVersion ?? OWNER_API_VERSION[options.owner.kind] ?? 'example.com/v1', kind: options.owner.kind, name: options.owner.name, uid: options.owner.uid ?? `uid-${options.owner.name}`, controller: true, blockOwnerDeletion: true }] }),
    },
    spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:2.0.1' }] },
    status: {
      phase: options.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', ...(ready ? {} : { reason: 'ContainersNotReady' }) }],
      containerStatuses: statuses,
    },
  }
}

export function deployment(name: string, options: { revision?: number; conditions?: { type: string; status: string; reason?: string }[]; unavailable?: number; labels?: Record<string, string>; annotations?: Record<string, string> } = {}): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      resourceVersion: '1234',
      generation: 3,
      labels: options.labels ?? {},
      annotations: { 'deployment.kubernetes.io/revision': String(options.revision ?? 2), ...options.annotations },
    },
    spec: { replicas: 2, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:2.0.1' }] } } },
    status: { replicas: 2, unavailableReplicas: options.unavailable ?? 0, conditions: (options.conditions ?? []).map((c) => ({ ...c, lastTransitionTime: T })) },
  }
}

export function replicaSet(deploymentName: string, hash: string, revision: number | undefined, options: { ready?: number; image?: string; ownerUid?: string } = {}): V1ReplicaSet {
  return {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name: `${deploymentName}-${hash}`,
      namespace: 'shop',
      uid: `uid-${deploymentName}-${hash}`,
      labels: { app: deploymentName, 'pod-template-hash': hash },
      annotations: revision === undefined ? {} : { 'deployment.kubernetes.io/revision': String(revision) },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: deploymentName, uid: options.ownerUid ?? `uid-${deploymentName}`, controller: true }],
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: deploymentName, 'pod-template-hash': hash } },
      template: { metadata: { labels: { app: deploymentName, 'pod-template-hash': hash } }, spec: { containers: [{ name: 'app', image: options.image ?? `ghcr.io/acme/web:${revision ?? 0}` }] } },
    },
    status: { replicas: 2, readyReplicas: options.ready ?? 0 },
  }
}

/** A CronJob as the API server returns it (suspended: the tests create its Jobs themselves). */
export function cronJob(name: string, labels: Record<string, string> = {}): V1CronJob {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels },
    spec: { schedule: '0 3 * * *', suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'app', image: 'ghcr.io/acme/report:1.4.0' }] } } } } },
  }
}

/**
 * A Job; with `controller`, one that controller created (a CronJob's: `<cronjob>-<scheduled minute>`, with a
 * controller reference to it, as the cronjob controller and `kubectl create job --from=cronjob/…` set it).
 */
export function job(name: string, options: { labels?: Record<string, string>; controller?: { kind: string; name: string; uid?: string; apiVersion?: string } } = {}): V1Job {
  const c = options.controller
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: 'shop',
      uid: `uid-${name}`,
      labels: options.labels ?? {},
      ...(c === undefined ? {} : { ownerReferences: [{ apiVersion: c.apiVersion ?? 'batch/v1', kind: c.kind, name: c.name, uid: c.uid ?? `uid-${c.name}`, controller: true, blockOwnerDeletion: true }] }),
    },
    spec: { backoffLimit: 6, selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': `uid-${name}` } }, template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'app', image: 'ghcr.io/acme/report:1.4.0' }] } } },
  }
}
