// Rule files: the shipped defaults parse; user files add and override; mistakes are reported precisely.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { defaultRules, loadRulesFile, mergeRules, parseRules, rulesFromJson, rulesToJson, RulesError, type Rule, type RuleJson } from '../../../functions/classify/rules.js'
import { createDeps, handle } from '../../../functions/classify/index.js'
import { loadConfig } from '../../../functions/classify/config.js'
import { CATEGORIES } from '../../../shared/contracts.js'
import { silentLogger } from '../../../shared/logger.js'
import { apiServerEvent } from '../../helpers/events.js'
import { coreEvent } from '../../helpers/k8s-fixtures.js'

t.test('the default rules parse and cover every category', async (t) => {
  const rules = defaultRules()
  t.ok(rules.length > 20)
  const used = new Set(rules.map((r) => r.category))
  for (const c of CATEGORIES) t.ok(used.has(c), `category ${c} has a rule`)
  t.equal(rules.at(-1)?.name, 'lifecycle', 'the catch-all is last')
})

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const yamlText = (): string => readFileSync(path.join(repoRoot, 'functions/classify/rules/default-rules.yaml'), 'utf8')
// RegExp objects compare by identity in t.same: compare the JSON form, which carries source and names.
const comparable = (rules: readonly Rule[]): unknown => rules.map((r) => ({ ...r, match: { ...r.match, message: r.match.message?.source, notMessage: r.match.notMessage?.source, flags: [r.match.message?.flags, r.match.notMessage?.flags] } }))

t.test('pre-parsed rules (JSON) round-trip to exactly what the YAML parser gives', async (t) => {
  const parsed = parseRules(yamlText(), 'default-rules.yaml')
  const json = JSON.parse(JSON.stringify(rulesToJson(parsed))) as RuleJson[]
  t.same(comparable(rulesFromJson(json)), comparable(parsed))
  t.ok(parsed.some((r) => r.match.message !== undefined), 'the defaults exercise regular expressions')
})

const built = path.join(repoRoot, 'dist/functions/classify/rules/default-rules.json')
t.test('the built dist/ default-rules.json is the YAML, pre-parsed (the build cannot ship stale rules)', { skip: existsSync(built) ? false : 'dist/ not built: run `npm run build` (npm test builds first)' }, async (t) => {
  const fromDist = rulesFromJson(JSON.parse(readFileSync(built, 'utf8')) as RuleJson[])
  t.same(comparable(fromDist), comparable(parseRules(yamlText(), 'default-rules.yaml')))
})

t.test('a user rule file adds rules before the defaults and overrides by name', async (t) => {
  const dir = t.testdir({
    'rules.yaml': `apiVersion: kube-reflex.dev/v1
kind: ClassificationRules
rules:
  - name: payments-probe-is-critical
    match: { reasons: [Unhealthy], message: "payments" }
    category: probe
    severity: critical
    runbook: https://runbooks.example.com/payments-probe
  - name: crashloop-event
    match: { origin: event, reasons: [BackOff], message: "back-off restarting" }
    category: crashloop
    severity: warning
    action: none
`,
  })
  const deps = createDeps(loadConfig({ CLASSIFY_RULES_FILE: `${dir}/rules.yaml` }))
  const ctx = { deps, log: silentLogger, traceparent: '', signal: new AbortController().signal, receivedAt: 0 }
  const probe = await handle(apiServerEvent(coreEvent({ reason: 'Unhealthy', message: 'Readiness probe failed: payments-gw timeout' })), ctx)
  t.equal(probe?.severity, 'critical')
  t.equal((probe?.data as { runbook: string }).runbook, 'https://runbooks.example.com/payments-probe')
  const other = await handle(apiServerEvent(coreEvent({ reason: 'Unhealthy', message: 'Readiness probe failed: web' })), ctx)
  t.equal(other?.severity, 'warning', 'defaults still apply')
  const crash = await handle(apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container' })), ctx)
  t.equal(crash?.severity, 'warning', 'overridden by name')
  t.equal(crash?.action, 'none')
  t.equal(deps.rules.filter((r) => r.name === 'crashloop-event').length, 1)
})

t.test('mistakes are reported with file, line and field — all of them', async (t) => {
  const text = `rules:
  - name: Bad Name
    category: crashloop
    severity: critical
  - name: two
    category: nope
    severity: loud
    action: reboot-node
    runbook: ftp://x
    match:
      reasons: []
      message: "(unclosed"
      colour: red
  - name: two
    category: other
    severity: info
`
  const err = t.throws(() => parseRules(text, 'my-rules.yaml')) as RulesError
  t.type(err, RulesError)
  const all = err.problems.join('\n')
  t.match(all, /my-rules\.yaml:2:\d+: rules\[0\]\.name must be a lowercase name/)
  t.match(all, /my-rules\.yaml:6:\d+: rules\[1\]\.category must be one of/)
  t.match(all, /rules\[1\]\.severity must be one of critical, warning, info/)
  t.match(all, /rules\[1\]\.action must be one of/)
  t.match(all, /rules\[1\]\.runbook must be an http\(s\) URL/)
  t.match(all, /my-rules\.yaml:11:\d+: rules\[1\]\.match\.reasons must be a non-empty list/)
  t.match(all, /rules\[1\]\.match\.message is not a valid regular expression/)
  t.match(all, /rules\[1\]\.match\.colour: unknown field 'colour'/)
  t.match(all, /duplicate rule name 'two'/)
})

t.test('syntax errors, wrong shapes and missing files', async (t) => {
  t.throws(() => parseRules('rules: [\n', 'x.yaml'), { name: 'RulesError' })
  t.throws(() => parseRules('- a\n- b\n', 'x.yaml'), /expected a mapping/)
  t.throws(() => parseRules('rules: 3\n', 'x.yaml'), /'rules' must be a list/)
  t.throws(() => parseRules('kind: Other\nrules: []\n', 'x.yaml'), /kind must be ClassificationRules/)
  t.throws(() => loadRulesFile('/nonexistent/rules.yaml'), /cannot read rules file \(ENOENT\)/)
  t.throws(() => loadConfig({ CLASSIFY_RULES_FILE: '/nonexistent/rules.yaml' }) && createDeps(loadConfig({ CLASSIFY_RULES_FILE: '/nonexistent/rules.yaml' })), /CLASSIFY_RULES_FILE names a file that does not exist: \/nonexistent\/rules.yaml/)
})

t.test('mergeRules keeps the user position of an override', async (t) => {
  const base = parseRules('rules:\n  - {name: a, category: other, severity: info}\n  - {name: b, category: other, severity: info}\n', 'b.yaml')
  const user = parseRules('rules:\n  - {name: b, category: oom, severity: critical}\n', 'u.yaml')
  t.same(mergeRules(user, base).map((r) => `${r.name}:${r.category}`), ['b:oom', 'a:other'])
})
