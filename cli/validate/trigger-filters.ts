// Trigger filter checks, with the signatures of broker/filters.ts (the local broker's filter engine):
// validateTriggerFilters(spec) reproduces the Trigger webhook's rules, lintTriggerFilters(spec)
// lists filters Knative accepts but silently ignores. Both take the Trigger's `spec` and return
// messages whose field paths start with `spec.` (e.g. `spec.filters[0].exact[Type]: …`).
// This module is the seam the validator calls; it checks structure, one dialect per expression and
// attribute names, and that a `cesql` expression is a non-empty string. The CESQL grammar itself is
// checked by the local broker's engine once this module re-exports it.

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const
// Knative trigger_validation.go: attribute names are lowercase alphanumeric, starting with a letter.
const VALID_ATTRIBUTE_NAME = /^[a-z][a-z0-9]*$/

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function stringMapKeys(value: unknown, path: string, problems: string[]): string[] {
  if (value === undefined || value === null) return []
  if (!isRecord(value)) {
    problems.push(`${path}: must be a map of attribute name to string`)
    return []
  }
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && typeof v !== 'string') problems.push(`${path}[${key}]: value must be a string, got ${typeof v}`)
  }
  return Object.keys(value)
}

function checkNames(names: readonly string[], path: string, problems: string[]): void {
  for (const name of names) {
    if (!VALID_ATTRIBUTE_NAME.test(name)) {
      problems.push(`${path}[${name}]: invalid key name ${JSON.stringify(name)}: attribute name must start with a letter and can only contain lowercase alphanumeric`)
    }
  }
}

function checkList(value: unknown, path: string, problems: string[]): void {
  if (value === undefined || value === null) return
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be a list of filters`)
    return
  }
  value.forEach((item, i) => checkExpression(item, `${path}[${i}]`, problems))
}

function checkExpression(spec: unknown, path: string, problems: string[]): void {
  if (spec === undefined || spec === null) return
  if (!isRecord(spec)) {
    problems.push(`${path}: must be an object`)
    return
  }
  for (const key of Object.keys(spec)) {
    if (!(DIALECTS as readonly string[]).includes(key)) problems.push(`${path}.${key}: unknown field (expected one of ${DIALECTS.join(', ')})`)
  }
  const exact = stringMapKeys(spec['exact'], `${path}.exact`, problems)
  const prefix = stringMapKeys(spec['prefix'], `${path}.prefix`, problems)
  const suffix = stringMapKeys(spec['suffix'], `${path}.suffix`, problems)
  const { all, any, not, cesql } = spec
  const set = [
    exact.length > 0,
    prefix.length > 0,
    suffix.length > 0,
    Array.isArray(all) && all.length > 0,
    Array.isArray(any) && any.length > 0,
    not !== undefined && not !== null,
    typeof cesql === 'string' && cesql !== '',
  ].filter(Boolean).length
  if (set > 1) problems.push(`${path}: multiple dialects found, filters can have only one dialect set`)
  checkNames(exact, `${path}.exact`, problems)
  checkNames(prefix, `${path}.prefix`, problems)
  checkNames(suffix, `${path}.suffix`, problems)
  checkList(all, `${path}.all`, problems)
  checkList(any, `${path}.any`, problems)
  if (not !== undefined && not !== null && !isRecord(not)) problems.push(`${path}.not: must be an object`)
  else checkExpression(not, `${path}.not`, problems)
  if (cesql !== undefined && cesql !== null && typeof cesql !== 'string') problems.push(`${path}.cesql: must be a string`)
}

export function validateTriggerFilters(spec: unknown): string[] {
  const problems: string[] = []
  if (spec === undefined || spec === null) return problems
  if (!isRecord(spec)) return ['spec: must be an object']
  const filter = spec['filter']
  if (filter !== undefined && filter !== null) {
    if (!isRecord(filter)) problems.push('spec.filter: must be an object')
    else {
      for (const key of Object.keys(filter)) {
        if (key !== 'attributes') problems.push(`spec.filter.${key}: unknown field (expected attributes)`)
      }
      checkNames(stringMapKeys(filter['attributes'], 'spec.filter.attributes', problems), 'spec.filter.attributes', problems)
    }
  }
  checkList(spec['filters'], 'spec.filters', problems)
  return problems
}

export function lintTriggerFilters(spec: unknown): string[] {
  const warnings: string[] = []
  if (!isRecord(spec)) return warnings
  const visit = (node: unknown, path: string): void => {
    if (!isRecord(node)) return
    if (DIALECTS.every((d) => node[d] === undefined)) warnings.push(`${path}: no dialect set; Knative ignores this filter`)
    for (const dialect of ['exact', 'prefix', 'suffix'] as const) {
      const value = node[dialect]
      if (!isRecord(value)) continue
      if (Object.keys(value).length === 0) warnings.push(`${path}.${dialect}: empty; Knative ignores this filter`)
      for (const [k, v] of Object.entries(value)) {
        if (k === '' || v === '') warnings.push(`${path}.${dialect}[${k}]: empty ${k === '' ? 'attribute name' : 'value'}; Knative ignores this filter`)
      }
    }
    for (const dialect of ['all', 'any'] as const) {
      const list = node[dialect]
      if (!Array.isArray(list)) continue
      if (list.length === 0) warnings.push(`${path}.${dialect}: empty; Knative ignores this filter`)
      list.forEach((child, i) => visit(child, `${path}.${dialect}[${i}]`))
    }
    if (node['cesql'] === '') warnings.push(`${path}.cesql: empty expression; Knative ignores this filter`)
    visit(node['not'], `${path}.not`)
  }
  const filters = spec['filters']
  if (Array.isArray(filters)) filters.forEach((f, i) => visit(f, `spec.filters[${i}]`))
  return warnings
}
