// The live ApiServerSource emulation against a real kube-apiserver: KUBECONFIG, or one started for this
// test by the services layer (scripts/test-services). The backoff test needs no server.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { silentLogger } from '../../../shared/logger.js'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { backoffDelay, clusterSource, watchPath, type WatchedResource } from '../../../broker/sources/cluster.js'
import type { Ingress } from '../../../broker/sources/source.js'
import { serviceEnv } from '../../services/env.js'


async function eventually(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

function recordingIngress(): Ingress & { events: CloudEventV1[] } {
  const events: CloudEventV1[] = []
  return { events, cursors: new Map(), ready: () => Promise.resolve(), accept: (e) => {
      events.push(e)
      return Promise.resolve()
    } }
}

void t.test('watch paths and bounded backoff', (t) => {
  t.equal(watchPath({ apiVersion: 'v1', kind: 'Pod', resource: 'pods' }, undefined), '/api/v1/pods')
  t.equal(watchPath({ apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments' }, 'shop'), '/apis/apps/v1/namespaces/shop/deployments')
  t.same([1, 2, 3, 4, 8, 20].map((n) => backoffDelay(n, 500, 30_000)), [500, 1000, 2000, 4000, 30_000, 30_000])
  t.end()
})

void t.test('an unreachable API server: retries with bounded exponential backoff (injected delay)', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'kubeconfig')
  await writeFile(
    file,
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  )
  const stop = new AbortController()
  const sleeps: number[] = []
  const src = clusterSource({
    kubeconfig: file,
    log: silentLogger,
    resources: [{ apiVersion: 'v1', kind: 'Pod', resource: 'pods' }],
    backoff: { initialMs: 100, maxMs: 1000 },
    sleep: (ms) => {
      sleeps.push(ms)
      if (sleeps.length === 7) stop.abort()
      return Promise.resolve()
    },
  })
  await src.run(recordingIngress(), stop.signal)
  t.same(sleeps, [100, 200, 400, 800, 1000, 1000, 1000])
})

void t.test('against the real kube-apiserver: Resource-mode events for Pods, Deployments and Events', async (t) => {
  const file = await serviceEnv('kubernetes')
  const kc = new KubeConfig()
  kc.loadFromFile(file)
  const server = kc.getCurrentCluster()?.server
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)
  const namespace = `broker-${randomUUID().slice(0, 8)}`
  await core.createNamespace({ body: { metadata: { name: namespace } } })
  t.teardown(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined)
  })
  const podSpec = { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] }
  // Exists before the source starts: ApiServerSource sends nothing for it (the adapter ignores Replace).
  await core.createNamespacedPod({ namespace, body: { metadata: { name: 'before' }, spec: podSpec } })

  const ingress = recordingIngress()
  const synced = new Set<string>()
  const stop = new AbortController()
  const src = clusterSource({ kubeconfig: file, namespace, log: silentLogger, onSynced: (r: WatchedResource) => synced.add(r.kind) })
  const running = src.run(ingress, stop.signal)
  await eventually(() => synced.size === 3)

  await core.createNamespacedPod({ namespace, body: { metadata: { name: 'web-1', labels: { app: 'web' } }, spec: podSpec } })
  await core.patchNamespacedPod({ namespace, name: 'web-1', body: [{ op: 'add', path: '/metadata/labels/tier', value: 'front' }] })
  await core.deleteNamespacedPod({ namespace, name: 'web-1', gracePeriodSeconds: 0 })
  await apps.createNamespacedDeployment({
    namespace,
    body: { metadata: { name: 'api' }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: podSpec } } },
  })
  await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { name: 'api.oom' },
      involvedObject: { kind: 'Pod', namespace, name: 'api-1' },
      reason: 'OOMKilling',
      message: 'Memory cgroup out of memory: Killed process 4242 (java)',
      type: 'Warning',
      source: { component: 'kernel-monitor', host: 'node-1' },
    },
  })
  const has = (type: string, kind: string, name: string): boolean => ingress.events.some((e) => e.type === type && e.kind === kind && e.name === name)
  await eventually(
    () =>
      has('dev.knative.apiserver.resource.add', 'Pod', 'web-1') &&
      has('dev.knative.apiserver.resource.update', 'Pod', 'web-1') &&
      has('dev.knative.apiserver.resource.delete', 'Pod', 'web-1') &&
      has('dev.knative.apiserver.resource.add', 'Deployment', 'api') &&
      has('dev.knative.apiserver.resource.add', 'Event', 'api.oom'),
  )
  stop.abort()
  await running
  t.notOk(ingress.events.some((e) => e.name === 'before'), 'no event for an object that existed at start')
  const podAdd = ingress.events.find((e) => e.type === 'dev.knative.apiserver.resource.add' && e.name === 'web-1')
  t.match(podAdd, { source: server, subject: `/apis/v1/namespaces/${namespace}/pods/web-1`, kind: 'Pod', apiversion: 'v1', namespace, datacontenttype: 'application/json' })
  t.match(podAdd?.data, { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'web-1', namespace } })
  const dep = ingress.events.find((e) => e.kind === 'Deployment')
  t.equal(dep?.subject, `/apis/apps/v1/namespaces/${namespace}/deployments/api`)
  const ev = ingress.events.find((e) => e.kind === 'Event' && e.name === 'api.oom')
  t.match(ev?.data, { reason: 'OOMKilling' })
  t.equal(src.stats.rejected, 0)
})
