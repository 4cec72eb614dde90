import t from 'tap'
import { ConfigError } from '../../../shared/config.js'
import { loadConfig } from '../../../functions/classify/config.js'

void t.test('CLASSIFY_SWEEP_NAMESPACES: trimmed, empty entries dropped, repeats listed once; unset sweeps all', (t) => {
  t.same(loadConfig({ CLASSIFY_SWEEP_NAMESPACES: ' shop , kube-system,,shop ' }).sweepNamespaces, ['shop', 'kube-system'])
  t.same(loadConfig({}).sweepNamespaces, [])
  t.same(loadConfig({ CLASSIFY_SWEEP_NAMESPACES: ' , ' }).sweepNamespaces, [])
  t.same(loadConfig({ CLASSIFY_SWEEP_NAMESPACES: `a,${'n'.repeat(63)}` }).sweepNamespaces, ['a', 'n'.repeat(63)])
  t.end()
})

void t.test('a name no namespace can have is refused at start-up, by variable and by name', (t) => {
  for (const bad of ['a/b', 'Shop', '-shop', 'shop-', 'shop.prod', '..', '%2F', 'n'.repeat(64)]) {
    const err = t.throws(() => loadConfig({ CLASSIFY_SWEEP_NAMESPACES: `ok,${bad}` }), bad) as ConfigError
    t.ok(err instanceof ConfigError, bad)
    t.equal(err.problems.length, 1, bad)
    t.match(err.problems[0], /^CLASSIFY_SWEEP_NAMESPACES must list namespace names/, bad)
    t.ok(err.problems[0]?.includes(`'${bad}'`), `names ${bad}`)
    t.notOk(err.problems[0]?.includes("'ok'"), 'a good name is not blamed')
  }
  t.end()
})

void t.test('every bad option is reported together', (t) => {
  const err = t.throws(() => loadConfig({ CLASSIFY_SWEEP_NAMESPACES: 'a/b', K_SINK: 'ftp://x', CLASSIFY_RULES_FILE: '/nope.yaml' })) as ConfigError
  t.equal(err.problems.length, 3)
  t.match(err.message, /CLASSIFY_SWEEP_NAMESPACES/)
  t.match(err.message, /K_SINK/)
  t.match(err.message, /CLASSIFY_RULES_FILE names a file that does not exist/)
  t.end()
})
