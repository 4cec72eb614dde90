// Against a real kube-apiserver: install the upstream Knative CRDs, apply every manifest of every
// overlay with server-side dry-run, then apply the RBAC for real and check each ServiceAccount with
// SubjectAccessReviews (kubectl auth can-i --as): allowed exactly what it needs, denied the rest.
// The cluster comes from KUBECONFIG, else from the test-services helper (test/services/env.ts)
// when it is part of the checkout; without either the test is skipped with the reason.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parseAllDocuments, stringify } from 'yaml'
import { repoRoot, specsDir } from '../cli/validate/helpers.js'
import { captureIO } from '../helpers/io.js'
import { validate } from '../../cli/commands/validate.js'
import { loadCrdsFromCluster, loadCrdsFromDirectory } from '../../cli/validate/crds.js'

const run = promisify(execFile)
const kubectlPath = (process.env['PATH'] ?? '').split(path.delimiter).map((d) => path.join(d, 'kubectl')).find((p) => existsSync(p))
const crdDir = path.join(specsDir, 'knative-crds')
const servicesHelper = path.join(repoRoot, 'test', 'services', 'env.ts')

async function kubeconfig(): Promise<string | undefined> {
  const given = process.env['KUBECONFIG']
  if (given !== undefined && given !== '') return given
  if (!existsSync(servicesHelper)) return undefined
  // Imported by path so this file compiles whether or not the helper is in the checkout.
  const helper = (await import(path.join(repoRoot, 'test', 'services', 'env.js'))) as { serviceEnv: (name: 'kubernetes') => Promise<string> }
  return helper.serviceEnv('kubernetes')
}

const skip =
  kubectlPath === undefined
    ? 'kubectl not installed'
    : !existsSync(crdDir)
      ? `upstream CRDs not present at ${crdDir}`
      : (process.env['KUBECONFIG'] ?? '') === '' && !existsSync(servicesHelper)
        ? 'no cluster: set KUBECONFIG or add the test-services helper (test/services/env.ts)'
        : false

// Serving's Service and SinkBinding/monitoring CRDs are not among the upstream specs we carry, so
// they are installed as stand-ins that accept any spec: the dry-run still proves those objects are
// well-formed Kubernetes objects in the right scope and namespace.
function standInCrd(group: string, version: string, kind: string, plural: string): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}`, labels: { 'kube-reflex.dev/test': 'stand-in' } },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: version, served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  }
}

const STAND_INS = [
  standInCrd('serving.knative.dev', 'v1', 'Service', 'services'),
  standInCrd('sources.knative.dev', 'v1', 'SinkBinding', 'sinkbindings'),
  standInCrd('monitoring.coreos.com', 'v1', 'ServiceMonitor', 'servicemonitors'),
  standInCrd('monitoring.coreos.com', 'v1', 'PrometheusRule', 'prometheusrules'),
]

interface Access { readonly verb: string; readonly resource: string; readonly allowed: boolean }
const allow = (verbs: string, resources: string): Access[] => verbs.split(' ').flatMap((verb) => resources.split(' ').map((resource) => ({ verb, resource, allowed: true })))
const deny = (verbs: string, resources: string): Access[] => allow(verbs, resources).map((a) => ({ ...a, allowed: false }))

const EXPECTED: Readonly<Record<string, readonly Access[]>> = {
  'kube-reflex-auto-recover': [
    ...allow('create', 'pods/eviction'),
    ...allow('get list', 'pods replicasets.apps'),
    ...allow('get patch', 'deployments.apps statefulsets.apps daemonsets.apps'),
    ...allow('get', 'jobs.batch'),
    ...deny('list watch create update patch delete', 'jobs.batch'),
    // A CronJob's own opt-out mark is read before a pod of one of its Jobs is evicted: get, nothing else.
    ...allow('get', 'cronjobs.batch'),
    ...deny('list watch create update patch delete', 'cronjobs.batch'),
    ...allow('create patch', 'events'),
    ...allow('get', 'namespaces'),
    ...deny('list watch update patch delete', 'namespaces'),
    ...deny('delete create patch update watch', 'pods'),
    ...deny('list update delete create', 'deployments.apps'),
    ...deny('get list', 'secrets configmaps'),
    ...deny('patch delete', 'replicasets.apps'),
    ...deny('delete', 'events'),
    ...deny('create', 'rolebindings.rbac.authorization.k8s.io'),
  ],
  'kube-reflex-classify': [
    ...allow('get list', 'pods replicasets.apps deployments.apps'),
    ...deny('watch patch delete', 'pods deployments.apps'),
    ...deny('create', 'pods/eviction events'),
    ...deny('get', 'secrets'),
  ],
  'kube-reflex-apiserversource': [
    ...allow('get list watch', 'events pods deployments.apps'),
    ...deny('create patch', 'events'),
    ...deny('get list', 'secrets replicasets.apps'),
  ],
  'kube-reflex-alert': [...deny('get list', 'pods events secrets deployments.apps')],
  'kube-reflex-persist': [...deny('get list', 'pods events secrets deployments.apps')],
  'kube-reflex': [
    ...allow('get list', 'pods replicasets.apps deployments.apps'),
    ...allow('get', 'jobs.batch cronjobs.batch'),
    ...allow('create', 'pods/eviction events'),
    ...deny('get', 'secrets'),
    ...deny('delete', 'pods'),
  ],
}

type Schema = Record<string, unknown>
const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Each served version's openAPIV3Schema in the CRD files, by `group/version/Kind`. */
async function crdSchemas(dir: string): Promise<Map<string, Schema>> {
  const out = new Map<string, Schema>()
  for (const file of await readdir(dir)) {
    for (const doc of parseAllDocuments(await readFile(path.join(dir, file), 'utf8'))) {
      const crd = doc.toJS() as { spec?: { group?: string; names?: { kind?: string }; versions?: { name?: string; schema?: { openAPIV3Schema?: unknown } }[] } }
      for (const v of crd.spec?.versions ?? []) {
        const schema = v.schema?.openAPIV3Schema
        if (isSchema(schema)) out.set(`${crd.spec?.group}/${v.name}/${crd.spec?.names?.kind}`, schema)
      }
    }
  }
  return out
}

/**
 * One object per object-typed node of the schema (down properties and array items), with a field no
 * schema declares put at that node: whether it is refused there depends only on the schema's own flags.
 */
function unknownFieldProbes(apiVersion: string, kind: string, schema: Schema | undefined): { at: string; object: unknown }[] {
  const probes: { at: string; object: unknown }[] = []
  const walk = (node: unknown, at: string[], build: (leaf: unknown) => unknown): void => {
    if (!isSchema(node)) return
    if (node['type'] === 'object') probes.push({ at: `/${at.join('/')}`, object: build({ zzProbeField: 1 }) })
    if (isSchema(node['properties'])) {
      for (const [name, child] of Object.entries(node['properties'])) {
        if (at.length === 0 && ['apiVersion', 'kind', 'metadata'].includes(name)) continue
        walk(child, [...at, name], (leaf) => build({ [name]: leaf }))
      }
    }
    if (node['type'] === 'array') walk(node['items'], [...at, '0'], (leaf) => build([leaf]))
  }
  walk(schema, [], (leaf) => ({ apiVersion, kind, metadata: { name: 'probe' }, ...(leaf as object) }))
  return probes
}

void t.test('manifests against a real kube-apiserver', { skip, timeout: 300_000 }, async (t) => {
  const config = await kubeconfig()
  if (config === undefined) throw new Error('no kubeconfig')
  const env = { ...process.env, KUBECONFIG: config }
  const kubectl = async (args: readonly string[], input?: string): Promise<{ stdout: string; stderr: string }> => {
    const child = run(kubectlPath ?? 'kubectl', [...args], { env, maxBuffer: 32 * 1024 * 1024 })
    if (input !== undefined) child.child.stdin?.end(input)
    return child
  }
  const dir = t.testdir()
  const created: string[] = []

  // CRDs: the upstream ones, plus stand-ins for kinds whose CRDs we do not carry.
  const existing = new Set((await kubectl(['get', 'crd', '-o', 'name'])).stdout.split('\n').filter(Boolean))
  const standIns = path.join(dir, 'stand-ins.yaml')
  await writeFile(standIns, STAND_INS.map((c) => stringify(c)).join('---\n'))
  for (const file of [path.join(crdDir), standIns]) {
    const out = await kubectl(['apply', '--server-side', '--force-conflicts', '-f', file, '-o', 'name'])
    created.push(...out.stdout.split('\n').filter((n) => n !== '' && !existing.has(n)))
  }
  t.teardown(async () => {
    await kubectl(['delete', 'namespace', 'kube-reflex', '--ignore-not-found', '--wait=false']).catch(() => undefined)
    await kubectl(['delete', 'clusterrole,clusterrolebinding', '-l', 'app.kubernetes.io/part-of=kube-reflex', '--ignore-not-found']).catch(() => undefined)
    for (const name of created) await kubectl(['delete', name, '--ignore-not-found', '--wait=false']).catch(() => undefined)
  })
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all'])

  // `kube-reflex validate --kubeconfig`: the CRDs read back from the cluster judge every object as the
  // files they were installed from do, including where a schema keeps unknown fields.
  await t.test('validate --kubeconfig reads the installed CRDs as their files say', async (t) => {
    const fromCluster = await loadCrdsFromCluster(config)
    const fromFiles = await loadCrdsFromDirectory(crdDir)
    t.ok(fromFiles.size >= 5, `${fromFiles.size} served versions in the files`)
    const schemas = await crdSchemas(crdDir)
    for (const [key, file] of fromFiles) {
      const live = fromCluster.get(key)
      if (live === undefined) {
        t.fail(`${key} is not among the cluster's CRDs`)
        continue
      }
      const probes = unknownFieldProbes(file.apiVersion, file.kind, schemas.get(key))
      t.ok(probes.length > 1, `${key}: ${probes.length} probes`)
      for (const probe of probes) t.same(live.validate(probe.object), file.validate(probe.object), `${key}: unknown field at ${probe.at}`)
    }
    // The case that went wrong when the CRDs came through client-node's typed API: an ApiServerSource's
    // spec keeps unknown fields (x-kubernetes-preserve-unknown-fields), its status does not.
    const source = { apiVersion: 'sources.knative.dev/v1', kind: 'ApiServerSource', metadata: { name: 's' }, spec: { resources: [{ apiVersion: 'v1', kind: 'Event' }], sink: { uri: 'http://x' }, madeUp: 1 }, status: { bogus: 1 } }
    const errors = fromCluster.get('sources.knative.dev/v1/ApiServerSource')?.validate(source) ?? []
    t.same(errors.map((e) => `${e.instancePath} ${e.keyword} ${JSON.stringify(e.params)}`), ['/status additionalProperties {"additionalProperty":"bogus"}'])

    const c = captureIO({}, repoRoot)
    t.equal(await validate(['--kubeconfig', config], c), 0, c.err())
    t.match(c.err(), /documents in \d+ files are valid, [1-9]\d* checked against CRDs/)
  })

  // Namespaced objects need their namespace to exist even for a dry-run.
  await kubectl(['create', 'namespace', 'kube-reflex']).catch((err: unknown) => {
    if (!/AlreadyExists/.test(String((err as { stderr?: string }).stderr))) throw err
  })

  for (const overlay of ['knative', 'knative/overlays/enforce', 'knative/overlays/kafka-broker', 'knative/overlays/kafka-source', 'knative/overlays/kn-func', 'knative/monitoring']) {
    const rendered = (await kubectl(['kustomize', path.join(repoRoot, overlay)])).stdout
    const count = parseAllDocuments(rendered).length
    const file = path.join(dir, `${overlay.replace(/\//g, '_')}.yaml`)
    await writeFile(file, rendered)
    const result = await kubectl(['apply', '--server-side', '--dry-run=server', '--field-manager=kube-reflex-test', '-f', file]).then(
      (r) => ({ ok: true, out: r.stdout + r.stderr }),
      (err: unknown) => ({ ok: false, out: String((err as { stderr?: string }).stderr ?? err) }),
    )
    t.ok(result.ok, `${overlay}: ${count} objects accepted by server-side dry-run${result.ok ? '' : `\n${result.out}`}`)
  }

  // RBAC for real, then ask the API server what each ServiceAccount may do.
  const rbac = (await kubectl(['kustomize', path.join(repoRoot, 'knative')])).stdout
  const rbacDocs = parseAllDocuments(rbac)
    .map((d) => d.toJS() as { kind: string })
    .filter((o) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(o.kind))
  const rbacFile = path.join(dir, 'rbac.yaml')
  await writeFile(rbacFile, rbacDocs.map((d) => stringify(d)).join('---\n'))
  await kubectl(['apply', '--server-side', '-f', rbacFile])

  for (const [serviceAccount, accesses] of Object.entries(EXPECTED)) {
    for (const access of accesses) {
      // `pods/eviction` on the command line would mean "the pod named eviction": subresources go apart.
      const [resource = '', subresource] = access.resource.split('/')
      const target = subresource === undefined ? [resource] : [resource, `--subresource=${subresource}`]
      const answer = await kubectl(['auth', 'can-i', access.verb, ...target, '--all-namespaces', `--as=system:serviceaccount:kube-reflex:${serviceAccount}`]).then(
        () => true,
        (err: unknown) => {
          // can-i exits 1 with "no" for a denial; anything else is a real failure.
          if (/^no/m.test(String((err as { stdout?: string }).stdout))) return false
          throw err
        },
      )
      t.equal(answer, access.allowed, `${serviceAccount} ${access.allowed ? 'may' : 'may not'} ${access.verb} ${access.resource}`)
    }
  }
})
