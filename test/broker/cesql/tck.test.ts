// Runs every case of the CloudEvents SQL TCK (../shared/specs/cesql-tck, see its README) against
// the engine: the value and the error kind must be exactly what the TCK states.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { compile, CesqlParseError } from '../../../broker/cesql/index.js'

const repoRoot = path.resolve(import.meta.dirname, '..', '..', '..')
const tckDir = path.resolve(repoRoot, '..', 'shared', 'specs', 'cesql-tck')

interface TckCase {
  name: string
  expression: string
  result?: unknown
  error?: string
  event?: Record<string, unknown>
  eventOverrides?: Record<string, unknown>
}

// "If absent, when testing the expression, any valid event can be passed."
const anyValidEvent = { specversion: '1.0', id: 'tck-id', source: 'tck.example/source', type: 'tck.example.type' }

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function readSuite(file: string): { name: string; tests: TckCase[] } {
  const text = readFileSync(file, 'utf8')
  const doc: unknown = parseYaml(text)
  // Expressions like `TRUE`, `tRuE` or `0` are plain YAML scalars that the core schema turns into
  // booleans and numbers; the failsafe schema keeps every scalar as its source text.
  const source: unknown = parseYaml(text, { schema: 'failsafe' })
  const expressions = isRecord(source) && Array.isArray(source.tests) ? source.tests : []
  if (!isRecord(doc) || typeof doc.name !== 'string' || !Array.isArray(doc.tests)) {
    throw new Error(`${file}: not a TCK suite`)
  }
  const tests = doc.tests.map((raw: unknown, i): TckCase => {
    const expression: unknown = expressions[i]
    if (!isRecord(raw) || !isRecord(expression) || typeof expression.expression !== 'string') {
      throw new Error(`${file}: test #${i} lacks an expression`)
    }
    const c: TckCase = { name: String(raw.name), expression: expression.expression }
    if ('result' in raw) c.result = raw.result
    if (typeof raw.error === 'string') c.error = raw.error
    if (isRecord(raw.event)) c.event = raw.event
    if (isRecord(raw.eventOverrides)) c.eventOverrides = raw.eventOverrides
    return c
  })
  return { name: doc.name, tests }
}

if (!existsSync(tckDir)) {
  void t.test('CESQL TCK', { skip: `TCK not found at ${tckDir}; the engine's own tests still run` }, (t) => {
    t.end()
  })
} else {
  const files = readdirSync(tckDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
  let total = 0
  t.ok(files.length > 0, 'TCK directory holds suites')
  for (const file of files) {
    const suite = readSuite(path.join(tckDir, file))
    total += suite.tests.length
    void t.test(`${file}: ${suite.name}`, (t) => {
      for (const c of suite.tests) {
        void t.test(c.name, (t) => {
          if (c.error === 'parse') {
            t.throws(() => compile(c.expression), CesqlParseError, `${c.expression} is a parse error`)
            t.end()
            return
          }
          const expression = compile(c.expression)
          const event = c.event ?? { ...anyValidEvent, ...c.eventOverrides }
          const { value, errors } = expression.evaluate(event)
          if ('result' in c) t.strictSame(value, c.result, `value of ${c.expression}`)
          const kinds = [...new Set(errors.map((e) => e.kind))]
          t.strictSame(kinds, c.error === undefined ? [] : [c.error], `errors of ${c.expression}`)
          t.end()
        })
      }
      t.end()
    })
  }
  t.teardown(() => {
    t.comment(`CESQL TCK: ${total} cases in ${files.length} files`)
  })
}
