// The engine's own behaviour beyond the TCK: parse-error positions, precedence, 32-bit overflow,
// Unicode, attribute representation, filter semantics of matches(), and robustness.
import fc from 'fast-check'
import t from 'tap'
import { compile, CesqlParseError, findMixedLogicOperators, type CesqlErrorKind, type CesqlValue } from '../../../broker/cesql/index.js'

const event = { specversion: '1.0', id: 'e-1', source: 'kube://cluster/ns', type: 'dev.kubereflex.classified' }

function run(expression: string, ev: Record<string, unknown> = event): { value: CesqlValue; kinds: CesqlErrorKind[] } {
  const { value, errors } = compile(expression).evaluate(ev)
  return { value, kinds: errors.map((e) => e.kind) }
}

function parseErrorOf(expression: string): CesqlParseError {
  try {
    compile(expression)
  } catch (err) {
    if (err instanceof CesqlParseError) return err
    throw err
  }
  throw new Error(`expected ${JSON.stringify(expression)} not to parse`)
}

void t.test('parse errors carry the offset of the offending token', (t) => {
  const cases: [string, number, RegExp][] = [
    ['ABC(', 4, /end of expression/],
    ['x LIKE 123', 7, /LIKE pattern must be a string literal/],
    ["'abc", 0, /unterminated string/],
    ['a $ b', 2, /unexpected character/],
    ['1 +', 3, /end of expression/],
    ['2147483648', 0, /32-bit/],
    ['1 + -2147483649', 4, /32-bit/],
    ['my_ext = 1', 0, /invalid attribute name/],
    ['f1(2)', 0, /invalid function name/],
    ['', 0, /empty expression/],
    ['   ', 0, /empty expression/],
    ['EXISTS 42', 7, /EXISTS must be followed by an attribute name/],
    ['EXISTS and', 7, /EXISTS must be followed/],
    ['a IN ()', 6, /unexpected/],
    ['a IN 1', 5, /"\(" to open the IN set/],
    ['(1 + 2', 6, /"\)"/],
    ['1 2', 2, /unexpected integer 2/],
    ['AND', 0, /unexpected keyword AND/],
    ['+a', 0, /no unary plus/],
    ['a ! b', 2, /unexpected character/],
  ]
  for (const [expression, position, message] of cases) {
    const err = parseErrorOf(expression)
    t.equal(err.position, position, `${JSON.stringify(expression)} position`)
    t.match(err.reason, message, `${JSON.stringify(expression)} message`)
    t.equal(err.kind, 'parse')
    t.match(err.message, new RegExp(`at position ${position}$`))
  }
  t.end()
})

void t.test('literals: sign belongs to integer literals, so the 32-bit minimum is writable', (t) => {
  t.strictSame(run('-2147483648'), { value: -2147483648, kinds: [] })
  t.strictSame(run('+7'), { value: 7, kinds: [] })
  t.strictSame(run('4 -1'), { value: 3, kinds: [] }, 'binary minus in infix position')
  t.strictSame(run('4-1'), { value: 3, kinds: [] })
  t.strictSame(run("'it\\'s'"), { value: "it's", kinds: [] })
  t.strictSame(run("'a\\\\b'"), { value: 'a\\\\b', kinds: [] }, 'only the delimiter is escapable')
  t.end()
})

void t.test('precedence (§3.6) and left-to-right evaluation of equal precedence', (t) => {
  t.strictSame(run('2 + 3 * 4').value, 14)
  t.strictSame(run('10 - 4 - 3').value, 3, 'left associative minus')
  t.strictSame(run('100 / 10 / 5').value, 2, 'left associative division')
  // AND, OR and XOR share one level: evaluated left to right.
  t.strictSame(run('TRUE OR TRUE AND FALSE').value, false)
  t.strictSame(run('FALSE AND FALSE OR TRUE').value, true)
  // Unary NOT binds tighter than LIKE, IN and the binary operators.
  t.strictSame(run("NOT 'x' = 'x'"), { value: false, kinds: ['cast'] }, '(NOT "x") = "x": "x" is not a Boolean')
  t.strictSame(run("NOT ('x' = 'x')").value, false)
  t.strictSame(run('1 + 2 IN (2)').value, 2, 'IN binds tighter than +: 1 + (2 IN (2)) = 1 + TRUE')
  t.strictSame(run("-5 LIKE '-5'").value, true)
  t.strictSame(run("type LIKE 'dev.%' AND source LIKE 'kube:%'").value, true)
  t.strictSame(run('1 < 2 = TRUE').value, true)
  t.strictSame(findMixedLogicOperators('a OR b AND c XOR d'), [7, 13])
  t.strictSame(findMixedLogicOperators('(a OR b) AND c'), [])
  t.strictSame(findMixedLogicOperators('a OR (b AND c) OR d'), [])
  t.strictSame(findMixedLogicOperators('a AND NOT b OR c'), [12])
  t.end()
})

void t.test('32-bit integer arithmetic: overflow wraps and raises a MathError', (t) => {
  t.strictSame(run('2147483647 + 1'), { value: -2147483648, kinds: ['math'] })
  t.strictSame(run('-2147483648 - 1'), { value: 2147483647, kinds: ['math'] })
  t.strictSame(run('2147483647 * 2'), { value: -2, kinds: ['math'] })
  t.strictSame(run('65536 * 65536'), { value: 0, kinds: ['math'] })
  t.strictSame(run('-2147483648 / -1'), { value: -2147483648, kinds: ['math'] })
  t.strictSame(run('-(-2147483648)'), { value: -2147483648, kinds: ['math'] })
  t.strictSame(run('-2147483648 % -1'), { value: 0, kinds: [] })
  t.strictSame(run('-7 / 2'), { value: -3, kinds: [] }, 'rounds toward zero')
  t.strictSame(run('-7 % 2'), { value: -1, kinds: [] }, 'remainder has the sign of x')
  t.strictSame(run('-4 % 2'), { value: 0, kinds: [] }, 'no negative zero')
  t.strictSame(run("INT('2147483648')"), { value: 0, kinds: ['cast'] }, 'String -> Integer overflow')
  t.strictSame(run("INT('+12')"), { value: 12, kinds: [] })
  t.strictSame(run("INT(' 12')"), { value: 0, kinds: ['cast'] })
  t.end()
})

void t.test('Unicode: lengths and positions count characters, TRIM uses White_Space', (t) => {
  t.strictSame(run("LENGTH('héllo😀')").value, 6)
  t.strictSame(run("LEFT('😀😁😂', 2)").value, '😀😁')
  t.strictSame(run("RIGHT('😀😁😂', 1)").value, '😂')
  t.strictSame(run("SUBSTRING('a😀b', 2, 1)").value, '😀')
  t.strictSame(run("'😀' LIKE '_'").value, true)
  t.strictSame(run("TRIM('\u0085\u3000 x \u2003')").value, 'x')
  t.strictSame(run("TRIM('\uFEFFx')").value, '\uFEFFx', 'U+FEFF is not White_Space')
  t.strictSame(run("UPPER('straße')").value, 'STRASSE')
  t.end()
})

void t.test('functions: case-insensitive names, dispatch by arity, casting helpers', (t) => {
  t.strictSame(run("lower('AbC')").value, 'abc')
  t.strictSame(run("Concat(1, TRUE, 'x')").value, '1truex')
  t.strictSame(run("CONCAT_WS('-', 1, 2)").value, '1-2')
  t.strictSame(run("IS_INT('42')").value, true)
  t.strictSame(run("IS_INT('4x')").value, false)
  t.strictSame(run('IS_INT(TRUE)').value, true)
  t.strictSame(run("IS_BOOL('FaLsE')").value, true)
  t.strictSame(run("IS_BOOL('yes')").value, false)
  t.strictSame(run('IS_BOOL(3)').value, true)
  t.strictSame(run("SUBSTRING('abc', 1, -1)"), { value: '', kinds: ['functionEvaluation'] })
  t.strictSame(run("SUBSTRING('', 0)"), { value: '', kinds: [] })
  t.strictSame(run('ABS(missing)'), { value: 0, kinds: ['missingAttribute'] }, 'operand error: zero of the return type')
  t.strictSame(run("ABS('x')"), { value: 0, kinds: ['cast'] })
  t.strictSame(run('NOPE(missing)'), { value: false, kinds: ['missingFunction'] }, 'arguments are not evaluated')
  t.strictSame(run("LENGTH('a', 'b')"), { value: false, kinds: ['missingFunction'] })
  t.end()
})

void t.test('attributes: representation of non-CESQL values and what is not an attribute', (t) => {
  const ev = {
    ...event,
    ratio: 1.5,
    big: 2 ** 40,
    huge: 12345678901234567890n,
    small: 42n,
    obj: { a: 1 },
    nothing: null,
    when: new Date('2026-11-28T04:00:00Z'),
    data: { secret: 1 },
  }
  t.strictSame(run('ratio', ev).value, '1.5')
  t.strictSame(run('big', ev).value, '1099511627776')
  t.strictSame(run('huge', ev).value, '12345678901234567890')
  t.strictSame(run('small + 1', ev).value, 43)
  t.strictSame(run('obj', ev).value, '{"a":1}')
  t.strictSame(run('nothing', ev), { value: false, kinds: ['missingAttribute'] })
  t.strictSame(run('EXISTS nothing', ev).value, false)
  t.strictSame(run('when', ev).value, '2026-11-28T04:00:00.000Z')
  t.strictSame(run('EXISTS data', ev).value, false, 'data is the payload, not an attribute')
  t.strictSame(run('constructor', ev), { value: false, kinds: ['missingAttribute'] }, 'no prototype lookups')
  t.strictSame(run('EXISTS tostring', ev).value, false)
  t.strictSame(run('TYPE', ev).value, event.type, 'identifiers are case-insensitive')
  t.strictSame(run('EXISTS id', {}).value, true, 'required attributes always exist (§3.4.4)')
  t.end()
})

void t.test('errors: operand errors give the zero value, short-circuits skip them', (t) => {
  t.strictSame(run('FALSE AND missing'), { value: false, kinds: [] })
  t.strictSame(run('TRUE OR missing'), { value: true, kinds: [] })
  t.strictSame(run('TRUE XOR missing'), { value: false, kinds: ['missingAttribute'] })
  t.strictSame(run("missing NOT LIKE 'x'"), { value: false, kinds: ['missingAttribute'] })
  t.strictSame(run('missing NOT IN (1)'), { value: false, kinds: ['missingAttribute'] })
  t.strictSame(run('1 IN (1, missing)'), { value: true, kinds: [] }, 'IN stops at the first match')
  t.strictSame(run('2 IN (1, missing)'), { value: false, kinds: ['missingAttribute'] })
  t.strictSame(run('NOT (NOT 10)'), { value: false, kinds: ['cast'] })
  t.strictSame(run("1 IN ('a', 1)"), { value: true, kinds: ['cast'] }, 'a failed cast of one element does not stop IN')
  t.strictSame(run("0 IN ('a')"), { value: true, kinds: ['cast'] }, 'the cast result (0) is compared, with the error')
  // §3.7 String -> Boolean of 'abc' is `false` plus an error; the comparison then runs on it.
  t.strictSame(run("'abc' = FALSE"), { value: true, kinds: ['cast'] })
  t.equal(compile("'abc' = FALSE").matches(event), false, 'a filter never passes with an error')
  t.strictSame(run("'abc' + 1"), { value: 1, kinds: ['cast'] }, 'operators continue on the zero value of a failed cast')
  t.strictSame(run("CONCAT('a', missing)"), { value: '', kinds: ['missingAttribute'] })
  t.end()
})

void t.test('matches(): a filter passes only on Boolean true without errors (§1.2)', (t) => {
  const yes = { ...event, severity: 'critical', count: '7' }
  t.equal(compile("severity IN ('critical', 'warning')").matches(yes), true)
  t.equal(compile("severity = 'info'").matches(yes), false)
  t.equal(compile('count > 5').matches(yes), true)
  t.equal(compile('missing = 1 OR TRUE').matches(yes), false, 'error in the left operand of OR')
  t.equal(compile("'true'").matches(yes), false, 'a String result is not a Boolean')
  t.equal(compile('1').matches(yes), false, 'an Integer result is not a Boolean')
  t.equal(compile('NOT 10').matches(yes), false, 'true, but with a cast error')
  const expr = compile('missing = 1')
  t.equal(expr.matches(yes), false)
  t.equal(compile('TRUE').matches(yes), true, 'no error leaks from a previous evaluation')
  t.strictSame(expr.evaluate(yes).errors.length, 1)
  t.strictSame(compile('TRUE').evaluate(yes).errors, [])
  t.end()
})

void t.test('LIKE matching stays linear-ish on adversarial patterns', (t) => {
  const text = 'a'.repeat(20000)
  const started = process.hrtime.bigint()
  t.equal(compile("x LIKE '%a%a%a%a%a%a%a%a%b'").matches({ ...event, x: text }), false)
  t.equal(compile("x LIKE '%%%%%%a'").matches({ ...event, x: text }), true)
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  t.ok(ms < 2000, `took ${ms.toFixed(1)} ms`)
  t.equal(compile("x LIKE 'a\\%'").matches({ ...event, x: 'a%' }), true)
  t.equal(compile("x LIKE 'a\\%'").matches({ ...event, x: 'ab' }), false)
  t.equal(compile("x LIKE 'a\\b'").matches({ ...event, x: 'a\\b' }), true, 'a lone backslash is literal')
  t.end()
})

// Random input must never crash: the parser only ever throws CesqlParseError, evaluation never throws.
const tokens = [
  'AND', 'or', 'Xor', 'NOT', 'LIKE', 'IN', 'EXISTS', 'TRUE', 'false', '(', ')', ',', '=', '!=', '<>', '<', '<=', '>',
  '>=', '+', '-', '*', '/', '%', '0', '1', '-2147483648', '2147483647', "'a%b'", '"x\\"y"', "'\\_'", 'type', 'source',
  'missing', 'ext', 'num', 'flag', 'LENGTH', 'CONCAT', 'CONCAT_WS', 'SUBSTRING', 'ABS', 'INT', 'BOOL', 'STRING',
  'IS_INT', 'LEFT', 'RIGHT', 'TRIM', 'UPPER', 'nofn',
]
const tokenSoup = fc.array(fc.constantFrom(...tokens), { maxLength: 25 }).map((parts) => parts.join(' '))
const randomEvent = fc.record({
  specversion: fc.constant('1.0'),
  id: fc.string(),
  source: fc.string(),
  type: fc.string(),
  ext: fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.double(), fc.constant(null), fc.object()),
  num: fc.oneof(fc.integer({ min: -2147483648, max: 2147483647 }), fc.string()),
  flag: fc.oneof(fc.boolean(), fc.constantFrom('true', 'FALSE', 'nope')),
})

function isCesqlValue(v: unknown): boolean {
  return typeof v === 'boolean' || typeof v === 'string' || (typeof v === 'number' && (v | 0) === v)
}

void t.test('property: random text never crashes the parser', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 40 }), tokenSoup), (source) => {
      try {
        compile(source)
      } catch (err) {
        if (!(err instanceof CesqlParseError)) throw err
        return err.position >= 0 && err.position <= source.length
      }
      return true
    }),
    { numRuns: 3000 },
  )
  t.pass('only CesqlParseError, with a position inside the text')
  t.end()
})

// Grammatical expressions built from the §2 rules, so evaluation is exercised deeply.
const { expression: grammatical } = fc.letrec<{ expression: string; leaf: string }>((tie) => ({
  leaf: fc.oneof(
    fc.constantFrom('TRUE', 'false', 'type', 'ext', 'num', 'flag', 'missing', '0', '-2147483648', '2147483647'),
    fc.integer({ min: -2147483648, max: 2147483647 }).map(String),
    // A backslash right before the closing quote would escape it, so none are generated.
    fc.string({ maxLength: 6 }).map((s) => `'${s.replaceAll('\\', '').replaceAll("'", "\\'")}'`),
  ),
  expression: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('leaf'),
    fc.tuple(tie('expression'), fc.constantFrom('AND', 'OR', 'XOR', '=', '!=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '%'), tie('expression')).map(([l, op, r]) => `(${l}) ${op} (${r})`),
    tie('expression').map((e) => `NOT (${e})`),
    tie('expression').map((e) => `-(${e})`),
    fc.tuple(tie('expression'), fc.constantFrom("'%a_'", "'\\%'", "''", "'%'")).map(([e, p]) => `(${e}) NOT LIKE ${p}`),
    fc.tuple(tie('expression'), fc.array(tie('expression'), { minLength: 1, maxLength: 3 })).map(([e, set]) => `(${e}) IN (${set.join(', ')})`),
    fc.constantFrom('ext', 'num', 'missing', 'id').map((a) => `EXISTS ${a}`),
    fc.tuple(fc.constantFrom('LENGTH', 'CONCAT', 'CONCAT_WS', 'LOWER', 'TRIM', 'LEFT', 'RIGHT', 'SUBSTRING', 'ABS', 'INT', 'BOOL', 'STRING', 'IS_INT', 'IS_BOOL', 'NOPE'), fc.array(tie('expression'), { maxLength: 3 })).map(([f, args]) => `${f}(${args.join(', ')})`),
  ),
}))

void t.test('property: evaluating valid expressions on random events never throws', (t) => {
  const expressions = fc.oneof(grammatical, tokenSoup.filter((s) => {
    try {
      compile(s)
      return true
    } catch {
      return false
    }
  }))
  fc.assert(
    fc.property(expressions, randomEvent, (source, ev) => {
      const expression = compile(source)
      const { value, errors } = expression.evaluate(ev)
      const matched = expression.matches(ev)
      return isCesqlValue(value) && errors.every((e) => typeof e.message === 'string') && matched === (value === true && errors.length === 0)
    }),
    { numRuns: 1500 },
  )
  t.pass('values stay CESQL values (32-bit integers, strings, booleans)')
  t.end()
})
