// Validation against JSON Schema: the project-owned schema (schemas/manifests.schema.json) and,
// when asked, the upstream CRDs' openAPIV3Schema. Ajv's errors become file:line problems.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import manifestsSchema from './schemas/manifests.schema.json' with { type: 'json' }
import type { LoadedDocument, PathSegment, Problem } from './types.js'

// ajv-formats is CommonJS with `exports.default`; under NodeNext the import is the exports object,
// so the plugin is its `.default`.
const addFormats = addFormatsModule.default

export type Validator = (value: unknown) => ErrorObject[]

function decodePointer(pointer: string): PathSegment[] {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

function showPath(path: readonly PathSegment[]): string {
  if (path.length === 0) return '(document)'
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('')
}

/** Turns Ajv errors into readable problems; anyOf/oneOf of `required` become "set one of …". */
export function errorsToProblems(doc: LoadedDocument, errors: readonly ErrorObject[], rule: string, prefix = ''): Problem[] {
  const problems: Problem[] = []
  const seen = new Set<string>()
  // Branch errors of a failed anyOf/oneOf are summarised by the combinator error itself.
  const combinators = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
  const isBranchError = (e: ErrorObject): boolean =>
    combinators.some((c) => c !== e && e.schemaPath.startsWith(c.schemaPath.replace(/\/(anyOf|oneOf)$/, '/$1/')))
  for (const error of errors) {
    if (isBranchError(error)) continue
    let path = decodePointer(error.instancePath)
    let message: string
    switch (error.keyword) {
      case 'additionalProperties': {
        const field = String((error.params as { additionalProperty?: unknown }).additionalProperty)
        path = [...path, field]
        message = `unknown field "${field}" in ${showPath(path.slice(0, -1))}`
        break
      }
      case 'required':
        message = `${showPath(path)}: missing required field "${String((error.params as { missingProperty?: unknown }).missingProperty)}"`
        break
      case 'enum':
        message = `${showPath(path)}: must be one of ${((error.params as { allowedValues?: unknown[] }).allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`
        break
      case 'const':
        message = `${showPath(path)}: must be ${JSON.stringify((error.params as { allowedValue?: unknown }).allowedValue)}`
        break
      case 'anyOf':
      case 'oneOf': {
        const branches = errors
          .filter((e) => e.keyword === 'required' && e.instancePath === error.instancePath && e.schemaPath.startsWith(`${error.schemaPath}/`))
          .map((e) => String((e.params as { missingProperty?: unknown }).missingProperty))
        const passing = (error.params as { passingSchemas?: unknown }).passingSchemas
        if (error.keyword === 'oneOf' && Array.isArray(passing)) message = `${showPath(path)}: set only one of the alternative fields, not several`
        else if (branches.length > 0) message = `${showPath(path)}: must set ${error.keyword === 'oneOf' ? 'exactly one' : 'at least one'} of ${branches.map((b) => `"${b}"`).join(', ')}`
        else message = `${showPath(path)}: ${error.message ?? 'does not match any allowed form'}`
        break
      }
      default:
        message = `${showPath(path)}: ${error.message ?? error.keyword}`
    }
    const key = `${showPath(path)}|${message}`
    if (seen.has(key)) continue
    seen.add(key)
    const { line, column } = doc.locate(path)
    problems.push({ file: doc.file, line, column, message: `${prefix}${message}`, rule })
  }
  return problems
}

function withoutRequired(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutRequired)
  if (typeof schema !== 'object' || schema === null) return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    // A patch names its target and sets some fields: nothing else is required, and the
    // "set one of" rules (anyOf/oneOf of required) do not apply to partial objects either.
    if (key === 'required' || key === 'anyOf' || key === 'oneOf') continue
    out[key] = withoutRequired(value)
  }
  return out
}

function newAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true })
  ajv.addKeyword('x-kinds')
  addFormats(ajv, ['date-time'])
  return ajv
}

const kinds = (manifestsSchema as { 'x-kinds': Record<string, string> })['x-kinds']

export interface ProjectSchema {
  /** The validator for `apiVersion/kind`, or undefined when the project schema has no such kind. */
  forKind(apiVersion: string, kind: string, patch: boolean): Validator | undefined
  forFuncYaml(): Validator
  forPromtoolTest(): Validator
  knownKinds(): string[]
}

function wrap(fn: ValidateFunction): Validator {
  return (value) => (fn(value) ? [] : [...(fn.errors ?? [])])
}

export function loadProjectSchema(): ProjectSchema {
  const ajv = newAjv()
  ajv.addSchema(manifestsSchema, 'manifests')
  const patchAjv = newAjv()
  const patchSchema = withoutRequired(manifestsSchema) as Record<string, unknown>
  patchAjv.addSchema(patchSchema, 'manifests')
  const cache = new Map<string, Validator>()
  const get = (engine: Ajv, definition: string, extra: string): Validator => {
    const key = `${extra}:${definition}`
    let v = cache.get(key)
    if (v === undefined) {
      const fn = engine.getSchema(`manifests#/definitions/${definition}`)
      if (fn === undefined) throw new Error(`schema definition ${definition} missing`)
      v = wrap(fn)
      cache.set(key, v)
    }
    return v
  }
  return {
    forKind(apiVersion, kind, patch) {
      const definition = kinds[`${apiVersion}/${kind}`]
      if (definition === undefined) return undefined
      return patch ? get(patchAjv, definition, 'patch') : get(ajv, definition, 'full')
    },
    forFuncYaml: () => get(ajv, 'FuncYaml', 'full'),
    forPromtoolTest: () => get(ajv, 'PromtoolTestFile', 'full'),
    knownKinds: () => Object.keys(kinds).sort(),
  }
}
