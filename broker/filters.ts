/**
 * Knative Trigger filters for the local broker, with the semantics of knative/eventing:
 * - `spec.filter.attributes` (pkg/eventfilter/attributes), and
 * - `spec.filters`, the Subscriptions API dialects exact/prefix/suffix/all/any/not/cesql
 *   (pkg/eventfilter/subscriptionsapi), which win over `filter` whenever the list is non-empty
 *   (pkg/broker/filter/filter_handler.go filterEvent).
 * Validation mirrors the Trigger webhook (pkg/apis/eventing/v1/trigger_validation.go) plus the
 * structural checks the CRD schema and Go decoding apply to a YAML object.
 */
import { compile, findMixedLogicOperators, type CloudEventRecord, type CompiledExpression } from './cesql/index.js'

/** Knative's tri-state filter result; only `fail` stops delivery (filter_handler.go). */
export type FilterResult = 'pass' | 'fail' | 'none'

type Filter = (event: CloudEventRecord) => FilterResult

export type TriggerFilterMatcher = (event: CloudEventRecord) => boolean

/** Thrown by `compileTriggerFilter` for a spec the Knative webhook would reject. */
export class TriggerFilterError extends Error {
  readonly problems: readonly string[]

  constructor(problems: readonly string[]) {
    super(`invalid trigger filters: ${problems.join('; ')}`)
    this.name = 'TriggerFilterError'
    this.problems = problems
  }
}

const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const
// trigger_validation.go validAttributeName: lowercase alphanumeric, starting with a letter.
const VALID_ATTRIBUTE_NAME = /^[a-z][a-z0-9]*$/
// Go's zero time.Time marshalled as text: what LookupAttribute yields for an absent `time`.
const ZERO_TIME = '0001-01-01T00:00:00Z'

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** YAML `key: null` and an absent key are the same thing once decoded into Go structs. */
function field(object: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(object, key) ? (object[key] ?? undefined) : undefined
}

function eventString(event: CloudEventRecord, name: string): string {
  const value = Object.hasOwn(event, name) ? event[name] : undefined
  return value === undefined || value === null ? '' : stringify(value)
}

/** Go's `fmt.Sprintf("%v", value)` for the value shapes a JSON/YAML event can carry. */
function stringify(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value
    case 'object':
      if (value instanceof Date) return value.toISOString()
      return JSON.stringify(value)
    default:
      return String(value)
  }
}

/**
 * attributes.LookupAttribute: the spec attributes always "exist" (an unset optional one reads as
 * the empty string, an unset `time` as Go's zero time); extensions exist only when set.
 */
export function lookupAttribute(event: CloudEventRecord, name: string): { found: true; value: unknown } | { found: false } {
  switch (name) {
    case 'specversion':
    case 'type':
    case 'source':
    case 'subject':
    case 'id':
    case 'dataschema':
    case 'datacontenttype':
      return { found: true, value: eventString(event, name) }
    case 'schemaurl':
      return { found: true, value: eventString(event, 'dataschema') }
    case 'datamediatype': {
      // The media type of datacontenttype without parameters, lower-cased (mime.ParseMediaType).
      const contentType = eventString(event, 'datacontenttype')
      return { found: true, value: (contentType.split(';')[0] ?? '').trim().toLowerCase() }
    }
    case 'datacontentencoding':
      // Deprecated v0.3 attribute; always empty for a v1.0 event.
      return { found: true, value: '' }
    case 'time': {
      const time = eventString(event, 'time')
      return { found: true, value: time === '' ? ZERO_TIME : time }
    }
    default: {
      // `data` (and `data_base64`) carry the payload; they are never extensions.
      if (name === 'data' || name === 'data_base64' || !Object.hasOwn(event, name)) return { found: false }
      const value = event[name]
      return value === undefined || value === null ? { found: false } : { found: true, value }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Matching

/**
 * Legacy `spec.filter.attributes` (attributes/filter.go): every listed attribute must be
 * present and equal; the value "" (TriggerAnyFilter) means "present with a non-empty value".
 * Values compare as strings: Knative's filter receives the event from the channel in binary mode,
 * where every extension is a header string, so a JSON number 3 or boolean true arrives as "3"/"true".
 */
function attributesFilter(attributes: Readonly<Record<string, string>>): Filter {
  const entries = Object.entries(attributes)
  return (event) => {
    for (const [name, expected] of entries) {
      const attribute = lookupAttribute(event, name)
      if (!attribute.found) return 'fail'
      const actual = stringify(attribute.value)
      if (expected === '' ? actual === '' : actual !== expected) return 'fail'
    }
    return 'pass'
  }
}

type StringTest = (actual: string, expected: string) => boolean

/** exact/prefix/suffix (exact_filter.go etc.): every entry must hold; values compared as `%v`. */
function stringFilter(entries: readonly [string, string][], test: StringTest): Filter {
  return (event) => {
    for (const [name, expected] of entries) {
      const attribute = lookupAttribute(event, name)
      if (!attribute.found || !test(stringify(attribute.value), expected)) return 'fail'
    }
    return 'pass'
  }
}

/** allFilter: the first failure fails; otherwise the last child's result (none when empty). */
function allFilter(children: readonly Filter[]): Filter {
  if (children.length === 1 && children[0] !== undefined) return children[0]
  return (event) => {
    let result: FilterResult = 'none'
    for (const child of children) {
      result = child(event)
      if (result === 'fail') return 'fail'
    }
    return result
  }
}

/** anyFilter: the first pass passes; otherwise the last child's result (none when empty). */
function anyFilter(children: readonly Filter[]): Filter {
  if (children.length === 1 && children[0] !== undefined) return children[0]
  return (event) => {
    let result: FilterResult = 'none'
    for (const child of children) {
      result = child(event)
      if (result === 'pass') return 'pass'
    }
    return result
  }
}

/** notFilter: swaps pass and fail; "no filter" stays "no filter". */
function notFilter(child: Filter | undefined): Filter {
  if (child === undefined) return () => 'none'
  return (event) => {
    const result = child(event)
    return result === 'pass' ? 'fail' : result === 'fail' ? 'pass' : 'none'
  }
}

/** cesql_filter.go: any evaluation error, or a result other than Boolean true, fails (§1.2). */
function cesqlFilter(expression: CompiledExpression): Filter {
  return (event) => (expression.matches(event) ? 'pass' : 'fail')
}

/** A decoded `map[string]string`: YAML `null` values decode to "" in Go. */
function stringEntries(value: unknown): [string, string][] {
  if (!isRecord(value)) return []
  const entries: [string, string][] = []
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'string') entries.push([k, v])
    else if (v === null) entries.push([k, ''])
  }
  return entries
}

/**
 * create.go MaterializeSubscriptionsAPIFilter: the first non-empty dialect in Knative's order
 * decides; a filter that cannot be built (empty key or value, no dialect, empty CESQL) is
 * `undefined` and its parent skips it.
 */
function materialize(spec: unknown): Filter | undefined {
  if (!isRecord(spec)) return undefined
  const exact = stringEntries(field(spec, 'exact'))
  const prefix = stringEntries(field(spec, 'prefix'))
  const suffix = stringEntries(field(spec, 'suffix'))
  const all = field(spec, 'all')
  const any = field(spec, 'any')
  const not = field(spec, 'not')
  const cesql = field(spec, 'cesql')
  const buildable = (entries: readonly [string, string][]): boolean => entries.every(([k, v]) => k !== '' && v !== '')
  if (exact.length > 0) return buildable(exact) ? stringFilter(exact, (a, e) => a === e) : undefined
  if (prefix.length > 0) return buildable(prefix) ? stringFilter(prefix, (a, e) => a.startsWith(e)) : undefined
  if (suffix.length > 0) return buildable(suffix) ? stringFilter(suffix, (a, e) => a.endsWith(e)) : undefined
  if (Array.isArray(all) && all.length > 0) return allFilter(materializeList(all))
  if (Array.isArray(any) && any.length > 0) return anyFilter(materializeList(any))
  if (not !== undefined) return notFilter(materialize(not))
  if (typeof cesql === 'string' && cesql !== '') return cesqlFilter(compile(cesql))
  return undefined
}

function materializeList(specs: readonly unknown[]): Filter[] {
  const filters: Filter[] = []
  for (const spec of specs) {
    const filter = materialize(spec)
    if (filter !== undefined) filters.push(filter)
  }
  return filters
}

/** The trigger's filter as Knative's tri-state result (filter_handler.go filterEvent). */
export function compileTriggerFilterResult(spec: unknown): Filter {
  const problems = validateTriggerFilters(spec)
  if (problems.length > 0) throw new TriggerFilterError(problems)
  const triggerSpec = isRecord(spec) ? spec : {}
  const filters = field(triggerSpec, 'filters')
  if (Array.isArray(filters) && filters.length > 0) return allFilter(materializeList(filters))
  const filter = field(triggerSpec, 'filter')
  if (isRecord(filter)) {
    const attributes = field(filter, 'attributes')
    if (isRecord(attributes)) return attributesFilter(Object.fromEntries(stringEntries(attributes)))
  }
  return () => 'none'
}

/**
 * Builds the matcher for a Trigger `spec` (as parsed from YAML): true when the broker would
 * deliver the event to the subscriber, i.e. unless the filter result is "fail".
 * Throws `TriggerFilterError` when `validateTriggerFilters` finds problems.
 */
export function compileTriggerFilter(spec: unknown): TriggerFilterMatcher {
  const filter = compileTriggerFilterResult(spec)
  return (event) => filter(event) !== 'fail'
}

// ---------------------------------------------------------------------------------------------
// Validation

function validateAttributeNames(names: readonly string[], path: string, problems: string[]): void {
  for (const name of names) {
    if (!VALID_ATTRIBUTE_NAME.test(name)) {
      problems.push(
        `${path}[${name}]: invalid key name ${JSON.stringify(name)}: attribute name must start with a letter and can only contain lowercase alphanumeric`,
      )
    }
  }
}

/** A `map[string]string` field: an object whose values are all strings. */
function validateStringMap(value: unknown, path: string, problems: string[]): string[] {
  if (value === undefined) return []
  if (!isRecord(value)) {
    problems.push(`${path}: must be a map of attribute name to string`)
    return []
  }
  for (const [key, v] of Object.entries(value)) {
    if (v !== null && typeof v !== 'string') problems.push(`${path}[${key}]: value must be a string, got ${typeof v}`)
  }
  return Object.keys(value)
}

function validateFilterList(value: unknown, path: string, problems: string[]): void {
  if (value === undefined) return
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be a list of filters`)
    return
  }
  value.forEach((item, i) => validateFilter(item, `${path}[${i}]`, problems))
}

/** trigger_validation.go ValidateSubscriptionAPIFilter, plus shape checks. */
function validateFilter(spec: unknown, path: string, problems: string[]): void {
  if (spec === undefined || spec === null) return
  if (!isRecord(spec)) {
    problems.push(`${path}: must be an object`)
    return
  }
  for (const key of Object.keys(spec)) {
    if (!(DIALECTS as readonly string[]).includes(key)) problems.push(`${path}.${key}: unknown field (expected one of ${DIALECTS.join(', ')})`)
  }
  const exact = validateStringMap(field(spec, 'exact'), `${path}.exact`, problems)
  const prefix = validateStringMap(field(spec, 'prefix'), `${path}.prefix`, problems)
  const suffix = validateStringMap(field(spec, 'suffix'), `${path}.suffix`, problems)
  const all = field(spec, 'all')
  const any = field(spec, 'any')
  const not = field(spec, 'not')
  const cesql = field(spec, 'cesql')
  // ValidateOneOf: at most one dialect may be set (an empty map or list counts as unset).
  const set = [
    exact.length > 0,
    prefix.length > 0,
    suffix.length > 0,
    Array.isArray(all) && all.length > 0,
    Array.isArray(any) && any.length > 0,
    not !== undefined,
    typeof cesql === 'string' && cesql !== '',
  ].filter(Boolean).length
  if (set > 1) problems.push(`${path}: multiple dialects found, filters can have only one dialect set`)
  validateAttributeNames(exact, `${path}.exact`, problems)
  validateAttributeNames(prefix, `${path}.prefix`, problems)
  validateAttributeNames(suffix, `${path}.suffix`, problems)
  validateFilterList(all, `${path}.all`, problems)
  validateFilterList(any, `${path}.any`, problems)
  if (not !== undefined && !isRecord(not)) problems.push(`${path}.not: must be an object`)
  else validateFilter(not, `${path}.not`, problems)
  if (cesql !== undefined) {
    if (typeof cesql !== 'string') problems.push(`${path}.cesql: must be a string`)
    else if (cesql !== '') {
      // ValidateCESQLExpression: the expression must parse.
      try {
        compile(cesql)
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err)
        problems.push(`${path}.cesql: invalid value: ${cesql}: ${reason}`)
      }
    }
  }
}

/**
 * The problems Knative's Trigger webhook would report for `spec.filter` and `spec.filters`
 * (empty when valid), with `spec.`-prefixed field paths. Used by `kube-reflex validate`.
 */
export function validateTriggerFilters(spec: unknown): string[] {
  const problems: string[] = []
  if (spec === undefined || spec === null) return problems
  if (!isRecord(spec)) return ['spec: must be an object']
  const filter = field(spec, 'filter')
  if (filter !== undefined) {
    if (!isRecord(filter)) problems.push('spec.filter: must be an object')
    else {
      for (const key of Object.keys(filter)) {
        if (key !== 'attributes') problems.push(`spec.filter.${key}: unknown field (expected attributes)`)
      }
      const names = validateStringMap(field(filter, 'attributes'), 'spec.filter.attributes', problems)
      validateAttributeNames(names, 'spec.filter.attributes', problems)
    }
  }
  validateFilterList(field(spec, 'filters'), 'spec.filters', problems)
  return problems
}

/**
 * Filters Knative accepts but silently ignores at runtime (create.go skips them), so the
 * trigger matches more than its author meant: no dialect, an empty key or value in
 * exact/prefix/suffix, an empty `cesql`, an empty `all`/`any`; and CESQL that mixes AND/OR/XOR
 * without parentheses, which Knative groups differently from the spec. Advisory only.
 */
export function lintTriggerFilters(spec: unknown): string[] {
  const warnings: string[] = []
  if (!isRecord(spec)) return warnings
  const visit = (node: unknown, path: string): void => {
    if (!isRecord(node)) return
    const present = DIALECTS.filter((d) => field(node, d) !== undefined)
    if (present.length === 0) warnings.push(`${path}: no dialect set; Knative ignores this filter`)
    for (const dialect of ['exact', 'prefix', 'suffix'] as const) {
      const value = field(node, dialect)
      if (!isRecord(value)) continue
      if (Object.keys(value).length === 0) warnings.push(`${path}.${dialect}: empty; Knative ignores this filter`)
      for (const [k, v] of Object.entries(value)) {
        if (k === '' || v === '') warnings.push(`${path}.${dialect}[${k}]: empty ${k === '' ? 'attribute name' : 'value'}; Knative ignores this filter`)
      }
    }
    for (const dialect of ['all', 'any'] as const) {
      const list = field(node, dialect)
      if (!Array.isArray(list)) continue
      if (list.length === 0) warnings.push(`${path}.${dialect}: empty; Knative ignores this filter`)
      list.forEach((child, i) => visit(child, `${path}.${dialect}[${i}]`))
    }
    const cesql = field(node, 'cesql')
    if (cesql === '') warnings.push(`${path}.cesql: empty expression; Knative ignores this filter`)
    if (typeof cesql === 'string' && cesql !== '') {
      try {
        for (const position of findMixedLogicOperators(cesql)) {
          warnings.push(
            `${path}.cesql: AND/OR/XOR mixed without parentheses at position ${position}; the CESQL spec groups them left to right but Knative's engine from the right: add parentheses`,
          )
        }
      } catch {
        // Not parseable: validateTriggerFilters reports it.
      }
    }
    visit(field(node, 'not'), `${path}.not`)
  }
  const filters = field(spec, 'filters')
  if (Array.isArray(filters)) filters.forEach((f, i) => visit(f, `spec.filters[${i}]`))
  return warnings
}
