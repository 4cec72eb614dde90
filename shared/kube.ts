// `@kubernetes/client-node` whole, with its generated API and informers: ~190 ms and ~100 MB to load
// without a code cache, so it is imported on first use, never at start-up. For the dev source's watches
// (broker/sources/cluster.ts). The functions load client-node's KubeConfig only: shared/kube-rest.ts
// (auto-recover's calls) and shared/kube-access.ts (classify's reads and lists of any kind).
import { configureKubeConfig, kubeStatus, type KubeClientOptions } from './kube-config.js'

export { kubeStatus, type KubeClientOptions }

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
