// A read-only view of the loaded bundle: typed accessors on untyped YAML and lookups by reference.
import type { LoadedDocument } from './types.js'

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at `path` under `root`, or undefined when any step is missing or of the wrong shape. */
export function at(root: unknown, ...path: ReadonlyArray<string | number>): unknown {
  let node = root
  for (const segment of path) {
    if (typeof segment === 'number') {
      if (!Array.isArray(node)) return undefined
      node = node[segment]
    } else {
      if (!isRecord(node)) return undefined
      node = node[segment]
    }
  }
  return node
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

export interface ObjectId {
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly namespace: string | undefined
}

export function objectId(doc: LoadedDocument): ObjectId | undefined {
  const apiVersion = str(at(doc.value, 'apiVersion'))
  const kind = str(at(doc.value, 'kind'))
  const name = str(at(doc.value, 'metadata', 'name'))
  if (apiVersion === undefined || kind === undefined || name === undefined) return undefined
  return { apiVersion, kind, name, namespace: str(at(doc.value, 'metadata', 'namespace')) }
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/')
  return slash < 0 ? '' : apiVersion.slice(0, slash)
}

/** Namespaces match when equal, or when either side leaves it to kustomize/the referrer. */
function sameNamespace(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || b === undefined || a === b
}

export class Bundle {
  readonly manifests: LoadedDocument[]
  readonly funcs: LoadedDocument[]
  readonly all: readonly LoadedDocument[]

  constructor(documents: readonly LoadedDocument[]) {
    this.all = documents
    this.manifests = documents.filter((d) => d.role === 'manifest')
    this.funcs = documents.filter((d) => d.role === 'func')
  }

  /** Objects of `kind` (and group, when given) called `name` in `namespace`. */
  find(kind: string, name: string, namespace: string | undefined, group?: string): LoadedDocument[] {
    return this.manifests.filter((doc) => {
      const id = objectId(doc)
      return (
        id !== undefined &&
        id.kind === kind &&
        id.name === name &&
        (group === undefined || groupOf(id.apiVersion) === group) &&
        sameNamespace(id.namespace, namespace)
      )
    })
  }

  ofKind(kind: string, group?: string): LoadedDocument[] {
    return this.manifests.filter((doc) => {
      const id = objectId(doc)
      return id !== undefined && id.kind === kind && (group === undefined || groupOf(id.apiVersion) === group)
    })
  }

  /** Knative Services shipped as manifests, plus those `kn func deploy` creates from a func.yaml. */
  knativeServiceExists(name: string, namespace: string | undefined): boolean {
    if (this.find('Service', name, namespace, 'serving.knative.dev').length > 0) return true
    return this.funcs.some((f) => str(at(f.value, 'name')) === name && sameNamespace(str(at(f.value, 'deploy', 'namespace')) ?? str(at(f.value, 'namespace')), namespace))
  }
}
