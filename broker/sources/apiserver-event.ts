// ApiServerSource Resource mode, as knative/eventing's adapter builds its events
// (pkg/adapter/apiserver/events: makeEvent, createSelfLink): a fresh UUID per send, the API server URL
// as `source`, a self-link `subject`, the object's kind/name/namespace/apiversion as extensions and the
// whole object as JSON data.
import { randomUUID } from 'node:crypto'
import type { CloudEventV1 } from '../../shared/cloudevent.js'

export type ResourceVerb = 'add' | 'update' | 'delete'

export interface KubeObjectLike {
  readonly apiVersion?: unknown
  readonly kind?: unknown
  readonly metadata?: unknown
}

/** k8s.io/apimachinery meta.UnsafeGuessKindToResource: the plural resource name guessed from a Kind. */
export function guessResource(kind: string): string {
  const singular = kind.toLowerCase()
  if (singular === '') return ''
  if (singular === 'endpoints') return singular
  if (singular.endsWith('s')) return `${singular}es`
  if (singular.endsWith('y')) return `${singular.slice(0, -1)}ies`
  return `${singular}s`
}

/** createSelfLink: `/apis/<apiVersion>/namespaces/<ns>/<plural>/<name>`; the core group reads `/apis/v1/...`. */
export function selfLink(apiVersion: string, kind: string, namespace: string, name: string): string {
  // The adapter's "versionNameHack": a group without a version (contains '.', no '/') gets '/versionUnknown'.
  const version = apiVersion.includes('.') && !apiVersion.includes('/') ? `${apiVersion}/versionUnknown` : apiVersion
  return `/apis/${version}/namespaces/${namespace}/${guessResource(kind)}/${name}`
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : ''
}

/** Is this JSON value a bare Kubernetes object (apiVersion + kind + metadata), not a CloudEvent? */
export function isKubeObject(v: unknown): v is KubeObjectLike {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  return typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof o.metadata === 'object' && o.metadata !== null && o.specversion === undefined
}

/** The CloudEvent ApiServerSource (Resource mode) sends for `verb` on `object`. */
export function apiServerResourceEvent(verb: ResourceVerb, object: KubeObjectLike, apiServerUrl: string, id: string = randomUUID()): CloudEventV1 {
  const md = (typeof object.metadata === 'object' && object.metadata !== null ? object.metadata : {}) as Record<string, unknown>
  const apiVersion = str(object.apiVersion)
  const kind = str(object.kind)
  const name = str(md.name)
  const namespace = str(md.namespace)
  return {
    specversion: '1.0',
    id,
    source: apiServerUrl,
    type: `dev.knative.apiserver.resource.${verb}`,
    subject: selfLink(apiVersion, kind, namespace, name),
    datacontenttype: 'application/json',
    kind,
    name,
    namespace,
    apiversion: apiVersion,
    data: object,
  }
}
