// Checks Knative's webhooks (and kube-reflex's own wiring rules) make that a schema cannot:
// references that must resolve inside the bundle, filter dialect rules, ISO-8601 durations, cron
// schedules, least-privilege RBAC, and that every Trigger can receive something and every function
// is subscribed to something.
import { cronProblem, isIso8601Duration } from './durations.js'
import { parseFieldPath } from './locate.js'
import { closestSeriesName, exportedSeriesNames, metricNamesIn } from './metrics.js'
import { at, Bundle, groupOf, isRecord, list, objectId, str } from './model.js'
import { lintTriggerFilters, validateTriggerFilters } from './trigger-filters.js'
import type { LoadedDocument, PathSegment, Problem } from './types.js'

/** A scalar from YAML as text for messages (objects as JSON). */
function show(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value) ?? 'undefined'
}

type Report = (doc: LoadedDocument, path: readonly PathSegment[], rule: string, message: string) => void

const KNATIVE_SERVING = 'serving.knative.dev'
const FUNCTION_NAMES = ['classify', 'alert', 'auto-recover', 'persist'] as const
const FUNCTION_OUTPUTS: Readonly<Record<(typeof FUNCTION_NAMES)[number], readonly string[]>> = {
  classify: ['dev.kubereflex.event.classified'],
  alert: ['dev.kubereflex.alert.sent', 'dev.kubereflex.alert.suppressed', 'dev.kubereflex.alert.failed'],
  'auto-recover': ['dev.kubereflex.recovery.planned', 'dev.kubereflex.recovery.performed', 'dev.kubereflex.recovery.skipped', 'dev.kubereflex.recovery.failed'],
  persist: [],
}

// ---------------------------------------------------------------------------------------------
// References

function describeRef(ref: Record<string, unknown>): string {
  return `${str(ref['kind']) ?? '?'} ${str(ref['name']) ?? '?'} (${str(ref['apiVersion']) ?? '?'})`
}

/** Does a KReference point at something the bundle ships? */
function refResolves(bundle: Bundle, ref: Record<string, unknown>, defaultNamespace: string | undefined): boolean {
  const kind = str(ref['kind'])
  const name = str(ref['name'])
  const apiVersion = str(ref['apiVersion'])
  if (kind === undefined || name === undefined || apiVersion === undefined) return true // the schema reports it
  const namespace = str(ref['namespace']) ?? defaultNamespace
  if (kind === 'Service' && groupOf(apiVersion) === KNATIVE_SERVING) return bundle.knativeServiceExists(name, namespace)
  return bundle.find(kind, name, namespace, groupOf(apiVersion)).length > 0
}

/** A Destination (ref and/or uri), as duckv1.Destination.Validate checks it, plus resolution. */
function checkDestination(bundle: Bundle, doc: LoadedDocument, path: readonly PathSegment[], report: Report, what: string): void {
  const destination = at(doc.value, ...path)
  if (!isRecord(destination)) return
  const namespace = str(at(doc.value, 'metadata', 'namespace'))
  const ref = destination['ref']
  const uri = str(destination['uri'])
  if (isRecord(ref)) {
    if (!refResolves(bundle, ref, namespace)) {
      report(doc, [...path, 'ref'], 'reference', `${what} ${describeRef(ref)} is not shipped in the bundle`)
    }
    if (uri !== undefined && /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) {
      report(doc, [...path, 'uri'], 'destination', `${what}: an absolute uri cannot be combined with ref (use a relative path such as /dead-letter)`)
    }
  } else if (uri !== undefined) {
    let ok = false
    try {
      const parsed = new URL(uri)
      ok = parsed.host !== ''
    } catch {
      ok = false
    }
    if (!ok) report(doc, [...path, 'uri'], 'destination', `${what}: uri "${uri}" must be an absolute URL when there is no ref`)
  }
}

function checkDelivery(bundle: Bundle, doc: LoadedDocument, path: readonly PathSegment[], report: Report): void {
  const delivery = at(doc.value, ...path)
  if (!isRecord(delivery)) return
  for (const field of ['backoffDelay', 'timeout', 'retryAfterMax'] as const) {
    const value = delivery[field]
    if (typeof value === 'string' && !isIso8601Duration(value)) {
      report(doc, [...path, field], 'duration', `${field} "${value}" is not an ISO-8601 duration (e.g. PT0.5S, PT2S, PT1M)`)
    }
  }
  if (delivery['backoffDelay'] !== undefined && delivery['backoffPolicy'] === undefined) {
    report(doc, [...path, 'backoffPolicy'], 'delivery', 'backoffDelay without backoffPolicy: say linear or exponential explicitly')
  }
  checkDestination(bundle, doc, [...path, 'deadLetterSink'], report, 'deadLetterSink')
}

// ---------------------------------------------------------------------------------------------
// Triggers

type Tri = 'true' | 'false' | 'unknown'

function and3(values: readonly Tri[]): Tri {
  if (values.includes('false')) return 'false'
  return values.every((v) => v === 'true') ? 'true' : 'unknown'
}

function or3(values: readonly Tri[]): Tri {
  if (values.includes('true')) return 'true'
  return values.length > 0 && values.every((v) => v === 'false') ? 'false' : 'unknown'
}

/** Evaluates a filter against an event of which only `type` is known (other attributes: unknown). */
function evalExpression(expr: unknown, type: string): Tri {
  if (!isRecord(expr)) return 'unknown'
  const results: Tri[] = []
  const compare = (map: unknown, test: (actual: string, expected: string) => boolean): void => {
    if (!isRecord(map)) return
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== 'string') continue
      results.push(key === 'type' ? (test(type, value) ? 'true' : 'false') : 'unknown')
    }
  }
  compare(expr['exact'], (a, e) => a === e)
  compare(expr['prefix'], (a, e) => a.startsWith(e))
  compare(expr['suffix'], (a, e) => a.endsWith(e))
  if (Array.isArray(expr['all'])) results.push(and3(expr['all'].map((e) => evalExpression(e, type))))
  if (Array.isArray(expr['any']) && expr['any'].length > 0) results.push(or3(expr['any'].map((e) => evalExpression(e, type))))
  if (expr['not'] !== undefined) {
    const inner = evalExpression(expr['not'], type)
    results.push(inner === 'true' ? 'false' : inner === 'false' ? 'true' : 'unknown')
  }
  if (typeof expr['cesql'] === 'string') results.push('unknown')
  return and3(results)
}

function triggerAccepts(spec: unknown, type: string): Tri {
  const filters = at(spec, 'filters')
  if (Array.isArray(filters) && filters.length > 0) return and3(filters.map((f) => evalExpression(f, type)))
  const attributes = at(spec, 'filter', 'attributes')
  if (!isRecord(attributes)) return 'true'
  return and3(
    Object.entries(attributes).map(([key, value]): Tri => {
      if (key !== 'type' || typeof value !== 'string') return 'unknown'
      // attributes filter: an empty value only asks for the attribute to exist.
      return value === '' || value === type ? 'true' : 'false'
    }),
  )
}

/** Event types something in the bundle sends to a Broker. */
function producedTypes(bundle: Bundle): string[] {
  const types = new Set<string>()
  for (const doc of bundle.ofKind('ApiServerSource', 'sources.knative.dev')) {
    const mode = str(at(doc.value, 'spec', 'mode')) === 'Reference' ? 'ref' : 'resource'
    for (const verb of ['add', 'update', 'delete']) types.add(`dev.knative.apiserver.${mode}.${verb}`)
  }
  if (bundle.ofKind('PingSource', 'sources.knative.dev').length > 0) types.add('dev.knative.sources.ping')
  if (bundle.ofKind('KafkaSource', 'sources.knative.dev').length > 0) types.add('dev.knative.kafka.event')
  const serviceNames = [
    ...bundle.ofKind('Service', KNATIVE_SERVING).map((d) => str(at(d.value, 'metadata', 'name'))),
    ...bundle.funcs.map((f) => str(at(f.value, 'name'))),
  ]
  for (const fn of FUNCTION_NAMES) {
    if (serviceNames.some((n) => n === `kube-reflex-${fn}` || n === 'kube-reflex')) for (const t of FUNCTION_OUTPUTS[fn]) types.add(t)
  }
  return [...types]
}

function checkTrigger(bundle: Bundle, doc: LoadedDocument, report: Report, produced: readonly string[]): void {
  const spec = at(doc.value, 'spec')
  const namespace = str(at(doc.value, 'metadata', 'namespace'))
  const broker = str(at(spec, 'broker'))
  if (broker !== undefined && bundle.find('Broker', broker, namespace, 'eventing.knative.dev').length === 0) {
    report(doc, ['spec', 'broker'], 'trigger-broker', `Broker "${broker}" is not shipped in the bundle${namespace === undefined ? '' : ` (namespace ${namespace})`}`)
  }
  for (const message of [...validateTriggerFilters(spec), ...lintTriggerFilters(spec)]) {
    const colon = message.indexOf(': ')
    const fieldPath = colon < 0 ? ['spec'] : parseFieldPath(message.slice(0, colon))
    report(doc, fieldPath, 'trigger-filter', message)
  }
  const filters = at(spec, 'filters')
  if (at(spec, 'filter') !== undefined && Array.isArray(filters) && filters.length > 0) {
    report(doc, ['spec', 'filter'], 'trigger-filter', 'both filter and filters are set: Knative uses only filters, so filter is dead configuration')
  }
  checkDestination(bundle, doc, ['spec', 'subscriber'], report, 'subscriber')
  checkDelivery(bundle, doc, ['spec', 'delivery'], report)
  // Knative uses a Trigger's delivery instead of the Broker's, not merged with it: a Trigger that sets
  // delivery without a deadLetterSink drops the events that exhaust their retries, even though the
  // Broker has a dead-letter sink.
  const delivery = at(spec, 'delivery')
  if (isRecord(delivery) && delivery['deadLetterSink'] === undefined && broker !== undefined) {
    const brokerHasSink = bundle.find('Broker', broker, namespace, 'eventing.knative.dev').some((b) => at(b.value, 'spec', 'delivery', 'deadLetterSink') !== undefined)
    if (brokerHasSink) {
      report(doc, ['spec', 'delivery'], 'trigger-dead-letter', "delivery replaces the Broker's delivery as a whole: without a deadLetterSink here, events that exhaust their retries are dropped instead of dead-lettered")
    }
  }
  if (produced.length > 0 && produced.every((type) => triggerAccepts(spec, type) === 'false')) {
    report(doc, ['spec', Array.isArray(filters) && filters.length > 0 ? 'filters' : 'filter'], 'trigger-unreachable',
      `no event type produced in the bundle passes this filter (produced: ${produced.join(', ')})`)
  }
}

// ---------------------------------------------------------------------------------------------
// RBAC

interface Grant {
  readonly group: string
  readonly resource: string
  readonly verb: string
}

function ruleGrants(rule: unknown, grant: Grant): boolean {
  const has = (field: string, value: string): boolean => list(at(rule, field)).some((v) => v === value || v === '*')
  return has('apiGroups', grant.group) && has('resources', grant.resource) && has('verbs', grant.verb)
}

function checkRole(doc: LoadedDocument, report: Report): void {
  list(at(doc.value, 'rules')).forEach((rule, i) => {
    for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'] as const) {
      list(at(rule, field)).forEach((value, j) => {
        if (typeof value === 'string' && value.includes('*')) report(doc, ['rules', i, field, j], 'rbac-wildcard', `wildcard "${value}" in ${field}: grant exactly what is needed`)
      })
    }
    list(at(rule, 'resources')).forEach((value, j) => {
      if (value === 'secrets' || (typeof value === 'string' && value.startsWith('secrets/'))) report(doc, ['rules', i, 'resources', j], 'rbac-secrets', 'kube-reflex never needs to read Secrets through the API')
    })
    if (at(rule, 'nonResourceURLs') !== undefined) report(doc, ['rules', i, 'nonResourceURLs'], 'rbac-wildcard', 'nonResourceURLs are not needed by kube-reflex')
  })
}

function checkBinding(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const roleKind = str(at(doc.value, 'roleRef', 'kind'))
  const roleName = str(at(doc.value, 'roleRef', 'name'))
  const namespace = str(at(doc.value, 'metadata', 'namespace'))
  if (roleKind !== undefined && roleName !== undefined) {
    const found = bundle.find(roleKind, roleName, roleKind === 'Role' ? namespace : undefined, 'rbac.authorization.k8s.io')
    if (found.length === 0) report(doc, ['roleRef', 'name'], 'reference', `${roleKind} "${roleName}" is not shipped in the bundle`)
  }
  list(at(doc.value, 'subjects')).forEach((subject, i) => {
    if (str(at(subject, 'kind')) !== 'ServiceAccount') return
    const name = str(at(subject, 'name'))
    const ns = str(at(subject, 'namespace')) ?? namespace
    if (name !== undefined && bundle.find('ServiceAccount', name, ns, '').length === 0) {
      report(doc, ['subjects', i, 'name'], 'reference', `ServiceAccount "${name}" is not shipped in the bundle`)
    }
  })
}

/** Rules bound to a ServiceAccount through the bundle's (Cluster)RoleBindings. */
function rulesOf(bundle: Bundle, serviceAccount: string, namespace: string | undefined): unknown[] {
  const rules: unknown[] = []
  for (const binding of [...bundle.ofKind('ClusterRoleBinding', 'rbac.authorization.k8s.io'), ...bundle.ofKind('RoleBinding', 'rbac.authorization.k8s.io')]) {
    const bound = list(at(binding.value, 'subjects')).some(
      (s) => str(at(s, 'kind')) === 'ServiceAccount' && str(at(s, 'name')) === serviceAccount && (str(at(s, 'namespace')) ?? str(at(binding.value, 'metadata', 'namespace'))) === namespace,
    )
    if (!bound) continue
    const kind = str(at(binding.value, 'roleRef', 'kind'))
    const name = str(at(binding.value, 'roleRef', 'name'))
    if (kind === undefined || name === undefined) continue
    for (const role of bundle.find(kind, name, kind === 'Role' ? str(at(binding.value, 'metadata', 'namespace')) : undefined, 'rbac.authorization.k8s.io')) {
      rules.push(...list(at(role.value, 'rules')))
    }
  }
  return rules
}

function pluralOf(kind: string): string {
  const lower = kind.toLowerCase()
  if (lower.endsWith('s')) return `${lower}es`
  if (lower.endsWith('y')) return `${lower.slice(0, -1)}ies`
  return `${lower}s`
}

// ---------------------------------------------------------------------------------------------
// Workloads

function checkServiceAccount(bundle: Bundle, doc: LoadedDocument, path: readonly PathSegment[], name: string | undefined, namespace: string | undefined, report: Report): void {
  if (name !== undefined && bundle.find('ServiceAccount', name, namespace, '').length === 0) {
    report(doc, path, 'reference', `ServiceAccount "${name}" is not shipped in the bundle`)
  }
}

function checkKeyRef(bundle: Bundle, doc: LoadedDocument, path: readonly PathSegment[], kind: 'Secret' | 'ConfigMap', namespace: string | undefined, report: Report): void {
  const ref = at(doc.value, ...path)
  const name = str(at(ref, 'name'))
  if (name === undefined || at(ref, 'optional') === true) return
  const found = bundle.find(kind, name, namespace, '')
  if (found.length === 0) report(doc, path, 'reference', `${kind} "${name}" is not shipped in the bundle (mark the reference optional: true if it is created by hand)`)
  else if (kind === 'Secret' && found.every((d) => d.template)) {
    report(doc, path, 'reference', `Secret "${name}" exists only as a template, which kustomize never applies: mark the reference optional: true`)
  }
}

function intAnnotation(annotations: unknown, key: string): number | undefined | 'invalid' {
  const value = at(annotations, key)
  if (value === undefined) return undefined
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : 'invalid'
}

function checkKnativeService(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const namespace = str(at(doc.value, 'metadata', 'namespace'))
  const spec = ['spec', 'template', 'spec'] as const
  checkServiceAccount(bundle, doc, [...spec, 'serviceAccountName'], str(at(doc.value, ...spec, 'serviceAccountName')), namespace, report)
  const annotationsPath = ['spec', 'template', 'metadata', 'annotations'] as const
  const annotations = at(doc.value, ...annotationsPath)
  const minScale = intAnnotation(annotations, 'autoscaling.knative.dev/min-scale')
  const maxScale = intAnnotation(annotations, 'autoscaling.knative.dev/max-scale')
  for (const [key, value] of [['autoscaling.knative.dev/min-scale', minScale], ['autoscaling.knative.dev/max-scale', maxScale]] as const) {
    if (value === 'invalid') report(doc, [...annotationsPath, key], 'scale', `${key} must be a non-negative integer in quotes`)
  }
  if (minScale === undefined) report(doc, annotationsPath, 'scale', 'autoscaling.knative.dev/min-scale is not set: kube-reflex functions declare "0" (scale to zero) explicitly')
  if (typeof minScale === 'number' && typeof maxScale === 'number' && maxScale !== 0 && minScale > maxScale) {
    report(doc, [...annotationsPath, 'autoscaling.knative.dev/min-scale'], 'scale', `min-scale ${minScale} is above max-scale ${maxScale}`)
  }
  const target = at(annotations, 'autoscaling.knative.dev/target')
  const concurrency = at(doc.value, ...spec, 'containerConcurrency')
  if (target !== undefined) {
    const n = typeof target === 'string' ? Number(target) : NaN
    if (!(n > 0)) report(doc, [...annotationsPath, 'autoscaling.knative.dev/target'], 'scale', 'autoscaling.knative.dev/target must be a positive number in quotes')
    else if (typeof concurrency === 'number' && concurrency > 0 && n > concurrency) {
      report(doc, [...annotationsPath, 'autoscaling.knative.dev/target'], 'scale', `target ${n} exceeds containerConcurrency ${concurrency}: the hard limit would always bind first`)
    }
  }
  const volumes = list(at(doc.value, ...spec, 'volumes'))
  const volumeNames = new Set(volumes.map((v) => str(at(v, 'name'))))
  volumes.forEach((volume, i) => {
    if (at(volume, 'configMap') !== undefined) checkKeyRef(bundle, doc, [...spec, 'volumes', i, 'configMap'], 'ConfigMap', namespace, report)
    if (at(volume, 'secret') !== undefined) {
      const name = str(at(volume, 'secret', 'secretName'))
      if (name !== undefined && at(volume, 'secret', 'optional') !== true && bundle.find('Secret', name, namespace, '').every((d) => d.template)) {
        report(doc, [...spec, 'volumes', i, 'secret'], 'reference', `Secret "${name}" is not applied by the bundle: mark the volume optional: true`)
      }
    }
  })
  list(at(doc.value, ...spec, 'containers')).forEach((container, c) => {
    const base = [...spec, 'containers', c] as const
    const port = at(container, 'ports', 0, 'containerPort')
    list(at(container, 'env')).forEach((env, e) => {
      if (at(env, 'valueFrom', 'secretKeyRef') !== undefined) checkKeyRef(bundle, doc, [...base, 'env', e, 'valueFrom', 'secretKeyRef'], 'Secret', namespace, report)
      if (at(env, 'valueFrom', 'configMapKeyRef') !== undefined) checkKeyRef(bundle, doc, [...base, 'env', e, 'valueFrom', 'configMapKeyRef'], 'ConfigMap', namespace, report)
    })
    list(at(container, 'envFrom')).forEach((env, e) => {
      if (at(env, 'secretRef') !== undefined) checkKeyRef(bundle, doc, [...base, 'envFrom', e, 'secretRef'], 'Secret', namespace, report)
      if (at(env, 'configMapRef') !== undefined) checkKeyRef(bundle, doc, [...base, 'envFrom', e, 'configMapRef'], 'ConfigMap', namespace, report)
    })
    list(at(container, 'volumeMounts')).forEach((mount, m) => {
      const name = str(at(mount, 'name'))
      if (name !== undefined && !volumeNames.has(name)) report(doc, [...base, 'volumeMounts', m, 'name'], 'reference', `volumeMount "${name}" has no volume of that name`)
    })
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe'] as const) {
      const probePort = at(container, probe, 'httpGet', 'port')
      // Knative probes the user container through its single port; another port is rejected.
      if (probePort !== undefined && typeof port === 'number' && probePort !== port) {
        report(doc, [...base, probe, 'httpGet', 'port'], 'probe', `${probe} port ${show(probePort)} differs from the container port ${port}`)
      }
    }
    if (at(container, 'readinessProbe') === undefined) report(doc, base, 'probe', 'no readinessProbe: kube-reflex functions serve GET /health/readiness')
  })
  const name = str(at(doc.value, 'metadata', 'name'))
  const subscribed = bundle.ofKind('Trigger', 'eventing.knative.dev').some((t) => {
    const ref = at(t.value, 'spec', 'subscriber', 'ref')
    return str(at(ref, 'name')) === name && str(at(ref, 'kind')) === 'Service' && groupOf(str(at(ref, 'apiVersion')) ?? '') === KNATIVE_SERVING
  })
  if (!subscribed) report(doc, ['metadata', 'name'], 'unsubscribed', `no Trigger subscribes Service "${name ?? '?'}": it would never receive an event`)
}

function checkApiServerSource(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const namespace = str(at(doc.value, 'metadata', 'namespace'))
  const serviceAccount = str(at(doc.value, 'spec', 'serviceAccountName'))
  checkServiceAccount(bundle, doc, ['spec', 'serviceAccountName'], serviceAccount, namespace, report)
  checkDestination(bundle, doc, ['spec', 'sink'], report, 'sink')
  if (serviceAccount === undefined) return
  const rules = rulesOf(bundle, serviceAccount, namespace)
  list(at(doc.value, 'spec', 'resources')).forEach((resource, i) => {
    const apiVersion = str(at(resource, 'apiVersion'))
    const kind = str(at(resource, 'kind'))
    if (apiVersion === undefined || kind === undefined) return
    const missing = ['get', 'list', 'watch'].filter((verb) => !rules.some((rule) => ruleGrants(rule, { group: groupOf(apiVersion), resource: pluralOf(kind), verb })))
    if (missing.length > 0) {
      report(doc, ['spec', 'resources', i], 'rbac-missing', `ServiceAccount "${serviceAccount}" may not ${missing.join('/')} ${pluralOf(kind)} (${apiVersion}): the adapter's watch would fail`)
    }
  })
}

function checkPingSource(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const schedule = str(at(doc.value, 'spec', 'schedule'))
  if (schedule !== undefined) {
    const problem = cronProblem(schedule)
    if (problem !== undefined) report(doc, ['spec', 'schedule'], 'schedule', `schedule "${schedule}" is not a valid cron expression: ${problem}`)
  }
  const data = str(at(doc.value, 'spec', 'data'))
  if (data !== undefined && at(doc.value, 'spec', 'dataBase64') !== undefined) report(doc, ['spec', 'dataBase64'], 'pingsource', 'set data or dataBase64, not both')
  if (data !== undefined && /json/.test(str(at(doc.value, 'spec', 'contentType')) ?? '')) {
    try {
      JSON.parse(data)
    } catch {
      report(doc, ['spec', 'data'], 'pingsource', 'contentType is JSON but data is not valid JSON')
    }
  }
  checkDestination(bundle, doc, ['spec', 'sink'], report, 'sink')
}

function checkSinkBinding(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const subject = at(doc.value, 'spec', 'subject')
  if (isRecord(subject) && subject['name'] !== undefined && !refResolves(bundle, subject, str(at(doc.value, 'metadata', 'namespace')))) {
    report(doc, ['spec', 'subject'], 'reference', `subject ${describeRef(subject)} is not shipped in the bundle`)
  }
  checkDestination(bundle, doc, ['spec', 'sink'], report, 'sink')
}

function checkFuncYaml(bundle: Bundle, doc: LoadedDocument, report: Report): void {
  const f = doc.value
  const namespace = str(at(f, 'deploy', 'namespace')) ?? str(at(f, 'namespace'))
  checkServiceAccount(bundle, doc, ['deploy', 'serviceAccountName'], str(at(f, 'deploy', 'serviceAccountName')), namespace, report)
  list(at(f, 'run', 'volumes')).forEach((volume, i) => {
    const name = str(at(volume, 'configMap'))
    if (name !== undefined && bundle.find('ConfigMap', name, namespace, '').length === 0) report(doc, ['run', 'volumes', i, 'configMap'], 'reference', `ConfigMap "${name}" is not shipped in the bundle`)
  })
  if (at(f, 'deploy', 'options', 'scale', 'min') !== 0) report(doc, ['deploy', 'options', 'scale'], 'scale', 'deploy.options.scale.min must be 0: kube-reflex functions scale to zero')
  // The same Service may come from kustomize and from `kn func deploy`: they must agree.
  const name = str(at(f, 'name'))
  if (name === undefined) return
  for (const service of bundle.find('Service', name, namespace, KNATIVE_SERVING)) {
    const template = at(service.value, 'spec', 'template')
    const pairs: ReadonlyArray<readonly [string, PathSegment[], unknown, unknown]> = [
      ['serviceAccountName', ['deploy', 'serviceAccountName'], at(f, 'deploy', 'serviceAccountName'), at(template, 'spec', 'serviceAccountName')],
      ['scale.min', ['deploy', 'options', 'scale', 'min'], at(f, 'deploy', 'options', 'scale', 'min'), at(template, 'metadata', 'annotations', 'autoscaling.knative.dev/min-scale')],
      ['scale.max', ['deploy', 'options', 'scale', 'max'], at(f, 'deploy', 'options', 'scale', 'max'), at(template, 'metadata', 'annotations', 'autoscaling.knative.dev/max-scale')],
      ['scale.target', ['deploy', 'options', 'scale', 'target'], at(f, 'deploy', 'options', 'scale', 'target'), at(template, 'metadata', 'annotations', 'autoscaling.knative.dev/target')],
      ['limits.concurrency', ['deploy', 'options', 'resources', 'limits', 'concurrency'], at(f, 'deploy', 'options', 'resources', 'limits', 'concurrency'), at(template, 'spec', 'containerConcurrency')],
      ['requests.cpu', ['deploy', 'options', 'resources', 'requests', 'cpu'], at(f, 'deploy', 'options', 'resources', 'requests', 'cpu'), at(template, 'spec', 'containers', 0, 'resources', 'requests', 'cpu')],
      ['requests.memory', ['deploy', 'options', 'resources', 'requests', 'memory'], at(f, 'deploy', 'options', 'resources', 'requests', 'memory'), at(template, 'spec', 'containers', 0, 'resources', 'requests', 'memory')],
      ['limits.memory', ['deploy', 'options', 'resources', 'limits', 'memory'], at(f, 'deploy', 'options', 'resources', 'limits', 'memory'), at(template, 'spec', 'containers', 0, 'resources', 'limits', 'memory')],
    ]
    for (const [label, path, mine, theirs] of pairs) {
      if (mine !== undefined && show(mine) !== show(theirs)) {
        report(doc, path, 'func-drift', `${label} is ${show(mine)} here but ${show(theirs)} in ${service.file}: kn func deploy and kubectl apply -k would fight`)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Monitoring

function checkExpr(doc: LoadedDocument, path: readonly PathSegment[], expr: string, known: ReadonlySet<string>, report: Report): void {
  for (const name of metricNamesIn(expr)) {
    if (known.has(name)) continue
    const suggestion = closestSeriesName(name, known)
    report(doc, path, 'metric-name', `metric "${name}" is not exported by kube-reflex${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`)
  }
}

function alertsOf(bundle: Bundle): Map<string, LoadedDocument> {
  const alerts = new Map<string, LoadedDocument>()
  for (const doc of bundle.ofKind('PrometheusRule', 'monitoring.coreos.com')) {
    for (const group of list(at(doc.value, 'spec', 'groups'))) {
      for (const rule of list(at(group, 'rules'))) {
        const alert = str(at(rule, 'alert'))
        if (alert !== undefined) alerts.set(alert, doc)
      }
    }
  }
  return alerts
}

function checkPrometheusRule(doc: LoadedDocument, known: ReadonlySet<string>, report: Report): void {
  const seen = new Set<string>()
  list(at(doc.value, 'spec', 'groups')).forEach((group, g) => {
    list(at(group, 'rules')).forEach((rule, r) => {
      const path: PathSegment[] = ['spec', 'groups', g, 'rules', r]
      const expr = str(at(rule, 'expr'))
      if (expr !== undefined) checkExpr(doc, [...path, 'expr'], expr, known, report)
      const alert = str(at(rule, 'alert'))
      if (alert === undefined) return
      if (seen.has(alert)) report(doc, [...path, 'alert'], 'alert', `alert "${alert}" is defined twice`)
      seen.add(alert)
      if (str(at(rule, 'labels', 'severity')) === undefined) report(doc, path, 'alert', `alert "${alert}" has no severity label`)
      if (str(at(rule, 'annotations', 'summary')) === undefined) report(doc, path, 'alert', `alert "${alert}" has no summary annotation`)
    })
  })
}

function checkPromtoolTests(bundle: Bundle, tests: readonly LoadedDocument[], known: ReadonlySet<string>, report: Report): void {
  const alerts = alertsOf(bundle)
  const tested = new Set<string>()
  for (const doc of tests) {
    list(at(doc.value, 'tests')).forEach((test, t) => {
      list(at(test, 'input_series')).forEach((series, s) => {
        const text = str(at(series, 'series'))
        if (text !== undefined) checkExpr(doc, ['tests', t, 'input_series', s, 'series'], text, known, report)
      })
      list(at(test, 'alert_rule_test')).forEach((case_, c) => {
        const name = str(at(case_, 'alertname'))
        if (name === undefined) return
        tested.add(name)
        if (alerts.size > 0 && !alerts.has(name)) report(doc, ['tests', t, 'alert_rule_test', c, 'alertname'], 'alert-test', `alert "${name}" is not defined in any PrometheusRule`)
      })
    })
  }
  if (tests.length === 0) return
  for (const [alert, doc] of alerts) {
    if (!tested.has(alert)) {
      const path = findAlertPath(doc, alert)
      report(doc, path, 'alert-test', `alert "${alert}" has no promtool unit test (alert_rule_test) in ${[...new Set(tests.map((t) => t.file.replace(/[^/]*$/, '')))].join(', ')}`)
    }
  }
}

function findAlertPath(doc: LoadedDocument, alert: string): PathSegment[] {
  const groups = list(at(doc.value, 'spec', 'groups'))
  for (const [g, group] of groups.entries()) {
    for (const [r, rule] of list(at(group, 'rules')).entries()) {
      if (str(at(rule, 'alert')) === alert) return ['spec', 'groups', g, 'rules', r, 'alert']
    }
  }
  return ['spec']
}

function checkDashboard(doc: LoadedDocument, known: ReadonlySet<string>, report: Report): void {
  const visit = (panels: unknown, path: PathSegment[]): void => {
    list(panels).forEach((panel, p) => {
      list(at(panel, 'targets')).forEach((target, t) => {
        const expr = str(at(target, 'expr'))
        if (expr !== undefined) checkExpr(doc, [...path, p, 'targets', t, 'expr'], expr, known, report)
      })
      // Rows nest their panels.
      if (Array.isArray(at(panel, 'panels'))) visit(at(panel, 'panels'), [...path, p, 'panels'])
    })
  }
  visit(at(doc.value, 'panels'), ['panels'])
  if (str(at(doc.value, 'uid')) === undefined) report(doc, [], 'dashboard', 'dashboard has no uid: re-imports would create duplicates')
}

// ---------------------------------------------------------------------------------------------

function checkDuplicates(bundle: Bundle, report: Report): void {
  const seen = new Map<string, LoadedDocument>()
  for (const doc of bundle.manifests) {
    const id = objectId(doc)
    if (id === undefined) continue
    const key = `${groupOf(id.apiVersion)}/${id.kind}/${id.namespace ?? ''}/${id.name}`
    const first = seen.get(key)
    if (first === undefined) seen.set(key, doc)
    else report(doc, ['metadata', 'name'], 'duplicate', `${id.kind} "${id.name}" is also defined in ${first.file}`)
  }
}

/** Runs every cross-document check over the bundle. */
export function semanticProblems(documents: readonly LoadedDocument[]): Problem[] {
  const problems: Problem[] = []
  const report: Report = (doc, path, rule, message) => {
    const { line, column } = doc.locate(path)
    problems.push({ file: doc.file, line, column, message, rule })
  }
  const bundle = new Bundle(documents)
  const produced = producedTypes(bundle)
  const known = exportedSeriesNames()
  checkDuplicates(bundle, report)
  for (const doc of bundle.manifests) {
    const id = objectId(doc)
    if (id === undefined) continue
    const group = groupOf(id.apiVersion)
    switch (`${group}/${id.kind}`) {
      case 'eventing.knative.dev/Trigger':
        checkTrigger(bundle, doc, report, produced)
        break
      case 'eventing.knative.dev/Broker':
        checkDelivery(bundle, doc, ['spec', 'delivery'], report)
        if (isRecord(at(doc.value, 'spec', 'config')) && !refResolves(bundle, at(doc.value, 'spec', 'config') as Record<string, unknown>, id.namespace)) {
          report(doc, ['spec', 'config'], 'reference', 'the Broker config is not shipped in the bundle')
        }
        break
      case 'rbac.authorization.k8s.io/ClusterRole':
      case 'rbac.authorization.k8s.io/Role':
        checkRole(doc, report)
        break
      case 'rbac.authorization.k8s.io/ClusterRoleBinding':
      case 'rbac.authorization.k8s.io/RoleBinding':
        checkBinding(bundle, doc, report)
        break
      case 'serving.knative.dev/Service':
        checkKnativeService(bundle, doc, report)
        break
      case 'sources.knative.dev/ApiServerSource':
        checkApiServerSource(bundle, doc, report)
        break
      case 'sources.knative.dev/PingSource':
        checkPingSource(bundle, doc, report)
        break
      case 'sources.knative.dev/SinkBinding':
        checkSinkBinding(bundle, doc, report)
        break
      case 'sources.knative.dev/KafkaSource':
        checkDestination(bundle, doc, ['spec', 'sink'], report, 'sink')
        checkDelivery(bundle, doc, ['spec', 'delivery'], report)
        break
      case 'monitoring.coreos.com/PrometheusRule':
        checkPrometheusRule(doc, known, report)
        break
      default:
        break
    }
  }
  for (const doc of bundle.funcs) checkFuncYaml(bundle, doc, report)
  for (const doc of documents.filter((d) => d.role === 'dashboard')) checkDashboard(doc, known, report)
  checkPromtoolTests(bundle, documents.filter((d) => d.role === 'promtool-test'), known, report)
  return problems
}
