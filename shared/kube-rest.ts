// Kubernetes API access without client-node's generated API: the kubeconfig, the authentication and the TLS
// settings are client-node's own KubeConfig (in-cluster config or a kubeconfig, exec/OIDC/token-file auth,
// proxies), the requests are plain JSON over node:https. For the functions that make a handful of known
// calls on a cold path (auto-recover): importing client-node whole loads ≈ 1,000 generated model classes and
// its ObjectSerializer (vendor/kubernetes.js, 5.6 MB, ≈ 90 ms from a code cache), where KubeConfig alone is
// 1.2 MB and ≈ 50 ms (docs/BENCHMARKS.md, change 30). Objects come back as the API server sent them (no
// model classes, timestamps stay strings) and go out as given, so no field a newer API server knows is
// dropped on the way back (client-node's serializer keeps only the fields its models know).
import type https from 'node:https'
import type { KubeConfig } from '@kubernetes/client-node/dist/config.js'
import { configureKubeConfig, isPathSegmentName, KubeApiError, type KubeClientOptions } from './kube-config.js'

export { isPathSegmentName, kubeError, kubeStatus, KubeApiError, type KubeClientOptions } from './kube-config.js'

/** client-node's KubeConfig without its generated API: config.js, not the package's index. */
export async function loadKubeConfigOnly(options: KubeClientOptions): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node/dist/config.js')
  return await configureKubeConfig(new KubeConfig(), options)
}

export type Query = Readonly<Record<string, string | undefined>>

export interface KubeRequest {
  readonly query?: Query | undefined
  /** Sent as JSON. */
  readonly body?: unknown
  /** Default application/json; PATCH needs one of the patch types. */
  readonly contentType?: string | undefined
}

export const MERGE_PATCH = 'application/merge-patch+json'
export const JSON_PATCH = 'application/json-patch+json'

export interface KubeRest {
  /** The server's JSON answer to a 2xx; a KubeApiError for any other status; network errors as they come. */
  request<T>(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, options?: KubeRequest): Promise<T>
}

export interface KubeRestOptions extends KubeClientOptions {
  /** Per request: how long the connection may stay silent (default 30 s); a timeout is an error without a status. */
  readonly timeoutMs?: number | undefined
}

/** A JSON client for the API server the options name, authenticated the way client-node authenticates. */
export async function connectKube(options: KubeRestOptions): Promise<KubeRest> {
  const kc = await loadKubeConfigOnly(options)
  const cluster = kc.getCurrentCluster()
  if (cluster === null) throw new Error('the Kubernetes configuration names no current cluster')
  const server = new URL(cluster.server)
  // A server URL may carry a path prefix (a proxy in front of the API server): API paths go under it.
  const prefix = server.pathname.replace(/\/+$/, '')
  const transport = server.protocol === 'http:' ? await import('node:http') : await import('node:https')
  const timeoutMs = options.timeoutMs ?? 30_000

  return {
    async request<T>(method: string, path: string, req: KubeRequest = {}): Promise<T> {
      const url = new URL(server.origin)
      url.pathname = `${prefix}${path}`
      for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, v)
      const headers: Record<string, string> = { accept: 'application/json' }
      // Authentication (token, exec plugin, client certificate), TLS settings and the agent: client-node's.
      const opts: https.RequestOptions = { method, headers }
      await kc.applyToHTTPSOptions(opts)
      const payload = req.body === undefined ? undefined : JSON.stringify(req.body)
      if (payload !== undefined) {
        headers['content-type'] = req.contentType ?? 'application/json'
        headers['content-length'] = String(Buffer.byteLength(payload))
      }
      const what = `${method} ${url.pathname}`
      return await new Promise<T>((resolve, reject) => {
        const sent = transport.request(url, opts, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('error', reject)
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            const status = res.statusCode ?? 0
            let body: unknown = text
            if (text !== '' && /\bjson\b/.test(res.headers['content-type'] ?? '')) {
              try {
                body = JSON.parse(text) as unknown
              } catch {
                // kept as text: a refusal is still reported, an answer is not
                if (status >= 200 && status < 300) return reject(new Error(`Kubernetes API answered ${what} with malformed JSON`))
              }
            }
            if (status >= 200 && status < 300) resolve((text === '' ? undefined : body) as T)
            else reject(new KubeApiError(status, body, what))
          })
        })
        sent.setTimeout(timeoutMs, () => sent.destroy(new Error(`Kubernetes API: no answer to ${what} within ${timeoutMs} ms`)))
        sent.on('error', reject)
        sent.end(payload)
      })
    },
  }
}

/** A name as a path segment; anything that cannot be an object's name is refused, never sent. */
export function seg(name: string): string {
  if (!isPathSegmentName(name)) throw new Error(`${JSON.stringify(name)} is not a Kubernetes object name`)
  return encodeURIComponent(name)
}
