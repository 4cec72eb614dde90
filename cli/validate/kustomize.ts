// Kustomizations and Components: every path they name must exist, files they use as patches are
// partial objects (validated without required fields), and a patch must target a shipped object.
import { existsSync, statSync } from 'node:fs'
import path from 'node:path'
import { KUSTOMIZATION_FILE_NAMES } from './load.js'
import { at, Bundle, groupOf, list, objectId, str } from './model.js'
import type { LoadedDocument, PathSegment, Problem } from './types.js'

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** Marks documents that some kustomization uses as a patch file (they are not whole objects). */
export function markPatches(documents: readonly LoadedDocument[]): void {
  const patchFiles = new Set<string>()
  for (const doc of documents.filter((d) => d.role === 'kustomization')) {
    for (const patch of list(at(doc.value, 'patches'))) {
      const file = str(at(patch, 'path'))
      if (file !== undefined) patchFiles.add(path.resolve(path.dirname(doc.absPath), file))
    }
  }
  for (const doc of documents) {
    if (doc.role === 'manifest' && patchFiles.has(doc.absPath)) doc.role = 'patch'
  }
}

export function kustomizeProblems(documents: readonly LoadedDocument[]): Problem[] {
  const problems: Problem[] = []
  const report = (doc: LoadedDocument, p: readonly PathSegment[], rule: string, message: string): void => {
    const { line, column } = doc.locate(p)
    problems.push({ file: doc.file, line, column, message, rule })
  }
  const bundle = new Bundle(documents)
  for (const doc of documents.filter((d) => d.role === 'kustomization')) {
    const dir = path.dirname(doc.absPath)
    const kind = str(at(doc.value, 'kind'))
    for (const field of ['resources', 'components'] as const) {
      list(at(doc.value, field)).forEach((entry, i) => {
        if (typeof entry !== 'string' || /^[a-z]+:\/\//.test(entry) || entry.startsWith('github.com/')) return
        const target = path.resolve(dir, entry)
        if (!existsSync(target)) {
          report(doc, [field, i], 'kustomize', `${field} entry "${entry}" does not exist`)
        } else if (isDir(target) && !KUSTOMIZATION_FILE_NAMES.some((n) => existsSync(path.join(target, n)))) {
          report(doc, [field, i], 'kustomize', `${field} entry "${entry}" is a directory without a kustomization file`)
        } else if (field === 'components' && isDir(target)) {
          const component = documents.find((d) => d.role === 'kustomization' && path.dirname(d.absPath) === target)
          if (component !== undefined && str(at(component.value, 'kind')) !== 'Component') {
            report(doc, [field, i], 'kustomize', `components entry "${entry}" is a ${str(at(component.value, 'kind')) ?? '?'}, not a Component`)
          }
        }
      })
    }
    if (kind === 'Kustomization' && at(doc.value, 'apiVersion') === 'kustomize.config.k8s.io/v1alpha1') {
      report(doc, ['apiVersion'], 'kustomize', 'a Kustomization is kustomize.config.k8s.io/v1beta1')
    }
    list(at(doc.value, 'patches')).forEach((patch, i) => {
      const file = str(at(patch, 'path'))
      if (file === undefined) return
      const target = path.resolve(dir, file)
      if (!existsSync(target)) {
        report(doc, ['patches', i, 'path'], 'kustomize', `patch file "${file}" does not exist`)
        return
      }
      if (at(patch, 'target') !== undefined) return
      // A strategic-merge patch without a target applies to the object it names: that object must exist.
      for (const patchDoc of documents.filter((d) => d.absPath === target)) {
        const id = objectId(patchDoc)
        if (id === undefined) continue
        if (bundle.find(id.kind, id.name, id.namespace, groupOf(id.apiVersion)).length === 0) {
          report(patchDoc, ['metadata', 'name'], 'kustomize', `patch targets ${id.kind} "${id.name}", which is not shipped in the bundle`)
        }
      }
    })
    for (const generator of ['configMapGenerator', 'secretGenerator'] as const) {
      list(at(doc.value, generator)).forEach((gen, g) => {
        list(at(gen, 'files')).forEach((entry, f) => {
          if (typeof entry !== 'string') return
          const source = entry.includes('=') ? entry.slice(entry.indexOf('=') + 1) : entry
          if (!existsSync(path.resolve(dir, source))) report(doc, [generator, g, 'files', f], 'kustomize', `file "${source}" does not exist`)
        })
      })
    }
  }
  return problems
}
