// `kube-reflex validate` as a library: load the bundle's manifests, check them against the
// project-owned schema (and CRDs when given), then run the semantic and kustomize checks.
import { objectId } from './model.js'
import { errorsToProblems, loadProjectSchema } from './schema.js'
import { semanticProblems } from './semantic.js'
import { kustomizeProblems, markPatches } from './kustomize.js'
import { DEFAULT_LOCATIONS, discoverFiles, loadDocuments } from './load.js'
import type { CrdIndex } from './crds.js'
import type { LoadedDocument, Problem } from './types.js'

export interface ValidateOptions {
  /** Repository root: where knative/, triggers/, func.yaml and functions/ are looked up. */
  readonly root: string
  /** Files or directories to report on (default: the bundle's locations). */
  readonly paths?: readonly string[]
  /** CRD schemas to validate custom resources against as well. */
  readonly crds?: CrdIndex
}

export interface ValidateResult {
  readonly problems: Problem[]
  readonly files: number
  readonly documents: number
  /** Custom resources that were checked against a CRD. */
  readonly crdChecked: number
}

function schemaProblems(documents: readonly LoadedDocument[], crds: CrdIndex | undefined): { problems: Problem[]; crdChecked: number } {
  const schema = loadProjectSchema()
  const problems: Problem[] = []
  let crdChecked = 0
  for (const doc of documents) {
    switch (doc.role) {
      case 'func':
        problems.push(...errorsToProblems(doc, schema.forFuncYaml()(doc.value), 'schema'))
        continue
      case 'promtool-test':
        problems.push(...errorsToProblems(doc, schema.forPromtoolTest()(doc.value), 'schema'))
        continue
      case 'dashboard':
        continue
      default:
        break
    }
    const id = objectId(doc)
    const value = doc.value as Record<string, unknown>
    const apiVersion = typeof value['apiVersion'] === 'string' ? value['apiVersion'] : undefined
    const kind = typeof value['kind'] === 'string' ? value['kind'] : undefined
    if (apiVersion === undefined || kind === undefined) {
      const { line, column } = doc.locate([])
      problems.push({ file: doc.file, line, column, message: 'not a Kubernetes object: apiVersion and kind are required', rule: 'schema' })
      continue
    }
    const validator = schema.forKind(apiVersion, kind, doc.role === 'patch')
    if (validator === undefined) {
      const { line, column } = doc.locate(['kind'])
      problems.push({ file: doc.file, line, column, message: `${kind} (${apiVersion}) is not a kind kube-reflex ships; known: ${schema.knownKinds().join(', ')}`, rule: 'schema' })
      continue
    }
    problems.push(...errorsToProblems(doc, validator(value), 'schema'))
    const crd = crds?.get(`${apiVersion}/${kind}`)
    if (crd !== undefined && id !== undefined && doc.role === 'manifest') {
      crdChecked++
      problems.push(...errorsToProblems(doc, crd.validate(value), 'crd', `CRD ${crd.crd} ${apiVersion}: `))
    }
  }
  return { problems, crdChecked }
}

function compareProblems(a: Problem, b: Problem): number {
  return a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.message.localeCompare(b.message)
}

export async function validateBundle(options: ValidateOptions): Promise<ValidateResult> {
  // Cross-references resolve against the whole bundle, even when only some paths are reported on.
  const contextFiles = await discoverFiles(options.root, DEFAULT_LOCATIONS)
  const requested = options.paths !== undefined && options.paths.length > 0 ? await discoverFiles(options.root, options.paths) : contextFiles
  const files = [...new Set([...contextFiles, ...requested])]
  const loaded = await loadDocuments(options.root, files)
  markPatches(loaded.documents)
  const { problems: schemaFound, crdChecked } = schemaProblems(loaded.documents, options.crds)
  const all = [...loaded.problems, ...schemaFound, ...semanticProblems(loaded.documents), ...kustomizeProblems(loaded.documents)]
  const reportOn = new Set(requested)
  const byFile = new Map(loaded.documents.map((d) => [d.file, d.absPath]))
  const problems = all.filter((p) => {
    const abs = byFile.get(p.file)
    return abs === undefined ? true : reportOn.has(abs)
  })
  problems.sort(compareProblems)
  return {
    problems,
    files: requested.length,
    documents: loaded.documents.filter((d) => requested.includes(d.absPath)).length,
    crdChecked,
  }
}

export function formatProblem(problem: Problem): string {
  return `${problem.file}:${problem.line}:${problem.column}: error: ${problem.message} [${problem.rule}]`
}

export { loadCrdsFromCluster, loadCrdsFromDirectory } from './crds.js'
export type { CrdIndex } from './crds.js'
export type { Problem } from './types.js'
