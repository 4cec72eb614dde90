// Classification rules as data: the default taxonomy ships as rules/default-rules.yaml; users add or
// override rules with CLASSIFY_RULES_FILE (a file or a mounted ConfigMap) without code changes. Rule
// files are validated when loaded, with the file, line and field of every problem.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Node as YamlNode } from 'yaml'
import { ACTIONS, CATEGORIES, SEVERITIES, type Category, type RecoveryAction, type Severity } from '../../shared/contracts.js'
import type { Signal, SignalOrigin } from './signals.js'

export const ORIGINS: readonly SignalOrigin[] = ['event', 'pod-status', 'deployment-status']

export interface RuleMatch {
  readonly origin?: SignalOrigin
  readonly reasons?: readonly string[]
  readonly message?: RegExp
  readonly notMessage?: RegExp
  readonly kinds?: readonly string[]
  readonly components?: readonly string[]
  readonly eventTypes?: readonly string[]
}

export interface Rule {
  readonly name: string
  readonly match: RuleMatch
  readonly category: Category
  readonly severity: Severity
  readonly action: RecoveryAction
  readonly runbook: string | null
}

export class RulesError extends Error {
  override readonly name = 'RulesError'
  constructor(readonly problems: readonly string[]) {
    super(`invalid classification rules:\n  - ${problems.join('\n  - ')}`)
  }
}

const MATCH_KEYS = new Set(['origin', 'reasons', 'message', 'notMessage', 'kinds', 'components', 'eventTypes'])
const RULE_KEYS = new Set(['name', 'match', 'category', 'severity', 'action', 'runbook'])

// `yaml` costs tens of milliseconds to load; the default rules ship pre-parsed as JSON (see defaultRules),
// so the library is loaded only when a user's rules file is read.
let yamlLib: typeof import('yaml') | undefined
function yaml(): typeof import('yaml') {
  yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml')
  return yamlLib
}

/** Parses and validates a rules document; `file` names it in error messages. */
export function parseRules(text: string, file: string): Rule[] {
  const { LineCounter, parseDocument, isMap, isSeq } = yaml()
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true })
  const problems: string[] = []
  const at = (node: unknown): string => {
    const range = (node as YamlNode | undefined)?.range
    if (range === undefined || range === null) return file
    const { line, col } = lineCounter.linePos(range[0])
    return `${file}:${line}:${col}`
  }
  for (const e of doc.errors) problems.push(`${file}:${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0] ?? e.message}`)
  if (problems.length > 0) throw new RulesError(problems)
  const root = doc.contents
  if (!isMap(root)) throw new RulesError([`${file}: expected a mapping with 'rules:'`])
  const kind = (root.toJSON() as Record<string, unknown>).kind
  if (kind !== undefined && kind !== 'ClassificationRules') problems.push(`${at(root.get('kind', true))}: kind must be ClassificationRules`)
  const rulesNode = root.get('rules', true)
  if (!isSeq(rulesNode)) throw new RulesError([`${at(root)}: 'rules' must be a list`])
  const rules: Rule[] = []
  const names = new Set<string>()
  rulesNode.items.forEach((item, i) => {
    const where = (field?: string): string => {
      const node = field === undefined ? item : isMap(item) ? (item.get(field, true) ?? item) : item
      return `${at(node)}: rules[${i}]${field === undefined ? '' : `.${field}`}`
    }
    if (!isMap(item)) {
      problems.push(`${where()} must be a mapping`)
      return
    }
    const raw = item.toJSON() as Record<string, unknown>
    for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) problems.push(`${where(key)}: unknown field '${key}'`)
    const name = raw.name
    if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(name)) {
      problems.push(`${where('name')} must be a lowercase name (letters, digits, '-')`)
      return
    }
    if (names.has(name)) problems.push(`${where('name')}: duplicate rule name '${name}'`)
    names.add(name)
    const category = raw.category
    if (typeof category !== 'string' || !(CATEGORIES as readonly string[]).includes(category)) {
      problems.push(`${where('category')} must be one of ${CATEGORIES.join(', ')}`)
    }
    const severity = raw.severity
    if (typeof severity !== 'string' || !(SEVERITIES as readonly string[]).includes(severity)) {
      problems.push(`${where('severity')} must be one of ${SEVERITIES.join(', ')}`)
    }
    const action = raw.action ?? 'none'
    if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
      problems.push(`${where('action')} must be one of ${ACTIONS.join(', ')}`)
    }
    const runbook = raw.runbook ?? null
    if (runbook !== null && (typeof runbook !== 'string' || !/^https?:\/\//.test(runbook))) {
      problems.push(`${where('runbook')} must be an http(s) URL`)
    }
    const matchRaw: unknown = raw.match ?? {}
    const match: { -readonly [K in keyof RuleMatch]: RuleMatch[K] } = {}
    if (matchRaw === null || typeof matchRaw !== 'object' || Array.isArray(matchRaw)) {
      problems.push(`${where('match')} must be a mapping`)
    } else {
      const mm = item.get('match', true)
      const mwhere = (k: string): string => `${at(isMap(mm) ? mm.get(k, true) : mm)}: rules[${i}].match.${k}`
      for (const [key, value] of Object.entries(matchRaw as Record<string, unknown>)) {
        if (!MATCH_KEYS.has(key)) {
          problems.push(`${mwhere(key)}: unknown field '${key}'`)
          continue
        }
        if (key === 'origin') {
          if (typeof value !== 'string' || !(ORIGINS as readonly string[]).includes(value)) problems.push(`${mwhere(key)} must be one of ${ORIGINS.join(', ')}`)
          else match.origin = value as SignalOrigin
        } else if (key === 'message' || key === 'notMessage') {
          if (typeof value !== 'string' || value === '') {
            problems.push(`${mwhere(key)} must be a non-empty regular expression`)
            continue
          }
          try {
            match[key] = new RegExp(value, 'i')
          } catch (err) {
            problems.push(`${mwhere(key)} is not a valid regular expression: ${(err as Error).message}`)
          }
        } else {
          const list: unknown = typeof value === 'string' ? [value] : value
          if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v !== '')) {
            problems.push(`${mwhere(key)} must be a non-empty list of strings`)
            continue
          }
          match[key as 'reasons' | 'kinds' | 'components' | 'eventTypes'] = list as string[]
        }
      }
    }
    rules.push({
      name,
      match,
      category: category as Category,
      severity: severity as Severity,
      action: action as RecoveryAction,
      runbook: runbook as string | null,
    })
  })
  if (problems.length > 0) throw new RulesError(problems)
  return rules
}

export function loadRulesFile(path: string): Rule[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new RulesError([`${path}: cannot read rules file (${(err as NodeJS.ErrnoException).code ?? 'error'})`])
  }
  return parseRules(text, path)
}

/** A rule as JSON: what the build writes to rules/default-rules.json (regular expressions as source text). */
export interface RuleJson {
  readonly name: string
  readonly match: Omit<RuleMatch, 'message' | 'notMessage'> & { readonly message?: string; readonly notMessage?: string }
  readonly category: Category
  readonly severity: Severity
  readonly action: RecoveryAction
  readonly runbook: string | null
}

export function rulesToJson(rules: readonly Rule[]): RuleJson[] {
  return rules.map((r) => {
    const { message, notMessage, ...rest } = r.match
    return { ...r, match: { ...rest, ...(message === undefined ? {} : { message: message.source }), ...(notMessage === undefined ? {} : { notMessage: notMessage.source }) } }
  })
}

/** The inverse of rulesToJson, for a file the build produced from validated YAML (so: not re-validated). */
export function rulesFromJson(rules: readonly RuleJson[]): Rule[] {
  return rules.map((r) => {
    const { message, notMessage, ...rest } = r.match
    return { ...r, match: { ...rest, ...(message === undefined ? {} : { message: new RegExp(message, 'i') }), ...(notMessage === undefined ? {} : { notMessage: new RegExp(notMessage, 'i') }) } }
  })
}

// Shipped beside the code: the build copies rules/ into dist and writes default-rules.json from the YAML
// (scripts/copy-assets.mjs), so a function starts without loading `yaml`. From the TypeScript sources (tests)
// there is no JSON and the YAML is parsed.
const DEFAULT_RULES = new URL('./rules/default-rules.yaml', import.meta.url)
const DEFAULT_RULES_JSON = new URL('./rules/default-rules.json', import.meta.url)

let defaults: Rule[] | undefined
export function defaultRules(): Rule[] {
  defaults ??= existsSync(DEFAULT_RULES_JSON)
    ? rulesFromJson(JSON.parse(readFileSync(DEFAULT_RULES_JSON, 'utf8')) as RuleJson[])
    : parseRules(readFileSync(DEFAULT_RULES, 'utf8'), 'default-rules.yaml')
  return defaults
}

/** User rules first; a user rule with a default rule's name replaces it (keeping the user's position). */
export function mergeRules(user: readonly Rule[], base: readonly Rule[]): Rule[] {
  const overridden = new Set(user.map((r) => r.name))
  return [...user, ...base.filter((r) => !overridden.has(r.name))]
}

export function ruleMatches(rule: Rule, signal: Signal): boolean {
  const m = rule.match
  if (m.origin !== undefined && m.origin !== signal.origin) return false
  if (m.reasons !== undefined && !m.reasons.includes(signal.reason)) return false
  if (m.eventTypes !== undefined && !m.eventTypes.includes(signal.eventType)) return false
  if (m.kinds !== undefined && !m.kinds.includes(signal.kind)) return false
  if (m.components !== undefined && (signal.component === null || !m.components.includes(signal.component))) return false
  if (m.message !== undefined && !m.message.test(signal.message)) return false
  if (m.notMessage?.test(signal.message) === true) return false
  return true
}

/** First rule (in priority order) that matches any of the signals, with the signal it matched. */
export function firstMatch(rules: readonly Rule[], signals: readonly Signal[]): { rule: Rule; signal: Signal } | undefined {
  for (const rule of rules) {
    for (const signal of signals) if (ruleMatches(rule, signal)) return { rule, signal }
  }
  return undefined
}
