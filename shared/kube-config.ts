// What every Kubernetes client of kube-reflex shares, whichever way client-node is loaded (the whole package,
// shared/kube.ts; or its KubeConfig alone, shared/kube-rest.ts): the options, how a configuration is loaded,
// connection reuse, and how API failures map onto the status table. No import of client-node itself here:
// the function bundles put each dynamic import of it into a vendor file of its own
// (scripts/bundle-functions.mjs), and a function loads only the file its callers import.
import type http from 'node:http'
import type https from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js'
import { ReflexError } from './errors.js'

export interface KubeClientOptions {
  /** Path to a kubeconfig; in-cluster config when absent and running in a Pod, else the default kubeconfig. */
  readonly kubeconfig?: string | undefined
  /** The Pod's ServiceAccount only, with no fallback to a kubeconfig (auto-recover in a cluster). */
  readonly inCluster?: boolean | undefined
}

/** A refusal from the API server: `code` is the HTTP status, `body` its metav1.Status (or text). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError'
  constructor(
    readonly code: number,
    readonly body: unknown,
    what: string,
  ) {
    const said = body !== null && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string' ? (body as { message: string }).message : typeof body === 'string' ? body.slice(0, 300) : ''
    super(`Kubernetes API answered ${code} to ${what}${said === '' ? '' : `: ${said}`}`)
  }
}

/** HTTP status of an error from the Kubernetes API (client-node's ApiException and KubeApiError carry `code`). */
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

/** Loads the configuration the options name into kc, and makes its API calls share connections. */
export async function configureKubeConfig<T extends KubeConfig>(kc: T, options: KubeClientOptions): Promise<T> {
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
 * 10 → 2.4 ms (docs/BENCHMARKS.md, change 29). This keeps one keep-alive agent per TLS configuration
 * instead. The configuration is still read for every call (a rotated client certificate or CA gets a new
 * agent; the token is a header, read as before), and proxies and plain-HTTP clusters keep client-node's
 * own agents.
 */
async function reuseConnections<T extends KubeConfig>(kc: T): Promise<T> {
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

/**
 * Whether a name can be one segment of an API path (apimachinery's IsValidPathSegmentName): the API server
 * decodes %2F before it routes, so escaping alone would let `default/pods` address another resource.
 */
export function isPathSegmentName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !/[/%]/.test(name)
}
