// The workload behind an object: alerts group and recoveries act per workload, not per pod.
// Owner references are authoritative; without them (a bare core/v1 Event names only the Pod) the
// controllers' naming conventions are used and the result is marked `inferred`.
import type { ObjectRef, WorkloadRef } from '../../shared/contracts.js'
import type { OwnerRef } from './signals.js'

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'ReplicaSet', 'ReplicationController'])
// Deployment → ReplicaSet `<deployment>-<pod-template-hash>`; pod-template-hash is a SafeEncodeString'd
// hash, 1–10 chars from "bcdfghjklmnpqrstvwxz2456789".
const HASH = '[bcdfghjklmnpqrstvwxz2456789]{1,10}'
const RS_NAME = new RegExp(`^(.+)-(${HASH})$`)
const DEPLOYMENT_POD = new RegExp(`^(.+)-(${HASH})-([bcdfghjklmnpqrstvwxz2456789]{5})$`)
const STATEFUL_POD = /^(.+)-(\d+)$/
// CronJob → Job `<cronjob>-<scheduled time in minutes>`.
const CRONJOB_JOB = /^(.+)-(\d{8,})$/

function fromReplicaSetName(rsName: string, templateHash: string | undefined): WorkloadRef {
  if (templateHash !== undefined && rsName.endsWith(`-${templateHash}`)) {
    return { kind: 'Deployment', name: rsName.slice(0, -templateHash.length - 1), inferred: false }
  }
  const m = RS_NAME.exec(rsName)
  return m?.[1] !== undefined ? { kind: 'Deployment', name: m[1], inferred: true } : { kind: 'ReplicaSet', name: rsName, inferred: false }
}

export function workloadOf(object: ObjectRef, owners: readonly OwnerRef[], labels: Readonly<Record<string, string>>): WorkloadRef | null {
  if (WORKLOAD_KINDS.has(object.kind)) {
    if (object.kind === 'ReplicaSet') return fromReplicaSetName(object.name, undefined)
    if (object.kind === 'Job') {
      const m = CRONJOB_JOB.exec(object.name)
      if (owners.some((o) => o.kind === 'CronJob') && m?.[1] !== undefined) return { kind: 'CronJob', name: m[1], inferred: false }
    }
    return { kind: object.kind, name: object.name, inferred: false }
  }
  if (object.kind !== 'Pod') return null
  const controller = owners.find((o) => o.controller) ?? owners[0]
  if (controller !== undefined) {
    if (controller.kind === 'ReplicaSet') return fromReplicaSetName(controller.name, labels['pod-template-hash'])
    if (controller.kind === 'Job') {
      const m = CRONJOB_JOB.exec(controller.name)
      return m?.[1] !== undefined ? { kind: 'CronJob', name: m[1], inferred: true } : { kind: 'Job', name: controller.name, inferred: false }
    }
    return { kind: controller.kind, name: controller.name, inferred: false }
  }
  if (labels['pod-template-hash'] !== undefined) {
    const suffix = `-${labels['pod-template-hash']}-`
    const i = object.name.lastIndexOf(suffix)
    if (i > 0) return { kind: 'Deployment', name: object.name.slice(0, i), inferred: true }
  }
  const d = DEPLOYMENT_POD.exec(object.name)
  if (d?.[1] !== undefined) return { kind: 'Deployment', name: d[1], inferred: true }
  const s = STATEFUL_POD.exec(object.name)
  if (s?.[1] !== undefined) return { kind: 'StatefulSet', name: s[1], inferred: true }
  return null // a bare Pod, or one whose controller cannot be told from its name
}
