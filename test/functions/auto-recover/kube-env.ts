// The real kube-apiserver for auto-recover's integration tests, and small helpers to drive it.
// KUBECONFIG comes from the environment (`npm test`, `eval "$(npm run -s services -- start kubernetes)"`,
// or your own cluster); otherwise the tests start the server through the test-services layer.
import https from 'node:https'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, PolicyV1Api, RbacAuthorizationV1Api, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node'
import { parse, stringify } from 'yaml'

export function kubeconfigFromEnv(): string | undefined {
  const v = process.env.KUBECONFIG
  return v === undefined || v === '' ? undefined : v
}

export interface Admin {
  readonly kc: KubeConfig
  readonly core: CoreV1Api
  readonly apps: AppsV1Api
  readonly batch: BatchV1Api
  readonly policy: PolicyV1Api
  readonly rbac: RbacAuthorizationV1Api
}

export function admin(kubeconfig: string): Admin {
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), batch: kc.makeApiClient(BatchV1Api), policy: kc.makeApiClient(PolicyV1Api), rbac: kc.makeApiClient(RbacAuthorizationV1Api) }
}

interface KubeconfigDoc {
  clusters: { cluster: { server: string } }[]
  users: { user: Record<string, unknown> }[]
}

/** A copy of the admin kubeconfig that impersonates a ServiceAccount (`as:`; the admin may impersonate). */
export function impersonating(kubeconfig: string, dir: string, namespace: string, serviceAccount: string): string {
  const doc = parse(readFileSync(kubeconfig, 'utf8')) as KubeconfigDoc
  for (const u of doc.users) u.user.as = `system:serviceaccount:${namespace}:${serviceAccount}`
  const file = join(dir, `kubeconfig-${serviceAccount}`)
  writeFileSync(file, stringify(doc))
  return file
}

/** A copy of the kubeconfig whose server is a closed port: the API server is down. */
export function unreachable(kubeconfig: string, dir: string, port: number): string {
  const doc = parse(readFileSync(kubeconfig, 'utf8')) as KubeconfigDoc
  for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${port}`
  const file = join(dir, 'kubeconfig-down')
  writeFileSync(file, stringify(doc))
  return file
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last instanceof Error ? `: ${last.message}` : ''}`)
}

const NOW = (): Date => new Date()

export function readyStatuses(image: string): { phase: string; conditions: { type: string; status: string; lastTransitionTime: Date }[]; containerStatuses: V1ContainerStatus[] } {
  return {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: NOW() }],
    containerStatuses: [{ name: 'app', image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: NOW() } } }],
  }
}

/** What the kubelet writes for a container in CrashLoopBackOff (or, with `oom`, after an OOM kill). */
export function failingStatuses(image: string, oom = false): ReturnType<typeof readyStatuses> {
  return {
    phase: 'Running',
    conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: NOW() }],
    containerStatuses: [
      {
        name: 'app',
        image,
        imageID: '',
        ready: false,
        restartCount: 4,
        started: false,
        state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 1m20s restarting failed container=app' } },
        lastState: { terminated: { exitCode: oom ? 137 : 1, reason: oom ? 'OOMKilled' : 'Error', startedAt: NOW(), finishedAt: NOW() } },
      },
    ],
  }
}

/** Drives a pod's status through the status subresource, as the kubelet would. */
export async function setPodStatus(a: Admin, namespace: string, name: string, status: ReturnType<typeof readyStatuses>): Promise<V1Pod> {
  const live = await a.core.readNamespacedPod({ namespace, name })
  return a.core.replaceNamespacedPodStatus({ namespace, name, body: { ...live, status: { ...live.status, ...status } } })
}

export async function podsOf(a: Admin, namespace: string, selector: string): Promise<V1Pod[]> {
  return (await a.core.listNamespacedPod({ namespace, labelSelector: selector })).items.filter((p) => p.metadata?.deletionTimestamp === undefined)
}

/** Counts the TLS connections https agents open while fn runs. */
export async function connectionsDuring(fn: () => Promise<void>): Promise<number> {
  const proto = https.Agent.prototype as unknown as { createConnection: (...args: unknown[]) => unknown }
  const original = proto.createConnection
  let opened = 0
  proto.createConnection = function (this: unknown, ...args: unknown[]) {
    opened++
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.createConnection = original
  }
  return opened
}
