// The four function bundles as Knative runs them — one process per function, each started from its own
// `kn func` directory (dist/kn/<name>/, built with its code cache as the buildpack builds it) — wired the way
// triggers/*.yaml wire them, against the real services: PostgreSQL for alert's, auto-recover's and
// persist's state, the kube-apiserver (with its controllers) for auto-recover, Kafka for persist's archive,
// and a Standard Webhooks receiver for alert. The functions' own suites run against the source; this one
// runs what ships, so a bundling mistake (a package missing from vendor/, an asset left behind, a
// dynamic import the bundle cannot serve) fails here.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import kafkajs from 'kafkajs'
import { parseHttpEvent, toBinary, type CloudEventV1 } from '../../shared/cloudevent.js'
import { wrapAsApiServerSource } from '../../shared/apiserver-source.js'
import { OPT_IN_KEY } from '../../functions/auto-recover/policy.js'
import { isolatedDatabaseUrl } from '../helpers/pg-schema.js'
import { serviceEnv } from '../services/env.js'
import { startReceiver } from '../functions/alert/receivers/index.js'
import { WEBHOOK_SECRET } from '../functions/alert/fixtures.js'
import { serveFrom, type Served } from './serve-bundle.js'
import { admin, eventually, failingStatuses, kubeconfigFromEnv, podsOf, readyStatuses, setPodStatus } from '../functions/auto-recover/kube-env.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const built = existsSync(path.join(repoRoot, 'dist/functions/classify/rules/default-rules.json'))
t.setTimeout(300_000)

/** `npm start` in the function's directory, reporting whether each file came from its code cache. */
const start = (t: Test, dir: string, name: string, env: Record<string, string>): Promise<Served> =>
  serveFrom(t, path.join(dir, name), name, { KUBE_REFLEX_CODE_CACHE: 'report', ...env })

/** Delivers an event the way the Broker does (binary mode); returns the status and the reply, if any,
 *  read with the same parser the functions use on what they receive. */
async function deliver(to: Served, event: CloudEventV1): Promise<{ status: number; reply: CloudEventV1 | undefined; body: string }> {
  const { headers, body } = toBinary(event)
  const res = await fetch(to.url, { method: 'POST', headers, body })
  const bytes = Buffer.from(await res.arrayBuffer())
  const reply = res.status === 200 ? parseHttpEvent(Object.fromEntries(res.headers), bytes) : undefined
  return { status: res.status, reply, body: bytes.toString('utf8') }
}

t.test('the four bundles, one process each, carry a crash-looping Pod from the API server to an alert, an eviction and the event store', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  // What `kn func deploy` builds: the bundler, then each directory's `npm run build` (the code cache).
  const dir = t.testdir()
  const bundled = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${dir}`, 'classify', 'alert', 'auto-recover', 'persist'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(bundled.status, 0, `the bundler and the four code-cache builds exit 0 (${bundled.stderr.slice(-500)})`)

  // The real services.
  const kubeconfig = kubeconfigFromEnv() ?? (await serviceEnv('kubernetes'))
  const databaseUrl = await isolatedDatabaseUrl(t)
  const brokers = await serviceEnv('kafka')
  const topic = `kube-reflex-bundles-${randomBytes(4).toString('hex')}`
  const kafka = new kafkajs.Kafka({ clientId: 'bundle-pipeline-test', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING })
  const kafkaAdmin = kafka.admin()
  await kafkaAdmin.connect()
  await kafkaAdmin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })
  t.teardown(async () => {
    await kafkaAdmin.deleteTopics({ topics: [topic] }).catch(() => undefined)
    await kafkaAdmin.disconnect()
  })
  const receiver = await startReceiver('webhook', { secret: WEBHOOK_SECRET })
  t.teardown(() => receiver.close())

  // A workload that opted in to auto-recover: two replicas, one of them crash-looping (statuses written
  // through the status subresource, as the kubelet would).
  const k = admin(kubeconfig)
  const ns = `bundles-${process.pid}-${Date.now().toString(36)}`
  await k.core.createNamespace({ body: { metadata: { name: ns, labels: { [OPT_IN_KEY]: 'true' } } } })
  t.teardown(async () => {
    await k.core.deleteNamespace({ name: ns }).catch(() => undefined)
  })
  await k.apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'ghcr.io/acme/web:1.0.0' }] } },
      },
    },
  })
  const pods = await eventually('the two pods of web', async () => {
    const p = await podsOf(k, ns, 'app=web')
    return p.length === 2 ? p : undefined
  })
  const [okName, badName] = pods.map((p) => p.metadata?.name ?? '')
  if (okName === undefined || badName === undefined) throw new Error('pods missing')
  await setPodStatus(k, ns, okName, readyStatuses('ghcr.io/acme/web:1.0.0'))
  const badPod = await setPodStatus(k, ns, badName, failingStatuses('ghcr.io/acme/web:1.0.0'))

  // The four functions, each with only what its Service gets on Knative.
  const policy = path.join(dir, 'policy.yaml')
  writeFileSync(policy, 'cooldownSeconds: 0\n')
  const token = randomBytes(16).toString('hex')
  const [classify, alert, autoRecover, persist] = await Promise.all([
    start(t, dir, 'classify', {}),
    start(t, dir, 'alert', { DATABASE_URL: databaseUrl, ALERT_WEBHOOK_URL: receiver.url, ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET, ALERT_ALLOW_HOSTS: '127.0.0.1' }),
    start(t, dir, 'auto-recover', { DATABASE_URL: databaseUrl, KUBECONFIG: kubeconfig, RECOVERY_MODE: 'enforce', RECOVERY_POLICY_FILE: policy }),
    start(t, dir, 'persist', { DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers, KAFKA_ARCHIVE_TOPIC: topic, PERSIST_RELAY_INTERVAL_MS: '100', PERSIST_API_TOKEN: token }),
  ])
  for (const fn of [classify, alert, autoRecover, persist]) {
    t.match(fn.output(), /code cache used: \S+serve\.js-/, `${fn.name}: started from the code cache its npm run build wrote`)
    t.equal((await fetch(`${fn.url}/health/readiness`)).status, 200, `${fn.name}: ready`)
  }

  // ApiServerSource → classify: the live Pod object, as Resource mode sends it.
  const podObject = { ...(JSON.parse(JSON.stringify(badPod)) as Record<string, unknown>), apiVersion: 'v1', kind: 'Pod' }
  const input = wrapAsApiServerSource(podObject, { source: 'https://10.96.0.1:443', verb: 'update', id: randomUUID(), time: new Date().toISOString() })
  const c = await deliver(classify, input)
  t.equal(c.status, 200, `classify replies (${c.body.slice(0, 200)})`)
  const classified = c.reply
  if (classified === undefined) throw new Error('no classified event')
  t.match(classified, { type: 'dev.kubereflex.event.classified', source: '/kube-reflex/classify', severity: 'critical', category: 'crashloop', action: 'restart-pod' })
  t.match(classified.data, { namespace: ns, object: { kind: 'Pod', name: badName }, workload: { kind: 'Deployment', name: 'web' } })

  // The Triggers: the classified event to alert, auto-recover and persist.
  const [a, r, p] = await Promise.all([deliver(alert, classified), deliver(autoRecover, classified), deliver(persist, classified)])
  t.equal(a.status, 200, `alert replies (${a.body.slice(0, 200)})`)
  t.match(a.reply, { type: 'dev.kubereflex.alert.sent', source: '/kube-reflex/alert', fingerprint: classified.fingerprint })
  t.equal(receiver.accepted().length, 1, 'one notification reached the webhook')
  t.equal(receiver.requests[0]?.verified, true, "signed with the Standard Webhooks scheme (the official verifier's check)")
  t.equal(r.status, 200, `auto-recover replies (${r.body.slice(0, 200)})`)
  t.match(r.reply, { type: 'dev.kubereflex.recovery.performed', source: '/kube-reflex/auto-recover' })
  t.match(r.reply?.data, { reason: 'ACTION_APPLIED', mode: 'enforce', change: { kind: 'Eviction', pod: badName } })
  t.equal(p.status, 202, 'persist stores the classified event')
  await eventually('the evicted pod to be gone', async () => ((await podsOf(k, ns, 'app=web')).some((x) => x.metadata?.name === badName) ? undefined : true))
  t.pass('the crash-looping pod was evicted in the real cluster')

  // The npm packages each needed on the way came from their own cache too, though the build had no
  // database and no cluster to load them with (index.js loads the rest at the end of the build).
  t.match(alert.output(), /code cache used: \S+vendor_pg\.js-/, 'alert: pg from its code cache')
  t.match(autoRecover.output(), /code cache used: \S+vendor_kubernetes_client-node_dist_config\.js-/, "auto-recover: client-node's KubeConfig from its code cache")
  t.notMatch(autoRecover.output(), /vendor_kubernetes\.js/, "and not client-node's generated API (shared/kube-rest.ts)")
  t.match(persist.output(), /code cache used: \S+vendor_kafkajs\.js-/, "persist: kafkajs (the archive's producer) from its code cache")

  // The replies go to the Broker too; persist's Trigger takes every dev.kubereflex.* event.
  for (const reply of [a.reply, r.reply]) {
    if (reply === undefined) continue
    t.equal((await deliver(persist, reply)).status, 202, `persist stores ${reply.type}`)
  }

  // At-least-once: the Broker delivers the classified event again. Nothing is done twice.
  const [a2, r2, p2] = await Promise.all([deliver(alert, classified), deliver(autoRecover, classified), deliver(persist, classified)])
  t.ok(a2.status === 200 || a2.status === 202, `alert accepts the redelivery (${String(a2.status)})`)
  t.equal(receiver.accepted().length, 1, 'no second notification')
  t.equal(r2.status, 200)
  t.equal(r2.reply?.id, r.reply?.id, 'auto-recover answers a redelivery with the same reply')
  t.equal(p2.status, 202)

  // persist's query API, behind its bearer token.
  t.equal((await fetch(`${persist.url}/api/v1/events`)).status, 401, 'the API wants the token')
  const auth = { authorization: `Bearer ${token}` }
  const events = (await (await fetch(`${persist.url}/api/v1/events?namespace=${ns}`, { headers: auth })).json()) as { items: { type: string }[] }
  t.same(events.items.map((e) => e.type).sort(), ['dev.kubereflex.alert.sent', 'dev.kubereflex.event.classified', 'dev.kubereflex.recovery.performed'], 'each event stored once')
  const problems = (await (await fetch(`${persist.url}/api/v1/problems?namespace=${ns}`, { headers: auth })).json()) as { items: unknown[] }
  t.match(problems.items, [{ fingerprint: classified.fingerprint, alert: { outcome: 'sent' }, recovery: { outcome: 'performed' } }], 'the problem with its alert and its recovery')

  // The archive: persist's outbox relay published the three stored events to Kafka.
  const onTopic = await eventually('three records on the archive topic', async () => {
    const n = (await kafkaAdmin.fetchTopicOffsets(topic)).reduce((s, x) => s + Number(BigInt(x.high) - BigInt(x.low)), 0)
    return n >= 3 ? n : undefined
  })
  t.ok(onTopic >= 3, `the archive holds the stored events (${String(onTopic)} records)`)

  // SIGTERM, as Knative scales a function to zero: each finishes and exits 0.
  for (const fn of [classify, alert, autoRecover, persist]) {
    fn.child.kill('SIGTERM')
    const [code] = (await once(fn.child, 'exit')) as [number | null]
    t.equal(code, 0, `${fn.name}: exits 0 on SIGTERM`)
  }
})
