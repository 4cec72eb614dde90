// The layer's Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager):
// create/list/watch a Pod and create an Event with @kubernetes/client-node, see a ReplicaSet
// recreate an evicted pod, bounce the API server keeping etcd's data, and stop leaving nothing.
import t from 'tap'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { AppsV1Api, CoreV1Api, KubeConfig, Watch } from '@kubernetes/client-node'
import type { V1Pod } from '@kubernetes/client-node'
import { listRecorded, startServices } from '../../scripts/test-services/index.mjs'
import { processGone } from './process-gone.js'

async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await fn()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${what} did not happen within ${timeoutMs / 1000} s${last instanceof Error ? `: ${last.message}` : ''}`)
}

const podSpec = { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] }

void t.test('kubernetes control plane: pods, watch, events, controllers, restart, stop', async (t) => {
  const running = await startServices(['kubernetes'], { reuseEnv: false, log: (line) => t.comment(line) })
  let stopped = false
  t.teardown(async () => {
    if (!stopped) await running.stop()
  })
  const kube = running.services.kubernetes
  if (kube === undefined) throw new Error('no kubernetes handle')
  t.equal(running.env.KUBECONFIG, kube.kubeconfig)

  const kc = new KubeConfig()
  kc.loadFromFile(kube.kubeconfig)
  t.equal(kc.getCurrentCluster()?.server, kube.server)
  t.match(kube.server, /^https:\/\/127\.0\.0\.1:\d+$/)
  const core = kc.makeApiClient(CoreV1Api)
  const apps = kc.makeApiClient(AppsV1Api)
  const namespace = 'services-test'
  await core.createNamespace({ body: { metadata: { name: namespace } } })

  // Watch first, so the ADDED event of the pod created next must arrive through it.
  const seen: { type: string; name: string | undefined }[] = []
  const watching = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    {},
    (type: string, obj: V1Pod) => {
      seen.push({ type, name: obj.metadata?.name })
    },
    () => undefined,
  )
  t.teardown(() => watching.abort())

  const created = await core.createNamespacedPod({ namespace, body: { metadata: { name: 'web-1', labels: { app: 'web' } }, spec: podSpec } })
  t.equal(created.metadata?.name, 'web-1')
  const list = await core.listNamespacedPod({ namespace })
  t.same(list.items.map((p) => p.metadata?.name), ['web-1'], 'list returns the created pod')
  await eventually('watch ADDED web-1', () => Promise.resolve(seen.some((e) => e.type === 'ADDED' && e.name === 'web-1') ? true : undefined))
  t.pass('watch delivered ADDED for the created pod')

  const event = await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { name: 'web-1.test', namespace },
      involvedObject: { kind: 'Pod', namespace, name: 'web-1', uid: created.metadata?.uid ?? '', apiVersion: 'v1' },
      reason: 'BackOff',
      message: 'Back-off restarting failed container app in pod web-1',
      type: 'Warning',
      source: { component: 'kubelet' },
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      count: 1,
    },
  })
  t.equal(event.reason, 'BackOff')
  const events = await core.listNamespacedEvent({ namespace })
  t.ok(events.items.some((e) => e.metadata?.name === 'web-1.test' && e.involvedObject.name === 'web-1'), 'event listed')

  if (kube.controllers) {
    await apps.createNamespacedReplicaSet({
      namespace,
      body: {
        metadata: { name: 'api' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: podSpec } },
      },
    })
    const firstPod = await eventually('ReplicaSet creates a pod', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=api' })
      return pods.items[0]?.metadata?.name
    })
    await core.createNamespacedPodEviction({ name: firstPod, namespace, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: firstPod, namespace } } })
    const replacement = await eventually('ReplicaSet recreates the evicted pod', async () => {
      const pods = await core.listNamespacedPod({ namespace, labelSelector: 'app=api' })
      return pods.items.find((p) => p.metadata?.name !== firstPod && p.metadata?.deletionTimestamp === undefined)?.metadata?.name
    })
    t.not(replacement, firstPod, 'kube-controller-manager replaced the evicted pod')
  } else {
    t.comment('kube-controller-manager not built; ReplicaSet check not applicable')
  }

  // Bounce only the API server: same port, etcd keeps the objects.
  const apiPid = kube.pids.apiserver
  if (apiPid === undefined) throw new Error('no apiserver pid')
  const stopStarted = Date.now()
  await kube.stopApiServer()
  t.ok(Date.now() - stopStarted < 10_000, 'stopApiServer() is quick (chaos tests bounce it)')
  t.ok(await processGone(apiPid), 'kube-apiserver gone after stopApiServer()')
  await t.rejects(core.listNamespacedPod({ namespace }), 'API unreachable while stopped')
  await kube.startApiServer()
  const afterRestart = await core.readNamespacedPod({ name: 'web-1', namespace })
  t.equal(afterRestart.metadata?.uid, created.metadata?.uid, 'same object after the API server restart')
  const recorded = listRecorded({ session: path.basename(running.sessionDir) }).find((r) => r.name === 'kubernetes')
  t.ok(recorded?.processes.some((p) => p.pid === kube.pids.apiserver), 'state.json records the restarted API server for `stop`')

  // Full stop/start of the whole stack keeps data too.
  await kube.stop()
  await kube.start()
  const afterFull = await core.readNamespacedPod({ name: 'web-1', namespace })
  t.equal(afterFull.metadata?.uid, created.metadata?.uid, 'same object after a full restart')
  watching.abort()

  const pids = Object.values(kube.pids)
  t.ok(pids.length >= 2, 'etcd and kube-apiserver pids recorded')
  await running.stop()
  stopped = true
  for (const pid of pids) t.ok(await processGone(pid), `process group ${pid} gone after stop()`)
  t.notOk(existsSync(running.sessionDir), 'run directory removed')
})
