// How Knative's ApiServerSource (Resource mode) wraps a Kubernetes object in a CloudEvent
// (DESIGN.md "Inputs"; knative/eventing pkg/adapter/apiserver/events). Used by the replay source and by
// `kube-reflex classify FILE`, so that a bare object is seen exactly as the real source would send it.
import { randomUUID } from 'node:crypto'
import type { CloudEventV1 } from './cloudevent.js'

export type ResourceVerb = 'add' | 'update' | 'delete'

// The API's plural for the kinds we see; others follow the lowercase + "s" rule, as most kinds do.
const PLURALS: Record<string, string> = {
  Endpoints: 'endpoints',
  Ingress: 'ingresses',
  NetworkPolicy: 'networkpolicies',
  PodSecurityPolicy: 'podsecuritypolicies',
  StorageClass: 'storageclasses',
  PriorityClass: 'priorityclasses',
  IngressClass: 'ingressclasses',
}

export function pluralOf(kind: string): string {
  return PLURALS[kind] ?? `${kind.toLowerCase()}s`
}

export interface WrapOptions {
  /** The API server URL (the real source uses the host it talks to). */
  readonly source?: string
  readonly verb?: ResourceVerb
  readonly id?: string
  readonly time?: string
}

export function wrapAsApiServerSource(object: Record<string, unknown>, options: WrapOptions = {}): CloudEventV1 {
  const apiVersion = typeof object.apiVersion === 'string' ? object.apiVersion : 'v1'
  const kind = typeof object.kind === 'string' ? object.kind : 'Unknown'
  const metadata = (object.metadata !== null && typeof object.metadata === 'object' ? object.metadata : {}) as Record<string, unknown>
  const name = typeof metadata.name === 'string' ? metadata.name : ''
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : ''
  const event: CloudEventV1 = {
    specversion: '1.0',
    id: options.id ?? randomUUID(),
    source: options.source ?? 'https://kubernetes.default.svc',
    type: `dev.knative.apiserver.resource.${options.verb ?? 'add'}`,
    subject: `/apis/${apiVersion}/namespaces/${namespace}/${pluralOf(kind)}/${name}`,
    time: options.time ?? new Date().toISOString(),
    datacontenttype: 'application/json',
    kind,
    apiversion: apiVersion,
    name,
    data: object,
  }
  if (namespace !== '') event.namespace = namespace
  return event
}
