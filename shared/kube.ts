// Kubernetes API access through `@kubernetes/client-node` whole: ~190 ms and ~100 MB to load without a
// code cache, so it is imported on first use, never at start-up. For the callers that need many kinds
// (classify's Reference mode and sweeps, the dev source's watches); auto-recover's few known calls use
// shared/kube-rest.ts, which loads client-node's KubeConfig only.
import { configureKubeConfig, kubeError, kubeStatus, type KubeClientOptions } from './kube-config.js'

export { kubeError, kubeStatus, type KubeClientOptions }

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown }
  [k: string]: unknown
}

/** Reads and lists of any kind (classify's Reference mode and sweeps; tests). */
export interface KubeAccess {
  read(apiVersion: string, kind: string, namespace: string | null, name: string): Promise<KubeObject | null>
  list(apiVersion: string, kind: string, namespace: string | null, options?: { labelSelector?: string; fieldSelector?: string }): Promise<KubeObject[]>
}

export type KubeModule = typeof import('@kubernetes/client-node')

let modulePromise: Promise<KubeModule> | undefined
export function loadKubeModule(): Promise<KubeModule> {
  modulePromise ??= import('@kubernetes/client-node')
  return modulePromise
}

export async function loadKubeConfig(options: KubeClientOptions): Promise<InstanceType<KubeModule['KubeConfig']>> {
  const k8s = await loadKubeModule()
  return await configureKubeConfig(new k8s.KubeConfig(), options)
}

export async function createKubeAccess(options: KubeClientOptions = {}): Promise<KubeAccess> {
  const k8s = await loadKubeModule()
  const kc = await loadKubeConfig(options)
  const api = k8s.KubernetesObjectApi.makeApiClient(kc)
  return {
    async read(apiVersion, kind, namespace, name) {
      try {
        const spec = { apiVersion, kind, metadata: namespace === null ? { name } : { name, namespace } }
        return await api.read<KubeObject>(spec)
      } catch (err) {
        if (kubeStatus(err) === 404) return null
        throw kubeError(err, `reading ${kind} ${namespace ?? ''}/${name}`)
      }
    },
    async list(apiVersion, kind, namespace, options = {}) {
      try {
        const res = await api.list(apiVersion, kind, namespace ?? undefined, undefined, undefined, undefined, options.fieldSelector, options.labelSelector)
        return res.items as KubeObject[]
      } catch (err) {
        throw kubeError(err, `listing ${kind}`)
      }
    },
  }
}
