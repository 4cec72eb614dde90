// Reads and lists of any kind, for classify's Reference mode and sweeps: the object as the API server sent
// it, which is what ApiServerSource puts in a Resource-mode event, so both modes classify the same JSON.
// Over shared/kube-rest.ts (client-node's KubeConfig, plain JSON requests): the kind's resource name and
// scope come from the API server's discovery document for its group version, read once and again when a
// kind is not in it (a CRD installed since).
import { connectKube, isPathSegmentName, kubeError, kubeStatus, seg, type KubeClientOptions, type KubeRest } from './kube-rest.js'

export interface KubeObject {
  apiVersion?: string
  kind?: string
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; [k: string]: unknown }
  [k: string]: unknown
}

export interface KubeAccess {
  /** The object, or null when it does not exist (or its kind is not served). */
  read(apiVersion: string, kind: string, namespace: string | null, name: string): Promise<KubeObject | null>
  /** Every object of the kind, in one namespace or (null) all of them. */
  list(apiVersion: string, kind: string, namespace: string | null, options?: { labelSelector?: string; fieldSelector?: string }): Promise<KubeObject[]>
}

interface Resource {
  readonly plural: string
  readonly namespaced: boolean
}

interface APIResourceList {
  resources?: { name: string; kind: string; namespaced: boolean }[]
}

/** Where a group version's resources live: /api/v1 for the core group, /apis/<group>/<version> otherwise. */
function groupVersionPath(apiVersion: string): string | undefined {
  const parts = apiVersion.split('/')
  if (!parts.every(isPathSegmentName)) return undefined
  if (parts.length === 1) return `/api/${apiVersion}`
  if (parts.length === 2) return `/apis/${apiVersion}`
  return undefined
}

export async function createKubeAccess(options: KubeClientOptions = {}): Promise<KubeAccess> {
  const api: KubeRest = await connectKube(options)
  const discovered = new Map<string, Promise<Map<string, Resource> | null>>()

  const discover = (apiVersion: string, base: string): Promise<Map<string, Resource> | null> => {
    let known = discovered.get(apiVersion)
    if (known === undefined) {
      known = api.request<APIResourceList>('GET', base).then(
        // Subresources (pods/status, pods/eviction) are not kinds of their own.
        (list) => new Map((list.resources ?? []).filter((r) => !r.name.includes('/')).map((r) => [r.kind, { plural: r.name, namespaced: r.namespaced }])),
        (err: unknown) => {
          discovered.delete(apiVersion) // not cached: the next call asks again
          if (kubeStatus(err) === 404) return null // a group version this server does not serve
          throw err
        },
      )
      discovered.set(apiVersion, known)
    }
    return known
  }

  /** The path of the kind's collection (in `namespace` when namespaced), or undefined when not served. */
  async function collection(apiVersion: string, kind: string, namespace: string | null): Promise<string | undefined> {
    const base = groupVersionPath(apiVersion)
    if (base === undefined) return undefined
    let resource = (await discover(apiVersion, base))?.get(kind)
    if (resource === undefined && discovered.has(apiVersion)) {
      discovered.delete(apiVersion) // perhaps installed since the document was read
      resource = (await discover(apiVersion, base))?.get(kind)
    }
    if (resource === undefined) return undefined
    if (!resource.namespaced || namespace === null) return `${base}/${resource.plural}`
    return `${base}/namespaces/${seg(namespace)}/${resource.plural}`
  }

  return {
    async read(apiVersion, kind, namespace, name) {
      const what = `reading ${kind} ${namespace ?? ''}/${name}`
      if (!isPathSegmentName(name) || (namespace !== null && !isPathSegmentName(namespace))) return null // no object can be called that
      try {
        const path = await collection(apiVersion, kind, namespace)
        return path === undefined ? null : await api.request<KubeObject>('GET', `${path}/${seg(name)}`)
      } catch (err) {
        if (kubeStatus(err) === 404) return null
        throw kubeError(err, what)
      }
    },
    async list(apiVersion, kind, namespace, options = {}) {
      try {
        const path = await collection(apiVersion, kind, namespace)
        if (path === undefined) return []
        const res = await api.request<{ items?: KubeObject[] }>('GET', path, { query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector } })
        // A list's items carry neither kind nor apiVersion (the list has them): added, as a watch event has them.
        return (res.items ?? []).map((item) => ({ apiVersion, kind, ...item }))
      } catch (err) {
        throw kubeError(err, `listing ${kind}`)
      }
    },
  }
}
