import t from 'tap'
import { silentLogger } from '../../shared/logger.js'
import { LocalBroker, type DeliveryReport } from '../../broker/broker.js'
import { loadBroker, loadTriggers } from '../../broker/manifests.js'
import { destinationResolver } from '../../broker/resolve.js'
import { brokerYaml, event, startManifestBroker, startReceiver, triggerYaml, waitFor, writeManifests } from './helpers.js'

const typeFilter = `  filter:\n    attributes:\n      type: x.test`

void t.test('a restarted broker redelivers only what was not acknowledged, per trigger', async (t) => {
  const fast = await startReceiver(() => ({ status: 202 }))
  const stuck = await startReceiver(() => ({ status: 202, delayMs: 60_000 }))
  t.teardown(() => fast.close())
  t.teardown(() => stuck.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), { fast: triggerYaml('fast', fast.url, typeFilter), slow: triggerYaml('slow', stuck.url, typeFilter) })
  const start = (): Promise<LocalBroker> => startManifestBroker(dir, files)
  const first = await start()
  for (let i = 0; i < 5; i++) await first.accept(event(`e${i}`, 'x.test'))
  await waitFor(() => fast.received.length === 5 && stuck.received.length === 5)
  await first.close(50) // the slow deliveries are abandoned unfinished
  t.equal(first.depth, 5)

  stuck.answer = () => ({ status: 202 })
  const second = await start()
  await second.idle()
  t.equal(fast.received.length, 5, 'nothing redelivered to the trigger that had acknowledged')
  t.same(stuck.received.map((r) => r.event.id).sort(), ['e0', 'e0', 'e1', 'e1', 'e2', 'e2', 'e3', 'e3', 'e4', 'e4'], 'the unacknowledged deliveries are made again (at-least-once)')
  t.equal(second.depth, 0)
  await second.close()
})

void t.test('back-pressure: ready() waits while the queue is full', async (t) => {
  const sub = await startReceiver(() => ({ status: 202, delayMs: 100 }))
  t.teardown(() => sub.close())
  const dir = t.testdir({})
  const files = await writeManifests(dir, brokerYaml(), { a: triggerYaml('a', sub.url, typeFilter) })
  const broker = await startManifestBroker(dir, files, {
    maxQueued: 3,
    concurrency: 2,
  })
  t.teardown(() => broker.close())
  let maxDepth = 0
  for (let i = 0; i < 12; i++) {
    await broker.ready()
    maxDepth = Math.max(maxDepth, broker.depth)
    await broker.accept(event(`e${i}`, 'x.test'))
  }
  await broker.idle()
  t.ok(maxDepth <= 3, `queue depth stayed at or below 3 (max ${maxDepth})`)
  t.equal(sub.received.length, 12)
})

void t.test('routing with the shipped Trigger files (fixture copies): who receives what', async (t) => {
  const receivers = new Map<string, Awaited<ReturnType<typeof startReceiver>>>()
  for (const fn of ['classify', 'alert', 'auto-recover', 'persist']) {
    const r = await startReceiver()
    receivers.set(`kube-reflex-${fn}`, r)
    t.teardown(() => r.close())
  }
  const dir = t.testdir({})
  const fixtures = new URL('./fixtures/', import.meta.url).pathname
  const reports: DeliveryReport[] = []
  const broker = await LocalBroker.start({
    broker: await loadBroker(`${fixtures}knative/broker.yaml`),
    triggers: await loadTriggers(`${fixtures}triggers`),
    resolve: destinationResolver(new Map([...receivers].map(([k, v]) => [k, v.url]))),
    dataDir: `${dir}/data`,
    log: silentLogger,
    observer: { delivered: (r) => reports.push(r) },
  })
  t.teardown(() => broker.close())
  const cases: [string, string, Record<string, string>, string[]][] = [
    ['add', 'dev.knative.apiserver.resource.add', {}, ['kube-reflex-classify']],
    ['ref', 'dev.knative.apiserver.ref.update', {}, ['kube-reflex-classify']],
    ['kafka', 'dev.knative.kafka.event', {}, ['kube-reflex-classify']],
    ['ping', 'dev.knative.sources.ping', {}, ['kube-reflex-classify']],
    ['crit', 'dev.kubereflex.event.classified', { severity: 'critical', action: 'restart-pod' }, ['kube-reflex-alert', 'kube-reflex-auto-recover', 'kube-reflex-persist']],
    ['warn', 'dev.kubereflex.event.classified', { severity: 'warning', action: 'none' }, ['kube-reflex-alert', 'kube-reflex-persist']],
    ['info', 'dev.kubereflex.event.classified', { severity: 'info', action: 'none' }, ['kube-reflex-persist']],
    ['esc', 'dev.kubereflex.recovery.skipped', { severity: 'critical' }, ['kube-reflex-alert', 'kube-reflex-persist']],
    ['skip', 'dev.kubereflex.recovery.skipped', {}, ['kube-reflex-persist']],
    ['sent', 'dev.kubereflex.alert.sent', {}, ['kube-reflex-persist']],
    ['other', 'com.example.unrelated', {}, []],
  ]
  for (const [id, type, ext] of cases) await broker.accept(event(id, type, ext))
  await broker.idle()
  for (const [id, , , expected] of cases) {
    const got = [...receivers].filter(([, r]) => r.received.some((x) => x.event.id === id)).map(([name]) => name).sort()
    t.same(got, expected.sort(), id)
  }
})
