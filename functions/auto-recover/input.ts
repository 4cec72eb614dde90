// What auto-recover accepts: `dev.kubereflex.event.classified` whose data is ClassifiedData (shared/contracts.ts).
// Only the fields the decision relies on are checked; anything else is carried through. Bad data is a 400.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { ACTIONS, type RecoveryAction } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'
import { isPathSegmentName } from '../../shared/kube-config.js'

export interface RecoveryInput {
  readonly cluster: string
  readonly namespace: string | null
  readonly object: { readonly kind: string; readonly name: string; readonly uid: string | null }
  readonly workload: { readonly kind: string; readonly name: string; readonly inferred: boolean } | null
  readonly action: RecoveryAction
  readonly category: string
  readonly severity: string
  readonly reason: string
  readonly fingerprint: string
}

type Problems = { attribute: string; problem: string }[]

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

function text(o: Record<string, unknown>, key: string, where: string, problems: Problems): string {
  const v = o[key]
  if (typeof v === 'string' && v !== '') return v
  problems.push({ attribute: `${where}.${key}`, problem: 'must be a non-empty string' })
  return ''
}

function optionalText(o: Record<string, unknown>, key: string, where: string, problems: Problems): string | null {
  const v = o[key]
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return v
  problems.push({ attribute: `${where}.${key}`, problem: 'must be a string or null' })
  return null
}

export function parseInput(event: CloudEventV1): RecoveryInput {
  let data = event.data
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data) as unknown
    } catch {
      throw new ReflexError('EVENT_DATA_INVALID', 'classified event data is not JSON')
    }
  }
  if (!isObject(data)) throw new ReflexError('EVENT_DATA_INVALID', 'classified event data must be a JSON object')
  const problems: Problems = []
  const object = data.object
  let objectRef: RecoveryInput['object'] = { kind: '', name: '', uid: null }
  if (isObject(object)) objectRef = { kind: text(object, 'kind', 'data.object', problems), name: text(object, 'name', 'data.object', problems), uid: optionalText(object, 'uid', 'data.object', problems) }
  else problems.push({ attribute: 'data.object', problem: 'must be an object' })
  let workload: RecoveryInput['workload'] = null
  if (isObject(data.workload)) {
    workload = {
      kind: text(data.workload, 'kind', 'data.workload', problems),
      name: text(data.workload, 'name', 'data.workload', problems),
      inferred: data.workload.inferred === true,
    }
  } else if (data.workload !== null && data.workload !== undefined) problems.push({ attribute: 'data.workload', problem: 'must be an object or null' })
  const action = data.action
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) {
    problems.push({ attribute: 'data.action', problem: `must be one of ${ACTIONS.join(', ')}` })
  }
  const result: RecoveryInput = {
    cluster: typeof data.cluster === 'string' && data.cluster !== '' ? data.cluster : 'default',
    namespace: optionalText(data, 'namespace', 'data', problems),
    object: objectRef,
    workload,
    action: action as RecoveryAction,
    category: text(data, 'category', 'data', problems),
    severity: typeof data.severity === 'string' ? data.severity : 'warning',
    reason: typeof data.reason === 'string' ? data.reason : '',
    fingerprint: text(data, 'fingerprint', 'data', problems),
  }
  // Names go into API paths (shared/kube-rest.ts seg): what no Kubernetes object can be called is refused here.
  const named: [string, string | null | undefined][] = [
    ['data.namespace', result.namespace],
    ['data.object.name', objectRef.name],
    ['data.workload.name', workload?.name],
  ]
  for (const [attribute, name] of named) {
    if (name !== null && name !== undefined && name !== '' && !isPathSegmentName(name)) problems.push({ attribute, problem: "must be a Kubernetes name (no '/' or '%', not '.' or '..')" })
  }
  if (problems.length > 0) throw new ReflexError('EVENT_DATA_INVALID', 'classified event data does not match ClassifiedData', { problems })
  return result
}
