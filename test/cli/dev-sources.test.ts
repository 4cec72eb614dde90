// `kube-reflex dev` fed by the live sources, against the real services: KAFKA_BROKERS / KUBECONFIG, or
// services started for this test by the services layer (scripts/test-services).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node'
import { createFunction } from '../../cli/registry.js'
import { silentLogger } from '../../shared/logger.js'
import type { Summary } from '../../broker/summary.js'
import { serviceEnv } from '../services/env.js'
import { runCli } from './helpers.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const fixtures = path.join(here, '..', 'broker', 'fixtures')
const manifestArgs = ['--triggers', path.join(fixtures, 'triggers'), '--broker', path.join(fixtures, 'knative', 'broker.yaml')]

async function hasClassify(dir: string): Promise<boolean> {
  try {
    await createFunction('classify', { KUBE_REFLEX_DATA_DIR: dir }, silentLogger)
    return true
  } catch {
    return false
  }
}

function coreEvent(namespace: string, name: string, reason: string, message: string, type: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace },
    involvedObject: { kind: 'Pod', namespace, name: 'api-5f7c9-x2x4q', apiVersion: 'v1' },
    reason,
    message,
    type,
    count: 1,
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: '2026-11-28T04:00:00Z',
    lastTimestamp: '2026-11-28T04:00:00Z',
  }
}

void t.test('dev --kafka --once: records from a real topic through the broker, offsets caught up', async (t) => {
  const list = (await serviceEnv('kafka')).split(',')
  const kafka = new Kafka({ clientId: 'dev-test', brokers: list, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  t.teardown(() => admin.disconnect())
  const topic = `dev-${randomUUID()}`
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({
    topic,
    messages: [
      { key: 'shop/api', value: JSON.stringify(coreEvent('shop', 'api.1', 'BackOff', 'Back-off restarting failed container api in pod api-5f7c9-x2x4q_shop(1)', 'Warning')) },
      { key: 'shop/api', value: JSON.stringify(coreEvent('shop', 'api.2', 'Pulled', 'Successfully pulled image "api:1.4.2" in 812ms', 'Normal')) },
      { key: 'shop/web', value: JSON.stringify(coreEvent('shop', 'web.1', 'Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', 'Warning')) },
    ],
  })
  await producer.disconnect()
  const dir = t.testdir({})
  const classify = await hasClassify(path.join(dir, 'probe'))
  const res = await runCli(['dev', '--kafka', list.join(','), '--topic', topic, '--group', `g-${randomUUID()}`, '--once', '--json', '--data-dir', path.join(dir, 'run'), '--port', '0', ...manifestArgs])
  t.equal(res.code, 0, res.stderr)
  const summary = JSON.parse(res.stdout) as Summary
  t.equal(summary.received, 3)
  if (classify) t.same(summary.classified, { critical: 1, warning: 1, info: 1 })
  await admin.deleteTopics({ topics: [topic] })
})

void t.test('dev --kubeconfig: a live namespace on the real API server', async (t) => {
  const kubeconfig = await serviceEnv('kubernetes')
  const kc = new KubeConfig()
  kc.loadFromFile(kubeconfig)
  const core = kc.makeApiClient(CoreV1Api)
  const namespace = `dev-${randomUUID().slice(0, 8)}`
  await core.createNamespace({ body: { metadata: { name: namespace } } })
  t.teardown(async () => {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined)
  })
  const dir = t.testdir({})
  const classify = await hasClassify(path.join(dir, 'probe'))
  const stop = new AbortController()
  // Like Knative's adapter, the source sends nothing for objects that exist when its list completes, so
  // the test cannot know from outside when the watch is up: it keeps creating fresh events (each a new
  // occurrence) until the live view shows them classified, bounded by a deadline — no fixed sleeps.
  let view = ''
  const seen = (): boolean => /classified critical [1-9]\d* warning \d+ info [1-9]/.test(view)
  const running = runCli(['dev', '--kubeconfig', kubeconfig, '--namespace', namespace, '--data-dir', path.join(dir, 'run'), '--port', '0', ...manifestArgs], {}, process.cwd(), stop.signal, (out) => {
    view = out
  })
  const deadline = Date.now() + 90_000
  for (let i = 0; !(classify ? seen() : /received [1-9]/.test(view)) && Date.now() < deadline; i++) {
    await core.createNamespacedEvent({ namespace, body: coreEvent(namespace, `api.oom.${i}`, 'OOMKilling', 'Memory cgroup out of memory: Killed process 4242 (java) total-vm:4GB', 'Warning') as never })
    await core.createNamespacedEvent({ namespace, body: coreEvent(namespace, `api.sched.${i}`, 'Scheduled', `Successfully assigned ${namespace}/api-5f7c9-x2x4q to node-1`, 'Normal') as never })
    await new Promise((r) => setTimeout(r, 1000))
  }
  stop.abort()
  const res = await running
  const done = /done: received (\d+), classified (\d+)/.exec(res.stdout)
  t.ok(done, `final summary line: ${res.stdout.slice(-500)}`)
  t.ok(Number(done?.[1]) >= 2, `received ${done?.[1] ?? '?'}`)
  if (classify) t.ok(seen(), 'the OOM (critical) and the Scheduled event (info) were classified')
  t.equal(res.code, 0, res.stderr)
})

void t.test('--once needs an input that ends', async (t) => {
  const res = await runCli(['dev', '--kubeconfig', 'x', '--once'])
  t.equal(res.code, 2)
  t.match(res.stderr, /--once needs an input that ends/)
})
