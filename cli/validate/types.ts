// Shapes shared by the validator's stages: what was loaded, and what is wrong with it.

/** One key or index on the way from a document's root to a node. */
export type PathSegment = string | number

/** A problem found in a file, pointing at the line of the offending node. */
export interface Problem {
  /** Path relative to the validation root, as shown to the user. */
  readonly file: string
  readonly line: number
  readonly column: number
  readonly message: string
  /** Stable name of the check that found it (schema, crd, trigger-broker, rbac-wildcard, …). */
  readonly rule: string
}

/**
 * What a document is for the validator:
 * - manifest: a Kubernetes object that is applied (or a template of one, see `template`);
 * - patch: a kustomize patch (partial object, validated without required fields);
 * - kustomization: a Kustomization or Component;
 * - func: a Knative Functions func.yaml;
 * - promtool-test: a `promtool test rules` unit-test file;
 * - dashboard: a Grafana dashboard JSON.
 */
export type DocumentRole = 'manifest' | 'patch' | 'kustomization' | 'func' | 'promtool-test' | 'dashboard'

export interface Position {
  readonly line: number
  readonly column: number
}

export interface LoadedDocument {
  /** Path relative to the validation root (forward slashes). */
  readonly file: string
  readonly absPath: string
  /** Index of the document in a multi-document YAML file. */
  readonly index: number
  readonly value: unknown
  role: DocumentRole
  /** A `*.template.yaml` object: shipped for people to copy, never applied by kustomize. */
  readonly template: boolean
  /** Line/column of the node at `path`, or of its nearest existing ancestor. */
  locate(path: readonly PathSegment[]): Position
}
