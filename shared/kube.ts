// Kubernetes API access for the functions. `@kubernetes/client-node` costs ~190 ms and ~100 MB to load,
// so it is imported on first use, never at start-up (classify only needs it for Reference mode and sweeps).
import type http from 'node:http'
import type https from 'node:https'
import { ReflexError } from './errors.js'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown }
  [k: string]: unknown
}

export interface KubeClientOptions {
  /** Path to a kubeconfig; in-cluster config when absent and running in a Pod, else the default kubeconfig. */
  readonly kubeconfig?: string | undefined
  /** The Pod's ServiceAccount only, with no fallback to a kubeconfig (auto-recover in a cluster). */
  readonly inCluster?: boolean | undefined
}

/** The small surface kube-reflex uses; tests and auto-recover build on the same client. */
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
  const kc = new k8s.KubeConfig()
  if (options.kubeconfig !== undefined) kc.loadFromFile(options.kubeconfig)
  else if (options.inCluster === true) kc.loadFromCluster()
  else kc.loadFromDefault()
  return await reuseConnections(kc)
}

type AgentOptions = https.AgentOptions & { readonly passphrase?: string | undefined }
type Agent = http.Agent | https.Agent
interface ClusterView {
  readonly server: string
  readonly proxyUrl?: string | undefined
}
const TLS_OPTIONS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const

function sameOption(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b)
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameOption(x, b[i]))
  return a === b
}

/**
 * client-node 1.x builds a new https.Agent for every API call: each call then opens its own TLS connection
 * and builds a new TLS context (parsing the CA and client certificates again). A recovery decision makes
 * several calls; measured against the real kube-apiserver, 13.8 → 4.4 ms a call, the client's own CPU
 * 10 → 2.4 ms (docs/BENCHMARKS.md, change 29). This keeps one keep-alive agent per TLS configuration instead. The configuration is still read for every call
 * (a rotated client certificate or CA gets a new agent; the token is a header, read as before), and proxies
 * and plain-HTTP clusters keep client-node's own agents.
 */
async function reuseConnections<T extends InstanceType<KubeModule['KubeConfig']>>(kc: T): Promise<T> {
  // createAgent is private in client-node's types (1.4, pinned); without it there is nothing to change.
  const target = kc as unknown as { createAgent?: (cluster: ClusterView | null | undefined, options: AgentOptions) => Agent }
  const create = target.createAgent?.bind(kc)
  if (create === undefined) return kc
  // node:https (and TLS) only with a cluster: this module is on every function's start-up path.
  const { Agent: HttpsAgent } = await import('node:https')
  let cached: { options: AgentOptions; agent: https.Agent } | undefined
  target.createAgent = (cluster, agentOptions) => {
    if (cluster === null || cluster === undefined || cluster.proxyUrl !== undefined || !cluster.server.startsWith('https:')) return create(cluster, agentOptions)
    if (cached !== undefined && TLS_OPTIONS.every((k) => sameOption(cached?.options[k], agentOptions[k]))) return cached.agent
    const previous = cached?.agent
    // Calls still in flight on the previous agent finish; its idle connections close a minute later.
    if (previous !== undefined) setTimeout(() => previous.destroy(), 60_000).unref()
    cached = { options: { ...agentOptions }, agent: new HttpsAgent({ ...agentOptions, keepAlive: true }) }
    return cached.agent
  }
  return kc
}

/** HTTP status of an error thrown by client-node (ApiException carries `code`). */
export function kubeStatus(err: unknown): number | undefined {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'number') return code
    const statusCode = (err as { statusCode?: unknown }).statusCode
    if (typeof statusCode === 'number') return statusCode
  }
  return undefined
}

/** Maps an API failure onto the Knative status table: unreachable/5xx/429 → retry; the rest → error. */
export function kubeError(err: unknown, what: string): ReflexError {
  const status = kubeStatus(err)
  if (status === undefined || status >= 500 || status === 429) {
    return new ReflexError('DOWNSTREAM_UNAVAILABLE', `Kubernetes API unavailable while ${what}`, { cause: err, retryAfterSeconds: 2 })
  }
  if (status === 401 || status === 403) return new ReflexError('KUBE_FORBIDDEN', `Kubernetes API refused ${what} (${status})`, { cause: err, status: 500 })
  return new ReflexError('KUBE_REQUEST_FAILED', `Kubernetes API answered ${status} while ${what}`, { cause: err, status: 500 })
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
