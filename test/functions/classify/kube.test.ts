// classify against the REAL kube-apiserver: Reference mode (the event names an object, classify reads it)
// classifies exactly what Resource mode classifies for the same object, timestamps included; an object gone
// before the read is no problem; a sweep (PingSource tick) lists Pods and Deployments and sends its findings.
import t from 'tap'
import type { Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { INPUT_TYPES } from '../../../shared/contracts.js'
import { connectKube } from '../../../shared/kube-rest.js'
import { silentLogger } from '../../../shared/logger.js'
import { createDeps, handle, loadConfig, type ClassifyDeps } from '../../../functions/classify/index.js'
import { admin, failingStatuses, kubeconfigFromEnv, setPodStatus } from '../auto-recover/kube-env.js'
import { serviceEnv } from '../../services/env.js'

const kubeconfig = kubeconfigFromEnv() ?? (await serviceEnv('kubernetes'))
const a = admin(kubeconfig)
const suffix = `${process.pid}-${Date.now().toString(36)}`

async function namespace(t: Test, name: string): Promise<string> {
  const ns = `${name}-${suffix}`
  await a.core.createNamespace({ body: { metadata: { name: ns } } })
  t.teardown(() => a.core.deleteNamespace({ name: ns }).then(() => undefined, () => undefined))
  return ns
}

const ctx = (deps: ClassifyDeps): Parameters<typeof handle>[1] => ({ log: silentLogger, traceparent: '', signal: new AbortController().signal, receivedAt: Date.now(), deps })
const event = (type: string, data: unknown): CloudEventV1 => ({ specversion: '1.0', id: randomUUID(), source: 'https://kubernetes.default.svc', type, time: '2026-11-29T10:00:00Z', datacontenttype: 'application/json', data })
/** The classified data without what names the input event (its id and type differ between the modes). */
function comparable(reply: CloudEventV1 | undefined): Record<string, unknown> {
  const data = { ...(reply?.data as Record<string, unknown>) }
  delete data.input
  return data
}

/** A crash-looping Pod (status written as the kubelet would) and the kubelet's BackOff Event about it. */
async function crashLoop(ns: string): Promise<{ pod: string; event: string }> {
  const pod = 'web-7d4b9c8f5d-x2x9k'
  await a.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: pod, labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:1.0.0' }] } } })
  await setPodStatus(a, ns, pod, failingStatuses('ghcr.io/acme/web:1.0.0'))
  const at = new Date(Date.now() - 60_000)
  await a.core.createNamespacedEvent({
    namespace: ns,
    body: {
      metadata: { name: `${pod}.backoff` },
      involvedObject: { kind: 'Pod', name: pod, namespace: ns, apiVersion: 'v1' },
      reason: 'BackOff',
      message: `Back-off restarting failed container app in pod ${pod}_${ns}(0e0c6d9e-1f40-4c1d-9d59-54b1c8f7a1d2)`,
      type: 'Warning',
      firstTimestamp: at,
      lastTimestamp: new Date(at.getTime() + 30_000),
      count: 5,
      source: { component: 'kubelet', host: 'node-1' },
    },
  })
  return { pod, event: `${pod}.backoff` }
}

t.test('Reference mode classifies what Resource mode classifies for the same object', async (t) => {
  const ns = await namespace(t, 'classify-ref')
  const { pod, event: eventName } = await crashLoop(ns)
  const deps = createDeps(loadConfig({ KUBECONFIG: kubeconfig }))
  // The objects as ApiServerSource's Resource mode would carry them: the API server's JSON.
  const raw = await connectKube({ kubeconfig })
  for (const [kind, name, path] of [
    ['Event', eventName, `/api/v1/namespaces/${ns}/events/${eventName}`],
    ['Pod', pod, `/api/v1/namespaces/${ns}/pods/${pod}`],
  ] as const) {
    const object = await raw.request<Record<string, unknown>>('GET', path)
    const byValue = await handle(event(INPUT_TYPES.resourceUpdate, object), ctx(deps))
    const byRef = await handle(event(INPUT_TYPES.refUpdate, { apiVersion: 'v1', kind, name, namespace: ns }), ctx(deps))
    // An Event is classified as what it is about: the Pod.
    t.match(byRef?.data, { severity: 'critical', category: 'crashloop', namespace: ns, object: { kind: 'Pod', name: pod } }, `${kind}: read and classified`)
    t.same(comparable(byRef), comparable(byValue), `${kind}: the same classification as Resource mode`)
    // With the times the object carries. Read through client-node's typed models (before shared/kube-access.ts),
    // a Pod's came back as Date objects, which classify does not take for timestamps: a Pod classified in
    // Reference mode had firstTime and lastTime null.
    t.match(byRef?.data, { firstTime: /^\d{4}-\d\d-\d\dT/, lastTime: /^\d{4}-\d\d-\d\dT/ }, `${kind}: with its timestamps`)
    if (kind === 'Event') t.match(byRef?.data, { count: 5 })
  }
  t.equal(await handle(event(INPUT_TYPES.refUpdate, { apiVersion: 'v1', kind: 'Pod', name: 'gone-0', namespace: ns }), ctx(deps)), undefined, 'gone before the read: nothing to report')
  t.equal(await handle(event(INPUT_TYPES.refUpdate, { apiVersion: 'example.com/v1', kind: 'Widget', name: 'w', namespace: ns }), ctx(deps)), undefined, 'a kind the server does not serve: nothing to report')
})

t.test('a sweep lists Pods and Deployments in its namespaces and sends what it finds', async (t) => {
  const ns = await namespace(t, 'classify-sweep')
  const { pod } = await crashLoop(ns)
  const sent: CloudEventV1[] = []
  const deps = createDeps(loadConfig({ KUBECONFIG: kubeconfig, CLASSIFY_SWEEP_NAMESPACES: ns }), {
    send: async (e) => {
      sent.push(e)
    },
  })
  const tick = { ...event(INPUT_TYPES.ping, {}), source: '/apis/v1/namespaces/kube-reflex/pingsources/sweep' }
  t.equal(await handle(tick, ctx(deps)), undefined, 'the tick itself gets no reply')
  t.equal(sent.length, 1, `one finding (${sent.map((e) => e.subject).join(', ')})`)
  t.match(sent[0]?.data, { severity: 'critical', category: 'crashloop', namespace: ns, object: { kind: 'Pod', name: pod } })
  await handle(tick, ctx(deps))
  t.equal(sent.length, 2)
  t.equal(sent[1]?.id, sent[0]?.id, 'a retried tick sends the same id (deduplicated downstream)')
  await handle({ ...tick, id: randomUUID() }, ctx(deps))
  t.not(sent[2]?.id, sent[0]?.id, 'the next tick is a new finding')
})

t.test('a kubeconfig unreadable at the first reference is read again at the next', async (t) => {
  const ns = await namespace(t, 'classify-retry')
  const { pod } = await crashLoop(ns)
  const file = join(t.testdir(), 'kubeconfig')
  writeFileSync(file, 'clusters: [\n')
  const deps = createDeps(loadConfig({ KUBECONFIG: file }))
  const ref = (): CloudEventV1 => event(INPUT_TYPES.refUpdate, { apiVersion: 'v1', kind: 'Pod', name: pod, namespace: ns })
  await t.rejects(handle(ref(), ctx(deps)), 'the broken kubeconfig is an error')
  copyFileSync(kubeconfig, file)
  t.match((await handle(ref(), ctx(deps)))?.data, { category: 'crashloop', object: { kind: 'Pod', name: pod } }, 'read again once it is fixed')
})
