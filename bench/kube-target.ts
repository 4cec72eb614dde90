// auto-recover-kube's Kubernetes API: a kube-apiserver (with etcd, without controllers) of the test-services
// layer, started by the harness and stopped at the end — never the KUBECONFIG of the harness's environment,
// since the harness writes to it (a namespace). Only from binaries already built on this machine: a bench
// run never builds or installs anything.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { kubernetesHome, startServices } from '../scripts/test-services/index.mjs'
import { OPT_IN_KEY } from '../functions/auto-recover/policy.js'

export interface KubeTarget {
  /** Path of the kubeconfig; undefined when no API server was started (see reason). */
  readonly kubeconfig?: string | undefined
  readonly reason?: string | undefined
  /** Process ids of the API server and etcd, for the harness's Ctrl-C clean-up. */
  readonly pids?: readonly number[] | undefined
  stop(): Promise<void>
}

/** Whether this machine has a kube-apiserver built (the harness never builds one). */
export function kubeApiserverBuilt(): boolean {
  return existsSync(join(kubernetesHome(), 'bin', 'kube-apiserver'))
}

/**
 * Starts the API server and creates the bench Pod's namespace, opted in to auto-recover, so that
 * auto-recover's first reply takes what it takes in a cluster: loading the Kubernetes client, a TLS
 * connection, and the reads that decide (the Pod itself is absent: the decision is TARGET_GONE, the same
 * at every cold start, where a Pod that exists would be in cool-down after the first).
 */
export async function startKubeTarget(selected: boolean, namespace: string, log: (line: string) => void): Promise<KubeTarget> {
  const none = async (): Promise<void> => undefined
  if (!selected) return { reason: 'not selected (--only)', stop: none }
  if (!kubeApiserverBuilt()) {
    return { reason: 'kube-apiserver is not built on this machine (`npm run -s services -- provision kubernetes` builds it)', stop: none }
  }
  let stop = none
  try {
    const started = await startServices(['kubernetes'], { reuseEnv: false, controllers: false, session: `bench-kube-${process.pid}`, log: (l) => log(`kube ${l}`) })
    stop = () => started.stop()
    const handle = started.services.kubernetes
    const kubeconfig = started.env.KUBECONFIG
    if (handle === undefined || kubeconfig === undefined) throw new Error('the services layer started no kube-apiserver')
    const k8s = await import('@kubernetes/client-node')
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(kubeconfig)
    await kc.makeApiClient(k8s.CoreV1Api).createNamespace({ body: { metadata: { name: namespace, labels: { [OPT_IN_KEY]: 'true' } } } })
    const pids = handle.toState().processes.map((p) => p.pid)
    return { kubeconfig, pids, stop }
  } catch (err) {
    await stop().catch(() => undefined)
    return { reason: `the kube-apiserver did not start: ${(err as Error).message}`, stop: none }
  }
}
