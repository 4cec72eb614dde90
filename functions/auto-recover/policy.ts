// The guardrail policy (RECOVERY_POLICY_FILE, docs/AUTO-RECOVER.md): which namespaces and workloads may be
// touched, which actions are on, the cooldown and the budgets. Safe by default: without a file nothing is
// touched unless a workload or namespace opted in by label/annotation. Validated when loaded (fail fast).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv'
import type { RecoveryAction } from '../../shared/contracts.js'
import type { ReasonCode } from './errors.js'

export type EnabledAction = Exclude<RecoveryAction, 'none'>

export interface Budget {
  readonly max: number
  readonly windowSeconds: number
}

export interface WorkloadSelector {
  readonly namespace: string
  readonly kind: string
  readonly name: string
}

export interface RecoveryPolicy {
  readonly namespaces: { readonly allow: readonly string[]; readonly deny: readonly string[] }
  readonly optIn: { readonly namespaces: readonly string[]; readonly workloads: readonly WorkloadSelector[] }
  readonly actions: readonly EnabledAction[]
  readonly cooldownSeconds: number
  readonly targetBudget: Budget
  readonly globalBudget: Budget
}

/** The label/annotation key a workload or namespace sets to "true" to opt in (or "false" to opt out). */
export const OPT_IN_KEY = 'kube-reflex.dev/auto-recover'

/** Never touched, whatever the policy says: the control plane and Knative itself. */
const PROTECTED_NAMESPACES = [/^kube-system$/, /^kube-public$/, /^kube-node-lease$/, /^knative-/]

export const DEFAULT_POLICY: RecoveryPolicy = Object.freeze<RecoveryPolicy>({
  namespaces: { allow: [], deny: [] },
  optIn: { namespaces: [], workloads: [] },
  actions: ['restart-pod', 'rollout-restart', 'rollback'],
  cooldownSeconds: 300,
  // "At most 3 restarts per workload per hour, then give up and escalate."
  targetBudget: { max: 3, windowSeconds: 3600 },
  globalBudget: { max: 30, windowSeconds: 3600 },
})

export class PolicyError extends Error {
  override readonly name = 'PolicyError'
  constructor(readonly problems: readonly string[]) {
    super(`invalid recovery policy:\n  - ${problems.join('\n  - ')}`)
  }
}

const NAME_PATTERN = '^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$'
const budgetSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['max', 'windowSeconds'],
  properties: { max: { type: 'integer', minimum: 0, maximum: 100000 }, windowSeconds: { type: 'integer', minimum: 1, maximum: 604800 } },
} as const
const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: { const: 'RecoveryPolicy' },
    namespaces: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allow: { type: 'array', items: { type: 'string', pattern: NAME_PATTERN } },
        deny: { type: 'array', items: { type: 'string', pattern: NAME_PATTERN } },
      },
    },
    optIn: {
      type: 'object',
      additionalProperties: false,
      properties: {
        namespaces: { type: 'array', items: { type: 'string', pattern: NAME_PATTERN } },
        workloads: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['namespace', 'kind', 'name'],
            properties: {
              namespace: { type: 'string', pattern: NAME_PATTERN },
              kind: { enum: ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'] },
              name: { type: 'string', pattern: NAME_PATTERN },
            },
          },
        },
      },
    },
    actions: { type: 'array', uniqueItems: true, items: { enum: ['restart-pod', 'rollout-restart', 'rollback'] } },
    cooldownSeconds: { type: 'integer', minimum: 0, maximum: 604800 },
    targetBudget: budgetSchema,
    globalBudget: budgetSchema,
  },
} as const

// yaml and ajv cost ~150 ms of start-up to import and compile, and only a policy file needs them: with the
// built-in defaults (no RECOVERY_POLICY_FILE) neither is loaded. Required synchronously because loading the
// configuration is synchronous; both packages ship CommonJS and stay external in the function bundles.
const require = createRequire(import.meta.url)
let validator: ValidateFunction | undefined
function validatePolicy(doc: unknown): ValidateFunction {
  if (validator === undefined) {
    const { Ajv } = require('ajv') as { Ajv: typeof AjvClass }
    validator = new Ajv({ allErrors: true }).compile(POLICY_SCHEMA)
  }
  validator(doc)
  return validator
}

function describe(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.')
  if (e.keyword === 'additionalProperties') return `${where}: unknown field '${String(e.params.additionalProperty)}'`
  if (e.keyword === 'enum') return `${where} must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`
  return `${where} ${e.message ?? 'is invalid'}`
}

interface PolicyDocument {
  namespaces?: { allow?: string[]; deny?: string[] }
  optIn?: { namespaces?: string[]; workloads?: WorkloadSelector[] }
  actions?: EnabledAction[]
  cooldownSeconds?: number
  targetBudget?: Budget
  globalBudget?: Budget
}

/** Parses and validates a policy document; missing keys take the defaults. `file` names it in errors. */
export function parsePolicy(text: string, file: string): RecoveryPolicy {
  let doc: unknown
  try {
    const { parse } = require('yaml') as typeof import('yaml')
    doc = parse(text, { uniqueKeys: true }) ?? {}
  } catch (err) {
    throw new PolicyError([`${file}: ${err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : 'not YAML'}`])
  }
  const validate = validatePolicy(doc)
  if (validate.errors !== null && validate.errors !== undefined && validate.errors.length > 0) throw new PolicyError(validate.errors.map((e) => `${file}: ${describe(e)}`))
  const p = doc as PolicyDocument
  return Object.freeze({
    namespaces: { allow: p.namespaces?.allow ?? [], deny: p.namespaces?.deny ?? [] },
    optIn: { namespaces: p.optIn?.namespaces ?? [], workloads: p.optIn?.workloads ?? [] },
    actions: p.actions ?? DEFAULT_POLICY.actions,
    cooldownSeconds: p.cooldownSeconds ?? DEFAULT_POLICY.cooldownSeconds,
    targetBudget: p.targetBudget ?? DEFAULT_POLICY.targetBudget,
    globalBudget: p.globalBudget ?? DEFAULT_POLICY.globalBudget,
  })
}

export function loadPolicyFile(file: string | undefined): RecoveryPolicy {
  if (file === undefined) return DEFAULT_POLICY
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    // EISDIR (a ConfigMap mounted as a directory), ENOENT, EACCES: a PolicyError naming the file (fromEnv adds the
    // variable), not a bare errno.
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    throw new PolicyError([`${file}: cannot read the policy file (${code}${code === 'EISDIR' ? ': a directory — point it at the file inside' : ''})`])
  }
  return parsePolicy(text, file)
}

/** `*` matches any run of characters; everything else is literal. */
function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
  return re.test(value)
}

export function isProtectedNamespace(namespace: string): boolean {
  return PROTECTED_NAMESPACES.some((re) => re.test(namespace))
}

/** The namespace-level gate, checked before anything is read from the cluster. */
export function namespaceGate(policy: RecoveryPolicy, namespace: string): ReasonCode | undefined {
  if (isProtectedNamespace(namespace)) return 'PROTECTED_NAMESPACE'
  if (policy.namespaces.deny.some((p) => globMatch(p, namespace))) return 'NAMESPACE_DENIED'
  if (policy.namespaces.allow.length > 0 && !policy.namespaces.allow.some((p) => globMatch(p, namespace))) return 'NAMESPACE_NOT_ALLOWED'
  return undefined
}

export function actionGate(policy: RecoveryPolicy, action: EnabledAction): ReasonCode | undefined {
  return policy.actions.includes(action) ? undefined : 'ACTION_DISABLED'
}

export type Marks = { readonly labels?: Readonly<Record<string, string>> | undefined; readonly annotations?: Readonly<Record<string, string>> | undefined }

/** A controller above the target whose marks speak for it too (a Job's CronJob). */
export interface MarkedController {
  readonly kind: string
  readonly name: string
  readonly metadata: Marks | undefined
}

/** A mark's value as it may appear in a reply: quoted, and cut short (an annotation can be 256 KiB). */
function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value)
}

/**
 * What one object's marks say, its annotation and its label read together, failing closed: "false" in either
 * place opts out whatever the other says, and so does a value that is neither "true" nor "false" (misspelt,
 * empty, "yes"): someone set the key and what they meant cannot be told, so it never opts in, and nothing
 * later in the precedence (the policy's lists, the namespace) may opt in in its place. "true" opts in only
 * when the other place is unset or "true" as well. Case-insensitive.
 */
function mark(m: Marks | undefined, what: string): { readonly optedIn: boolean; readonly detail: string } | undefined {
  const set: { place: string; value: string }[] = []
  const annotation = m?.annotations?.[OPT_IN_KEY]
  const label = m?.labels?.[OPT_IN_KEY]
  if (annotation !== undefined) set.push({ place: 'annotation', value: annotation })
  if (label !== undefined) set.push({ place: 'label', value: label })
  if (set.length === 0) return undefined
  const off = set.find((s) => s.value.toLowerCase() === 'false')
  if (off !== undefined) return { optedIn: false, detail: `${what} opted out (${off.place} ${OPT_IN_KEY}: ${quoted(off.value)})` }
  const invalid = set.find((s) => s.value.toLowerCase() !== 'true')
  if (invalid !== undefined) {
    return { optedIn: false, detail: `${what} has ${invalid.place} ${OPT_IN_KEY}: ${quoted(invalid.value)}, neither "true" nor "false": taken as an opt-out` }
  }
  return { optedIn: true, detail: `${what} opted in` }
}

export type OptIn = { readonly optedIn: true; readonly by: string } | { readonly optedIn: false; readonly reason: 'NOT_OPTED_IN' | 'OPTED_OUT'; readonly detail: string }

/**
 * Opt-in: the workload's own marks win ("false" opts a workload out of an opted-in namespace), then the
 * policy's workload list, then the namespace's marks, then the policy's namespace list. A mark that is set
 * but invalid is an opt-out where it stands (mark()). The marks of the controllers `above` the target (the
 * CronJob of a Job) are the workload's own too: an opt-out on any of them wins, else an opt-in on any.
 */
export function optInOf(
  policy: RecoveryPolicy,
  target: { readonly namespace: string; readonly kind: string; readonly name: string },
  workload: Marks | undefined,
  namespace: Marks | undefined,
  above: readonly MarkedController[] = [],
): OptIn {
  const own = [{ kind: target.kind, name: target.name, metadata: workload }, ...above].map((o) => ({ kind: o.kind, said: mark(o.metadata, `${o.kind} ${o.name}`) }))
  const out = own.find((o) => o.said?.optedIn === false)
  if (out?.said !== undefined) return { optedIn: false, reason: 'OPTED_OUT', detail: out.said.detail }
  const marked = own.find((o) => o.said?.optedIn === true)
  if (marked !== undefined) return { optedIn: true, by: `${marked.kind.toLowerCase()} ${OPT_IN_KEY}` }
  if (policy.optIn.workloads.some((w) => w.kind === target.kind && globMatch(w.namespace, target.namespace) && globMatch(w.name, target.name))) {
    return { optedIn: true, by: 'policy optIn.workloads' }
  }
  const ns = mark(namespace, `namespace ${target.namespace}`)
  if (ns?.optedIn === false) return { optedIn: false, reason: 'OPTED_OUT', detail: ns.detail }
  if (ns?.optedIn === true) return { optedIn: true, by: `namespace ${OPT_IN_KEY}` }
  if (policy.optIn.namespaces.some((p) => globMatch(p, target.namespace))) return { optedIn: true, by: 'policy optIn.namespaces' }
  return { optedIn: false, reason: 'NOT_OPTED_IN', detail: `label or annotate the workload or namespace with ${OPT_IN_KEY}: "true"` }
}
