// Trigger filter semantics as implemented by knative/eventing (attributes filter, Subscriptions
// API dialects, tri-state results) and the Trigger webhook's filter validation.
import t, { type Test } from 'tap'
import { parse as parseYaml } from 'yaml'
import {
  compileTriggerFilter,
  compileTriggerFilterResult,
  lintTriggerFilters,
  lookupAttribute,
  TriggerFilterError,
  validateTriggerFilters,
} from '../../broker/filters.js'

const classified = {
  specversion: '1.0',
  id: 'evt-1',
  source: 'kube-reflex/classify',
  type: 'dev.kubereflex.classified',
  datacontenttype: 'application/json; charset=utf-8',
  severity: 'critical',
  category: 'crash-loop',
  action: 'restart',
  data: { reason: 'BackOff' },
}
// No subject, no time, no severity extension.
const bare = { specversion: '1.0', id: 'evt-2', source: 'k8s/apiserver', type: 'dev.knative.apiserver.resource.add' }

interface Row {
  name: string
  spec: unknown
  event: Record<string, unknown>
  want: 'pass' | 'fail' | 'none'
}

function table(t: Test, rows: readonly Row[]): void {
  for (const row of rows) {
    t.equal(compileTriggerFilterResult(row.spec)(row.event), row.want, row.name)
    t.equal(compileTriggerFilter(row.spec)(row.event), row.want !== 'fail', `${row.name} (delivered?)`)
  }
}

void t.test('no filter at all delivers everything', (t) => {
  table(t, [
    { name: 'empty spec', spec: { broker: 'default' }, event: bare, want: 'none' },
    { name: 'undefined spec', spec: undefined, event: bare, want: 'none' },
    { name: 'filter without attributes', spec: { filter: {} }, event: bare, want: 'none' },
    { name: 'filter.attributes empty', spec: { filter: { attributes: {} } }, event: bare, want: 'pass' },
    { name: 'filters: []', spec: { filters: [] }, event: bare, want: 'none' },
  ])
  t.end()
})

void t.test('legacy filter.attributes', (t) => {
  table(t, [
    { name: 'type equal', spec: { filter: { attributes: { type: 'dev.kubereflex.classified' } } }, event: classified, want: 'pass' },
    { name: 'type differs', spec: { filter: { attributes: { type: 'dev.kubereflex.alerted' } } }, event: classified, want: 'fail' },
    {
      name: 'all attributes must match',
      spec: { filter: { attributes: { type: 'dev.kubereflex.classified', severity: 'warning' } } },
      event: classified,
      want: 'fail',
    },
    { name: 'extension equal', spec: { filter: { attributes: { severity: 'critical' } } }, event: classified, want: 'pass' },
    { name: 'missing extension', spec: { filter: { attributes: { severity: 'critical' } } }, event: bare, want: 'fail' },
    { name: '"" = extension present', spec: { filter: { attributes: { severity: '' } } }, event: classified, want: 'pass' },
    { name: '"" with extension absent', spec: { filter: { attributes: { severity: '' } } }, event: bare, want: 'fail' },
    { name: '"" with empty extension value', spec: { filter: { attributes: { severity: '' } } }, event: { ...bare, severity: '' }, want: 'fail' },
    { name: 'YAML null value means ""', spec: { filter: { attributes: { severity: null } } }, event: classified, want: 'pass' },
    { name: '"" with unset optional subject', spec: { filter: { attributes: { subject: '' } } }, event: bare, want: 'fail' },
    { name: '"" with subject set', spec: { filter: { attributes: { subject: '' } } }, event: { ...bare, subject: 'pod/x' }, want: 'pass' },
    // Knative reads an unset time as Go's zero time, which is not "": the any-filter passes.
    { name: '"" with unset time (Knative quirk)', spec: { filter: { attributes: { time: '' } } }, event: bare, want: 'pass' },
    {
      name: 'schemaurl reads dataschema',
      spec: { filter: { attributes: { schemaurl: 'https://s/1' } } },
      event: { ...bare, dataschema: 'https://s/1' },
      want: 'pass',
    },
    {
      name: 'datamediatype drops parameters',
      spec: { filter: { attributes: { datamediatype: 'application/json' } } },
      event: classified,
      want: 'pass',
    },
    { name: 'data is not an attribute', spec: { filter: { attributes: { data: '' } } }, event: classified, want: 'fail' },
    // Knative's filter sees extensions as the binary-mode headers the channel sent: strings.
    { name: 'a number extension equals its string form', spec: { filter: { attributes: { count: '3' } } }, event: { ...bare, count: 3 }, want: 'pass' },
    { name: 'a boolean extension equals its string form', spec: { filter: { attributes: { flag: 'true' } } }, event: { ...bare, flag: true }, want: 'pass' },
    { name: 'a number extension still has to be equal', spec: { filter: { attributes: { count: '4' } } }, event: { ...bare, count: 3 }, want: 'fail' },
    { name: 'non-string extension is present', spec: { filter: { attributes: { count: '' } } }, event: { ...bare, count: 3 }, want: 'pass' },
    { name: 'false and 0 are non-empty values', spec: { filter: { attributes: { flag: '', count: '' } } }, event: { ...bare, flag: false, count: 0 }, want: 'pass' },
    { name: 'values are case-sensitive', spec: { filter: { attributes: { severity: 'Critical' } } }, event: classified, want: 'fail' },
  ])
  t.end()
})

void t.test('exact, prefix, suffix', (t) => {
  table(t, [
    { name: 'exact match', spec: { filters: [{ exact: { type: 'dev.kubereflex.classified' } }] }, event: classified, want: 'pass' },
    { name: 'exact mismatch', spec: { filters: [{ exact: { type: 'dev.kubereflex' } }] }, event: classified, want: 'fail' },
    { name: 'exact on missing extension', spec: { filters: [{ exact: { severity: 'critical' } }] }, event: bare, want: 'fail' },
    {
      name: 'exact with several keys: all must hold',
      spec: { filters: [{ exact: { severity: 'critical', action: 'none' } }] },
      event: classified,
      want: 'fail',
    },
    { name: 'exact formats non-strings like %v', spec: { filters: [{ exact: { count: '3' } }] }, event: { ...bare, count: 3 }, want: 'pass' },
    { name: 'exact formats booleans', spec: { filters: [{ exact: { flag: 'true' } }] }, event: { ...bare, flag: true }, want: 'pass' },
    // An empty value cannot be built (NewExactFilter errors) and the filter is skipped.
    { name: 'exact with "" value is ignored', spec: { filters: [{ exact: { type: '' } }] }, event: classified, want: 'none' },
    { name: 'prefix match', spec: { filters: [{ prefix: { type: 'dev.kubereflex.' } }] }, event: classified, want: 'pass' },
    { name: 'prefix mismatch', spec: { filters: [{ prefix: { type: 'dev.knative.' } }] }, event: classified, want: 'fail' },
    { name: 'prefix on unset subject', spec: { filters: [{ prefix: { subject: 'pod/' } }] }, event: bare, want: 'fail' },
    { name: 'suffix match', spec: { filters: [{ suffix: { type: '.classified' } }] }, event: classified, want: 'pass' },
    { name: 'suffix mismatch', spec: { filters: [{ suffix: { type: '.recovered' } }] }, event: classified, want: 'fail' },
    { name: 'suffix is case-sensitive', spec: { filters: [{ suffix: { type: '.Classified' } }] }, event: classified, want: 'fail' },
    {
      name: 'prefix on time of an event without time sees the zero time',
      spec: { filters: [{ prefix: { time: '0001-' } }] },
      event: bare,
      want: 'pass',
    },
  ])
  t.end()
})

void t.test('all, any, not and their "no filter" results', (t) => {
  const critical = { exact: { severity: 'critical' } }
  const warning = { exact: { severity: 'warning' } }
  const noop = { cesql: '' }
  table(t, [
    { name: 'array entries are ANDed', spec: { filters: [{ prefix: { type: 'dev.kubereflex.' } }, warning] }, event: classified, want: 'fail' },
    { name: 'array entries all hold', spec: { filters: [{ prefix: { type: 'dev.kubereflex.' } }, critical] }, event: classified, want: 'pass' },
    { name: 'all: one fails', spec: { filters: [{ all: [critical, warning] }] }, event: classified, want: 'fail' },
    { name: 'all: every pass', spec: { filters: [{ all: [critical, { suffix: { type: 'classified' } }] }] }, event: classified, want: 'pass' },
    { name: 'any: one passes', spec: { filters: [{ any: [warning, critical] }] }, event: classified, want: 'pass' },
    { name: 'any: none passes', spec: { filters: [{ any: [warning, { exact: { severity: 'info' } }] }] }, event: classified, want: 'fail' },
    { name: 'not inverts pass', spec: { filters: [{ not: critical }] }, event: classified, want: 'fail' },
    { name: 'not inverts fail', spec: { filters: [{ not: warning }] }, event: classified, want: 'pass' },
    { name: 'not not', spec: { filters: [{ not: { not: critical } }] }, event: classified, want: 'pass' },
    { name: 'not of an empty filter stays no-filter', spec: { filters: [{ not: {} }] }, event: classified, want: 'none' },
    {
      name: 'nested: any(all(critical, not(action=none)), exact info)',
      spec: { filters: [{ any: [{ all: [critical, { not: { exact: { action: 'none' } } }] }, { exact: { severity: 'info' } }] }] },
      event: classified,
      want: 'pass',
    },
    {
      name: 'nested: same trigger on an action=none event',
      spec: { filters: [{ any: [{ all: [critical, { not: { exact: { action: 'none' } } }] }, { exact: { severity: 'info' } }] }] },
      event: { ...classified, action: 'none' },
      want: 'fail',
    },
    // Knative returns the last child's result when nothing decides: a skipped/none child last
    // turns a would-be failure of `any` into "no filter", which delivers the event.
    { name: 'any: fail then no-filter -> none', spec: { filters: [{ any: [warning, { not: {} }] }] }, event: classified, want: 'none' },
    { name: 'any: no-filter then fail -> fail', spec: { filters: [{ any: [{ not: {} }, warning] }] }, event: classified, want: 'fail' },
    { name: 'all: pass then no-filter -> none', spec: { filters: [{ all: [critical, { not: {} }] }] }, event: classified, want: 'none' },
    { name: 'not(all(pass, none)) -> none', spec: { filters: [{ not: { all: [critical, { not: {} }] } }] }, event: classified, want: 'none' },
    { name: 'skipped entries are dropped', spec: { filters: [noop, critical] }, event: classified, want: 'pass' },
    { name: 'only skipped entries -> none', spec: { filters: [noop, {}] }, event: classified, want: 'none' },
  ])
  t.end()
})

void t.test('cesql dialect', (t) => {
  table(t, [
    { name: 'true', spec: { filters: [{ cesql: "severity IN ('critical', 'warning')" }] }, event: classified, want: 'pass' },
    { name: 'false', spec: { filters: [{ cesql: "severity = 'info'" }] }, event: classified, want: 'fail' },
    { name: 'evaluation error fails', spec: { filters: [{ cesql: "severity = 'critical'" }] }, event: bare, want: 'fail' },
    { name: 'error even if the value is true', spec: { filters: [{ cesql: 'NOT 10' }] }, event: bare, want: 'fail' },
    { name: 'non-Boolean result fails', spec: { filters: [{ cesql: "'true'" }] }, event: bare, want: 'fail' },
    { name: 'EXISTS', spec: { filters: [{ cesql: 'EXISTS severity AND NOT EXISTS subject' }] }, event: classified, want: 'pass' },
    { name: 'data is not addressable', spec: { filters: [{ cesql: 'EXISTS data' }] }, event: classified, want: 'fail' },
    { name: 'combined with exact', spec: { filters: [{ exact: { type: 'dev.kubereflex.classified' } }, { cesql: "action <> 'none'" }] }, event: classified, want: 'pass' },
  ])
  t.end()
})

void t.test('filters overrides filter when non-empty', (t) => {
  const both = { filter: { attributes: { severity: 'warning' } }, filters: [{ exact: { severity: 'critical' } }] }
  table(t, [
    { name: 'filters wins', spec: both, event: classified, want: 'pass' },
    { name: 'empty filters falls back to filter', spec: { ...both, filters: [] }, event: classified, want: 'fail' },
    { name: 'filters: [{}] still overrides (and matches all)', spec: { ...both, filters: [{}] }, event: classified, want: 'none' },
    { name: 'filters: null falls back to filter', spec: { ...both, filters: null }, event: classified, want: 'fail' },
  ])
  t.end()
})

void t.test('works on specs parsed from Trigger YAML', (t) => {
  const trigger: unknown = parseYaml(`
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: { name: alert }
spec:
  broker: default
  filters:
    - exact: { type: dev.kubereflex.classified }
    - any:
        - exact: { severity: critical }
        - exact: { severity: warning }
  subscriber:
    ref: { apiVersion: serving.knative.dev/v1, kind: Service, name: alert }
`)
  const spec = typeof trigger === 'object' && trigger !== null && 'spec' in trigger ? trigger.spec : undefined
  const matches = compileTriggerFilter(spec)
  t.equal(matches(classified), true)
  t.equal(matches({ ...classified, severity: 'info' }), false)
  t.equal(matches(bare), false)
  t.end()
})

void t.test('validateTriggerFilters mirrors the Knative webhook', (t) => {
  const cases: [string, unknown, RegExp[]][] = [
    ['valid', { filters: [{ exact: { type: 'a' } }, { not: { cesql: 'EXISTS x' } }], filter: { attributes: { type: 'a', ext1: '' } } }, []],
    ['no spec', undefined, []],
    ['two dialects', { filters: [{ exact: { type: 'a' }, prefix: { type: 'b' } }] }, [/^spec\.filters\[0\]: multiple dialects found/]],
    ['dialect + cesql', { filters: [{ not: {}, cesql: 'TRUE' }] }, [/^spec\.filters\[0\]: multiple dialects/]],
    ['empty maps do not count as dialects', { filters: [{ exact: {}, cesql: 'TRUE' }] }, []],
    ['nested two dialects', { filters: [{ any: [{ all: [{ suffix: { a: 'x' }, exact: { a: 'y' } }] }] }] }, [/^spec\.filters\[0\]\.any\[0\]\.all\[0\]: multiple dialects/]],
    ['bad attribute name in exact', { filters: [{ exact: { Type: 'a' } }] }, [/^spec\.filters\[0\]\.exact\[Type\]: invalid key name "Type"/]],
    ['attribute name with dash', { filters: [{ prefix: { 'my-ext': 'a' } }] }, [/^spec\.filters\[0\]\.prefix\[my-ext\]: invalid key name/]],
    ['empty attribute name', { filters: [{ suffix: { '': 'a' } }] }, [/^spec\.filters\[0\]\.suffix\[\]: invalid key name ""/]],
    ['attribute name starting with digit', { filter: { attributes: { '1ext': 'a' } } }, [/^spec\.filter\.attributes\[1ext\]: invalid key name/]],
    ['invalid CESQL', { filters: [{ not: { cesql: "type LIKE 5" } }] }, [/^spec\.filters\[0\]\.not\.cesql: invalid value: type LIKE 5: LIKE pattern must be a string literal.* at position 10$/]],
    ['non-string value', { filters: [{ exact: { count: 3 } }] }, [/^spec\.filters\[0\]\.exact\[count\]: value must be a string/]],
    ['exact not a map', { filters: [{ exact: 'type=a' }] }, [/^spec\.filters\[0\]\.exact: must be a map/]],
    ['filters not a list', { filters: { exact: { type: 'a' } } }, [/^spec\.filters: must be a list/]],
    ['filter entry not an object', { filters: ['type = a'] }, [/^spec\.filters\[0\]: must be an object/]],
    ['all not a list', { filters: [{ all: { exact: { type: 'a' } } }] }, [/^spec\.filters\[0\]\.all: must be a list/]],
    ['not not an object', { filters: [{ not: [] }] }, [/^spec\.filters\[0\]\.not: must be an object/]],
    ['cesql not a string', { filters: [{ cesql: true }] }, [/^spec\.filters\[0\]\.cesql: must be a string/]],
    ['unknown dialect', { filters: [{ regex: { type: '.*' } }] }, [/^spec\.filters\[0\]\.regex: unknown field/]],
    ['legacy value not a string', { filter: { attributes: { severity: ['a'] } } }, [/^spec\.filter\.attributes\[severity\]: value must be a string/]],
    ['legacy unknown field', { filter: { type: 'a' } }, [/^spec\.filter\.type: unknown field/]],
    ['several problems are all reported', { filters: [{ exact: { A: 'x' } }, { cesql: '(' }] }, [/exact\[A\]/, /filters\[1\]\.cesql/]],
  ]
  for (const [name, spec, expected] of cases) {
    const problems = validateTriggerFilters(spec)
    t.equal(problems.length, expected.length, `${name}: ${JSON.stringify(problems)}`)
    expected.forEach((re, i) => t.match(problems[i] ?? '', re, `${name}: problem ${i}`))
  }
  t.end()
})

void t.test('compileTriggerFilter refuses what the webhook rejects', (t) => {
  t.throws(() => compileTriggerFilter({ filters: [{ cesql: 'a =' }] }), TriggerFilterError)
  try {
    compileTriggerFilter({ filters: [{ exact: { A: 'x' }, prefix: { b: 'y' } }] })
    t.fail('should throw')
  } catch (err) {
    t.ok(err instanceof TriggerFilterError)
    if (err instanceof TriggerFilterError) t.equal(err.problems.length, 2)
  }
  t.end()
})

void t.test('lintTriggerFilters flags filters Knative silently ignores', (t) => {
  t.strictSame(lintTriggerFilters({ filters: [{ exact: { type: 'a' } }] }), [])
  const warnings = lintTriggerFilters({
    filters: [{}, { exact: { type: '' } }, { cesql: '' }, { any: [] }, { not: { all: [{}] } }],
  })
  t.match(warnings, [
    /spec\.filters\[0\]: no dialect set/,
    /spec\.filters\[1\]\.exact\[type\]: empty value/,
    /spec\.filters\[2\]\.cesql: empty expression/,
    /spec\.filters\[3\]\.any: empty/,
    /spec\.filters\[4\]\.not\.all\[0\]: no dialect set/,
  ])
  t.equal(warnings.length, 5)
  t.strictSame(lintTriggerFilters({ filters: [{ cesql: "(a = 'x' OR b = 'y') AND c = 'z'" }, { cesql: 'a AND b AND c' }] }), [])
  t.match(lintTriggerFilters({ filters: [{ any: [{ cesql: "a = 'x' OR b = 'y' AND c = 'z'" }] }] }), [
    /^spec\.filters\[0\]\.any\[0\]\.cesql: AND\/OR\/XOR mixed without parentheses at position 19;/,
  ])
  t.strictSame(lintTriggerFilters({ filters: [{ cesql: 'a AND (' }] }), [], 'parse errors are validation problems, not lint')
  t.end()
})

void t.test('lookupAttribute follows Knative: spec attributes always exist', (t) => {
  t.strictSame(lookupAttribute(bare, 'subject'), { found: true, value: '' })
  t.strictSame(lookupAttribute(bare, 'time'), { found: true, value: '0001-01-01T00:00:00Z' })
  t.strictSame(lookupAttribute(bare, 'datacontentencoding'), { found: true, value: '' })
  t.strictSame(lookupAttribute(bare, 'severity'), { found: false })
  t.strictSame(lookupAttribute({ ...bare, severity: null }, 'severity'), { found: false })
  t.strictSame(lookupAttribute(classified, 'data'), { found: false })
  t.strictSame(lookupAttribute(bare, 'constructor'), { found: false })
  t.strictSame(lookupAttribute({ ...bare, time: new Date('2026-01-01T00:00:00Z') }, 'time'), {
    found: true,
    value: '2026-01-01T00:00:00.000Z',
  })
  t.end()
})
