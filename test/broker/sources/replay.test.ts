import t from 'tap'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { silentLogger } from '../../../shared/logger.js'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { apiServerResourceEvent, guessResource, selfLink } from '../../../broker/sources/apiserver-event.js'
import { replayLineToEvent, replaySource } from '../../../broker/sources/replay.js'
import type { Ingress } from '../../../broker/sources/source.js'

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'checkout-7d9f8-abcde', namespace: 'shop', uid: 'p1' },
  status: { phase: 'Running', containerStatuses: [{ name: 'checkout', restartCount: 5, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
}
const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'checkout', namespace: 'shop' }, spec: { replicas: 3 } }
const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } }

void t.test('plural guessing and self links as the ApiServerSource adapter builds them', (t) => {
  t.equal(guessResource('Pod'), 'pods')
  t.equal(guessResource('Event'), 'events')
  t.equal(guessResource('Ingress'), 'ingresses')
  t.equal(guessResource('NetworkPolicy'), 'networkpolicies')
  t.equal(guessResource('Endpoints'), 'endpoints')
  t.equal(selfLink('v1', 'Pod', 'shop', 'web'), '/apis/v1/namespaces/shop/pods/web', 'core group reads /apis/v1')
  t.equal(selfLink('apps/v1', 'Deployment', 'shop', 'web'), '/apis/apps/v1/namespaces/shop/deployments/web')
  t.equal(selfLink('v1', 'Node', '', 'node-1'), '/apis/v1/namespaces//nodes/node-1', 'cluster-scoped objects keep the empty namespace')
  t.end()
})

void t.test('a bare object is wrapped as resource.add, then resource.update, with a fresh UUID each time', (t) => {
  const seen = new Set<string>()
  const a = replayLineToEvent(JSON.stringify(pod), seen, 'https://10.96.0.1:443')
  const b = replayLineToEvent(JSON.stringify(pod), seen, 'https://10.96.0.1:443')
  const d = replayLineToEvent(JSON.stringify(deployment), seen, 'https://10.96.0.1:443')
  if (!('event' in a) || !('event' in b) || !('event' in d)) throw new Error('expected events')
  t.match(a.event, {
    specversion: '1.0',
    type: 'dev.knative.apiserver.resource.add',
    source: 'https://10.96.0.1:443',
    subject: '/apis/v1/namespaces/shop/pods/checkout-7d9f8-abcde',
    datacontenttype: 'application/json',
    kind: 'Pod',
    name: 'checkout-7d9f8-abcde',
    namespace: 'shop',
    apiversion: 'v1',
  })
  t.same(a.event.data, pod)
  t.match(a.event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  t.equal(b.event.type, 'dev.knative.apiserver.resource.update')
  t.not(a.event.id, b.event.id)
  t.equal(d.event.subject, '/apis/apps/v1/namespaces/shop/deployments/checkout')
  t.equal(d.event.apiversion, 'apps/v1')
  const n = apiServerResourceEvent('delete', node, 'https://api', 'fixed')
  t.match(n, { type: 'dev.knative.apiserver.resource.delete', namespace: '', id: 'fixed' })
  t.end()
})

void t.test('CloudEvent lines pass through; data_base64 becomes bytes; bad lines are reported', (t) => {
  const seen = new Set<string>()
  const ce = replayLineToEvent('{"specversion":"1.0","id":"x1","source":"/s","type":"t","severity":"warning","data":{"a":1}}', seen, 'u')
  t.same('event' in ce ? ce.event : undefined, { specversion: '1.0', id: 'x1', source: '/s', type: 't', severity: 'warning', data: { a: 1 } })
  const bin = replayLineToEvent('{"specversion":"1.0","id":"x2","source":"/s","type":"t","data_base64":"AAEC"}', seen, 'u')
  t.same('event' in bin ? bin.event.data : undefined, Buffer.from([0, 1, 2]))
  t.match(replayLineToEvent('{"specversion":"1.0","source":"/s","type":"t"}', seen, 'u'), { error: /id is required/ })
  t.match(replayLineToEvent('not json', seen, 'u'), { error: 'not valid JSON' })
  t.match(replayLineToEvent('[1,2]', seen, 'u'), { error: /neither/ })
  t.end()
})

function fakeIngress(cursors = new Map<string, number>()): Ingress & { events: CloudEventV1[]; positions: number[] } {
  const events: CloudEventV1[] = []
  const positions: number[] = []
  return {
    events,
    positions,
    cursors,
    ready: () => Promise.resolve(),
    accept: (e, cursor) => {
      events.push(e)
      if (cursor !== undefined) positions.push(cursor.position)
      return Promise.resolve()
    },
  }
}

void t.test('replay file: order, cursor per line, resume after a cursor, --rate pacing', async (t) => {
  const dir = t.testdir({})
  const file = path.join(dir, 'scenario.ndjson')
  await writeFile(file, [JSON.stringify(pod), '', '# a comment', 'garbage', JSON.stringify(deployment), JSON.stringify(pod), '{"specversion":"1.0","id":"c","source":"/s","type":"t"}'].join('\n'))
  const ingress = fakeIngress()
  const sleeps: number[] = []
  let clock = 0
  const src = replaySource({
    file,
    rate: 10,
    log: silentLogger,
    now: () => clock,
    sleep: (ms) => {
      sleeps.push(ms)
      clock += ms
      return Promise.resolve()
    },
  })
  await src.run(ingress, new AbortController().signal)
  t.same(
    ingress.events.map((e) => e.type),
    ['dev.knative.apiserver.resource.add', 'dev.knative.apiserver.resource.add', 'dev.knative.apiserver.resource.update', 't'],
  )
  t.same(ingress.positions, [1, 5, 6, 7], 'cursor = line number')
  t.same(src.stats, { accepted: 4, rejected: 1 })
  t.same(sleeps, [100, 100, 100], '10 events/s: one every 100 ms after the first')

  const resumed = fakeIngress(new Map([[`replay:${file}`, 5]]))
  await replaySource({ file, log: silentLogger }).run(resumed, new AbortController().signal)
  t.same(
    resumed.events.map((e) => e.type),
    ['dev.knative.apiserver.resource.update', 't'],
    'lines up to 5 were accepted by the previous run; line 6 is still an update',
  )
})
