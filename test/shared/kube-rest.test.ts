// shared/kube-rest.ts (auto-recover's client: client-node's KubeConfig, plain JSON requests) against the real
// kube-apiserver: answers as the server sent them, refusals with their status and Status body, patches and
// dry runs, one keep-alive TLS connection, a bearer token, a server URL with a path prefix over plain HTTP
// (through a `kubectl proxy`-like forwarder to the real server), and an API server that is down or hangs.
import t from 'tap'
import type { Test } from 'tap'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse, stringify } from 'yaml'
import { connectKube, JSON_PATCH, KubeApiError, kubeError, kubeStatus, MERGE_PATCH, seg } from '../../shared/kube-rest.js'
import { admin, connectionsDuring, kubeconfigFromEnv, unreachable } from '../functions/auto-recover/kube-env.js'
import { serviceEnv } from '../services/env.js'

const kubeconfig = kubeconfigFromEnv() ?? (await serviceEnv('kubernetes'))
const a = admin(kubeconfig)
const suffix = `${process.pid}-${Date.now().toString(36)}`

interface Obj {
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion: string; creationTimestamp: unknown; managedFields?: { manager: string }[] }
}

async function namespace(t: Test, name: string, labels: Record<string, string> = {}): Promise<string> {
  const ns = `${name}-${suffix}`
  await a.core.createNamespace({ body: { metadata: { name: ns, labels } } })
  t.teardown(() => a.core.deleteNamespace({ name: ns }).then(() => undefined, () => undefined))
  return ns
}

type Doc = { clusters: { cluster: Record<string, unknown> }[]; users: { user: Record<string, unknown> }[] }
const readDoc = (): Doc => parse(readFileSync(kubeconfig, 'utf8')) as Doc
function writeDoc(dir: string, name: string, doc: Doc): string {
  const file = join(dir, name)
  writeFileSync(file, stringify(doc))
  return file
}

t.test('reads and lists: objects as the server sent them', async (t) => {
  const api = await connectKube({ kubeconfig })
  const ns = await namespace(t, 'rest-read', { team: `a-${suffix}` })
  await namespace(t, 'rest-other', { team: `b-${suffix}` })
  const got = await api.request<Obj>('GET', `/api/v1/namespaces/${ns}`)
  t.equal(got.metadata.name, ns)
  t.type(got.metadata.creationTimestamp, 'string', 'timestamps stay RFC 3339 strings (no model classes)')
  const listed = await api.request<{ kind: string; items: Obj[] }>('GET', '/api/v1/namespaces', { query: { labelSelector: `team=a-${suffix}`, fieldSelector: undefined } })
  t.equal(listed.kind, 'NamespaceList')
  t.same(
    listed.items.map((i) => i.metadata.name),
    [ns],
    'the label selector reaches the server (undefined query values are left out)',
  )
})

t.test('refusals carry the status and the server Status; kubeError maps them', async (t) => {
  const api = await connectKube({ kubeconfig })
  const missing = await api.request('GET', '/api/v1/namespaces/no-such-namespace-here').catch((e: unknown) => e)
  t.ok(missing instanceof KubeApiError, 'a KubeApiError')
  t.equal(kubeStatus(missing), 404)
  t.match((missing as KubeApiError).body, { kind: 'Status', reason: 'NotFound', message: /"no-such-namespace-here" not found/ })
  t.match((missing as Error).message, /404 to GET \/api\/v1\/namespaces\/no-such-namespace-here: namespaces "no-such-namespace-here" not found/)
  // A name is one path segment. The API server decodes %2F before routing, so escaping is not enough:
  // `default%2Fpods` would list the pods of default. seg() refuses what cannot be an object's name.
  t.equal(seg('web-7d4b9c8f5d-x2x9k'), 'web-7d4b9c8f5d-x2x9k')
  for (const bad of ['default/pods', 'a%2Fb', '.', '..', '']) t.throws(() => seg(bad), /not a Kubernetes object name/, JSON.stringify(bad))

  const ns = await namespace(t, 'rest-conflict')
  const event = { apiVersion: 'v1', kind: 'Event', metadata: { name: 'once', namespace: ns }, involvedObject: { kind: 'ConfigMap', name: 'settings', namespace: ns }, reason: 'Test', message: 'm', type: 'Normal' }
  await api.request('POST', `/api/v1/namespaces/${ns}/events`, { body: event })
  const again = await api.request('POST', `/api/v1/namespaces/${ns}/events`, { body: event }).catch((e: unknown) => e)
  t.equal(kubeStatus(again), 409, 'creating the same name twice: 409 AlreadyExists')
  t.equal(kubeError(again, 'x').code, 'KUBE_REQUEST_FAILED')
  t.equal(kubeError(missing, 'x').code, 'KUBE_REQUEST_FAILED')
})

t.test('merge and JSON patches with a field manager; dry runs persist nothing', async (t) => {
  const api = await connectKube({ kubeconfig })
  const ns = await namespace(t, 'rest-patch')
  const path = `/api/v1/namespaces/${ns}`
  const dry = await api.request<Obj>('PATCH', path, { body: { metadata: { annotations: { tried: 'yes' } } }, contentType: MERGE_PATCH, query: { fieldManager: 'kube-reflex-test', dryRun: 'All' } })
  t.equal(dry.metadata.annotations?.tried, 'yes', 'the server answers with what it would store')
  t.equal((await a.core.readNamespace({ name: ns })).metadata?.annotations?.tried, undefined, 'dryRun=All: nothing stored')

  const merged = await api.request<Obj>('PATCH', path, { body: { metadata: { annotations: { tried: 'yes' } } }, contentType: MERGE_PATCH, query: { fieldManager: 'kube-reflex-test' } })
  t.equal(merged.metadata.annotations?.tried, 'yes')
  t.ok(merged.metadata.managedFields?.some((f) => f.manager === 'kube-reflex-test'), 'the field manager is recorded')

  // The conditional replace auto-recover's rollback sends: the patched object carries the version it was
  // planned from, and a stale one is a 409 Conflict (a retry), not the bare 422 a failed `test` op gives.
  const stale = await api
    .request('PATCH', path, { body: [{ op: 'replace', path: '/metadata/resourceVersion', value: '1' }, { op: 'replace', path: '/metadata/annotations/tried', value: 'no' }], contentType: JSON_PATCH })
    .catch((e: unknown) => e)
  t.equal(kubeStatus(stale), 409, `a stale version is refused (${(stale as Error).message})`)
  t.match((stale as { body?: unknown }).body, { reason: 'Conflict' })
  const failedTest = await api
    .request('PATCH', path, { body: [{ op: 'test', path: '/metadata/resourceVersion', value: '1' }, { op: 'replace', path: '/metadata/annotations/tried', value: 'no' }], contentType: JSON_PATCH })
    .catch((e: unknown) => e)
  t.equal(kubeStatus(failedTest), 422, 'a failed `test` op is a 422…')
  t.match((failedTest as { body?: unknown }).body, { message: 'the server rejected our request due to an error in our request', details: {} }, '…that does not say which op failed or why')
  const current = await api.request<Obj>('PATCH', path, {
    body: [
      { op: 'replace', path: '/metadata/resourceVersion', value: merged.metadata.resourceVersion },
      { op: 'replace', path: '/metadata/annotations/tried', value: 'no' },
    ],
    contentType: JSON_PATCH,
  })
  t.equal(current.metadata.annotations?.tried, 'no', 'at the current version it applies')
})

t.test('calls share one keep-alive TLS connection', async (t) => {
  const api = await connectKube({ kubeconfig })
  const opened = await connectionsDuring(async () => {
    for (let i = 0; i < 4; i++) await api.request('GET', '/api/v1/namespaces/default')
    await api.request('GET', '/api/v1/namespaces/no-such-namespace-here').catch(() => undefined)
  })
  t.equal(opened, 1, 'five sequential calls, one connection')
})

t.test('a bearer token from the kubeconfig authenticates (and its ServiceAccount RBAC applies)', async (t) => {
  const ns = await namespace(t, 'rest-token')
  await a.core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'bot' } } })
  await a.rbac.createNamespacedRole({ namespace: ns, body: { metadata: { name: 'read-pods' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }] } })
  await a.rbac.createNamespacedRoleBinding({
    namespace: ns,
    body: { metadata: { name: 'bot' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-pods' }, subjects: [{ kind: 'ServiceAccount', name: 'bot', namespace: ns }] },
  })
  const token = (await a.core.createNamespacedServiceAccountToken({ namespace: ns, name: 'bot', body: { spec: { audiences: [], expirationSeconds: 600 } } })).status?.token
  if (token === undefined) throw new Error('no token issued')
  const doc = readDoc()
  for (const u of doc.users) u.user = { token }
  const api = await connectKube({ kubeconfig: writeDoc(t.testdir(), 'kubeconfig-token', doc) })
  const pods = await api.request<{ items: unknown[] }>('GET', `/api/v1/namespaces/${ns}/pods`)
  t.same(pods.items, [], 'allowed: list pods in its namespace')
  const refused = await api.request('GET', `/api/v1/namespaces/${ns}/secrets`).catch((e: unknown) => e)
  t.equal(kubeStatus(refused), 403, 'refused: what its Role does not grant')
  t.match((refused as KubeApiError).body, { message: new RegExp(`system:serviceaccount:${ns}:bot`) }, 'as the ServiceAccount')
  t.equal(kubeError(refused, 'reading secrets').code, 'KUBE_FORBIDDEN')
})

t.test('a server URL with a path prefix, over plain HTTP (kubectl proxy style)', async (t) => {
  // A loopback forwarder in front of the real API server: /prefix/<path> → <path>, with the admin's client
  // certificate, as `kubectl proxy --api-prefix=/prefix/` does.
  const doc = readDoc()
  const target = new URL(String(doc.clusters[0]?.cluster.server))
  const user = doc.users[0]?.user ?? {}
  const b64 = (k: string): Buffer => Buffer.from(String(user[k]), 'base64')
  const ca = Buffer.from(String(doc.clusters[0]?.cluster['certificate-authority-data']), 'base64')
  const seen: string[] = []
  const proxy = http.createServer((req, res) => {
    seen.push(req.url ?? '')
    if (!(req.url ?? '').startsWith('/prefix/')) {
      res.writeHead(404).end()
      return
    }
    const up = https.request({ hostname: target.hostname, port: target.port, path: (req.url ?? '').slice('/prefix'.length), method: req.method, headers: { ...req.headers, host: target.host }, ca, cert: b64('client-certificate-data'), key: b64('client-key-data') }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => res.writeHead(502).end())
    req.pipe(up)
  })
  proxy.listen(0, '127.0.0.1')
  await once(proxy, 'listening')
  t.teardown(() => proxy.close())
  const port = (proxy.address() as net.AddressInfo).port
  const plain: Doc = { ...doc, clusters: doc.clusters.map((c) => ({ ...c, cluster: { server: `http://127.0.0.1:${port}/prefix/`, 'insecure-skip-tls-verify': true } })), users: doc.users.map((u) => ({ ...u, user: {} })) }
  const api = await connectKube({ kubeconfig: writeDoc(t.testdir(), 'kubeconfig-proxy', plain) })
  const got = await api.request<Obj>('GET', '/api/v1/namespaces/default', { query: { pretty: 'false' } })
  t.equal(got.metadata.name, 'default')
  t.same(seen, ['/prefix/api/v1/namespaces/default?pretty=false'], 'the path goes under the prefix, once')
})

t.test('an API server that is down or hangs: errors without a status, so callers retry', async (t) => {
  const dir = t.testdir()
  const closed = net.createServer()
  closed.listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const port = (closed.address() as net.AddressInfo).port
  await new Promise((r) => closed.close(r))
  const down = await connectKube({ kubeconfig: unreachable(kubeconfig, dir, port) })
  const refused = await down.request('GET', '/api/v1/namespaces/default').catch((e: unknown) => e)
  t.match(refused, { code: 'ECONNREFUSED' })
  t.equal(kubeStatus(refused), undefined)
  t.equal(kubeError(refused, 'reading').code, 'DOWNSTREAM_UNAVAILABLE')

  // Accepts the connection, never answers (not even the TLS handshake).
  const sockets: net.Socket[] = []
  const hung = net.createServer((s) => sockets.push(s))
  hung.listen(0, '127.0.0.1')
  await once(hung, 'listening')
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    hung.close()
  })
  const slow = await connectKube({ kubeconfig: unreachable(kubeconfig, dir, (hung.address() as net.AddressInfo).port), timeoutMs: 300 })
  const started = Date.now()
  const timedOut = await slow.request('GET', '/api/v1/namespaces/default').catch((e: unknown) => e)
  t.match((timedOut as Error).message, /no answer to GET \/api\/v1\/namespaces\/default within 300 ms/)
  t.ok(Date.now() - started < 10_000, 'gives up at its timeout')
  t.equal(kubeError(timedOut, 'reading').code, 'DOWNSTREAM_UNAVAILABLE')
})

t.test('a kubeconfig without a current cluster is a clear error', async (t) => {
  const file = join(t.testdir(), 'empty')
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', clusters: [], users: [], contexts: [] }))
  await t.rejects(connectKube({ kubeconfig: file }), /names no current cluster/)
})
