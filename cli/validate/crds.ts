// Validation against CustomResourceDefinitions: each served version's openAPIV3Schema, read from a
// directory of CRD YAML (`--crds DIR`) or from a cluster (`--kubeconfig PATH`).
// The API server prunes unknown fields and kubectl's default field validation (Strict) rejects
// them, so object schemas are closed here unless they say x-kubernetes-preserve-unknown-fields.
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { Ajv } from 'ajv'
import { parseAllDocuments } from 'yaml'
import type { Validator } from './schema.js'

export interface CrdVersionSchema {
  readonly crd: string
  readonly apiVersion: string
  readonly kind: string
  readonly validate: Validator
}

export type CrdIndex = Map<string, CrdVersionSchema>

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** openAPIV3Schema (structural, Kubernetes dialect) → JSON Schema Ajv understands. */
export function structuralToJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(structuralToJsonSchema)
  if (!isRecord(schema)) return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'format' || key === 'example' || key === 'nullable' || key === 'default') continue
    if (key === 'properties' && isRecord(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structuralToJsonSchema(v)]))
    } else {
      out[key] = structuralToJsonSchema(value)
    }
  }
  if (schema['x-kubernetes-int-or-string'] === true) {
    delete out['type']
    out['anyOf'] = [{ type: 'integer' }, { type: 'string' }]
  }
  if (schema['nullable'] === true && typeof out['type'] === 'string') out['type'] = [out['type'], 'null']
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true
  if (schema['type'] === 'object' && isRecord(schema['properties']) && !preserve && !('additionalProperties' in schema)) {
    out['additionalProperties'] = false
  }
  return out
}

/** Adds every version of one CRD object to the index. */
export function indexCrd(index: CrdIndex, crd: unknown, ajv: Ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true })): void {
  if (!isRecord(crd) || crd['kind'] !== 'CustomResourceDefinition') return
  const spec = crd['spec']
  const metadata = crd['metadata']
  if (!isRecord(spec) || !isRecord(metadata)) return
  const group = spec['group']
  const names = spec['names']
  const versions = spec['versions']
  if (typeof group !== 'string' || !isRecord(names) || typeof names['kind'] !== 'string' || !Array.isArray(versions)) return
  const kind = names['kind']
  for (const version of versions) {
    if (!isRecord(version) || version['served'] === false || typeof version['name'] !== 'string') continue
    const schema = isRecord(version['schema']) ? version['schema']['openAPIV3Schema'] : undefined
    if (!isRecord(schema)) continue
    const json = structuralToJsonSchema(schema) as Record<string, unknown>
    // The API server owns metadata's schema; a CRD may only say `type: object` for it.
    const properties = isRecord(json['properties']) ? json['properties'] : {}
    json['properties'] = { ...properties, metadata: { type: 'object' }, apiVersion: { type: 'string' }, kind: { type: 'string' } }
    const fn = ajv.compile(json)
    const apiVersion = `${group}/${version['name']}`
    index.set(`${apiVersion}/${kind}`, {
      crd: typeof metadata['name'] === 'string' ? metadata['name'] : `${kind}.${group}`,
      apiVersion,
      kind,
      validate: (value) => (fn(value) ? [] : [...(fn.errors ?? [])]),
    })
  }
}

export async function loadCrdsFromDirectory(dir: string): Promise<CrdIndex> {
  const index: CrdIndex = new Map()
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true })
  const entries = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f)).sort()
  for (const entry of entries) {
    const text = await readFile(path.join(dir, entry), 'utf8')
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${path.join(dir, entry)}: ${doc.errors[0]?.message ?? 'YAML error'}`)
      indexCrd(index, doc.toJS(), ajv)
    }
  }
  return index
}

/**
 * Reads the CRDs installed in the cluster the kubeconfig points at, as the API server sends them (plain
 * JSON over shared/kube-rest.ts). client-node's generated API would rename their schema keys on the way
 * in (`x-kubernetes-preserve-unknown-fields` becomes `xKubernetesPreserveUnknownFields`), and open objects
 * would then be validated as closed.
 */
export async function loadCrdsFromCluster(kubeconfigPath: string): Promise<CrdIndex> {
  const { connectKube } = await import('../../shared/kube-rest.js')
  const api = await connectKube({ kubeconfig: kubeconfigPath })
  const index: CrdIndex = new Map()
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true })
  let token: string | undefined
  do {
    const page = await api.request<{ items?: unknown[]; metadata?: { continue?: string } }>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      query: { limit: '100', continue: token },
    })
    // A list's items carry no kind (the list has it).
    for (const crd of page.items ?? []) if (isRecord(crd)) indexCrd(index, { ...crd, kind: 'CustomResourceDefinition' }, ajv)
    token = page.metadata?.continue === '' ? undefined : page.metadata?.continue
  } while (token !== undefined)
  return index
}
