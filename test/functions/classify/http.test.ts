// classify over real HTTP, both content modes, and random input that must never produce a 5xx.
import t from 'tap'
import fc from 'fast-check'
import { createClassify } from '../../../functions/classify/index.js'
import { loadConfig } from '../../../functions/classify/config.js'
import { toBinary, toStructured } from '../../../shared/cloudevent.js'
import { apiServerEvent, kafkaRecordEvent } from '../../helpers/events.js'
import { coreEvent, pod } from '../../helpers/k8s-fixtures.js'
import { startHost } from '../../helpers/host.js'

const fn = createClassify(loadConfig({}))

t.test('an ApiServerSource event in binary mode gets a classified reply', async (t) => {
  const host = await startHost(t, fn)
  const input = apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)' }))
  const { headers, body } = toBinary(input)
  const res = await fetch(host.url, { method: 'POST', headers: { ...headers, prefer: 'reply' }, body })
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-type'), 'dev.kubereflex.event.classified')
  t.equal(res.headers.get('ce-severity'), 'critical')
  t.equal(res.headers.get('ce-category'), 'crashloop')
  t.equal(res.headers.get('ce-action'), 'restart-pod')
  t.equal(res.headers.get('ce-reason'), 'BackOff')
  t.equal(res.headers.get('ce-subject'), 'shop/Deployment/web')
  const data = (await res.json()) as { input: { id: string } }
  t.equal(data.input.id, input.id)
})

t.test('structured mode gives the same answer as binary mode', async (t) => {
  const host = await startHost(t, fn)
  const input = apiServerEvent(pod({ containers: [{ waiting: { reason: 'ImagePullBackOff' } }] }), 'update')
  const s = await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: toStructured(input) })
  const { headers, body } = toBinary(input)
  const b = await fetch(host.url, { method: 'POST', headers, body })
  t.equal(s.status, 200)
  t.equal(s.headers.get('ce-id'), b.headers.get('ce-id'))
  t.same(await s.json(), await b.json())
})

t.test('Kafka records in binary mode (raw bytes, no content type)', async (t) => {
  const host = await startHost(t, fn)
  const input = kafkaRecordEvent(coreEvent({ reason: 'FailedMount', message: 'MountVolume.SetUp failed for volume "data"' }))
  const { headers, body } = toBinary(input)
  delete headers['content-type']
  const res = await fetch(host.url, { method: 'POST', headers, body })
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-category'), 'volume')
})

t.test('data that fits no input shape → 400, not retried', async (t) => {
  const host = await startHost(t, fn)
  const cases: [string, Record<string, string>, string][] = [
    ['resource event without an object', { 'ce-type': 'dev.knative.apiserver.resource.add' }, '"just a string"'],
    ['resource event, object without metadata', { 'ce-type': 'dev.knative.apiserver.resource.update' }, '{"kind":"Pod"}'],
    ['reference event without name', { 'ce-type': 'dev.knative.apiserver.ref.add' }, '{"kind":"Pod","apiVersion":"v1"}'],
    ['Kafka record that is not JSON', { 'ce-type': 'dev.knative.kafka.event', 'content-type': 'application/octet-stream' }, 'hello'],
    ['Kafka record that is no Kubernetes shape', { 'ce-type': 'dev.knative.kafka.event' }, '{"hello":"world"}'],
    ['core Event without a reason', { 'ce-type': 'dev.knative.kafka.event' }, '{"involvedObject":{"kind":"Pod","name":"x"}}'],
  ]
  for (const [name, h, body] of cases) {
    const res = await fetch(host.url, { method: 'POST', headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s', 'content-type': 'application/json', ...h }, body })
    t.equal(res.status, 400, name)
    t.equal(((await res.json()) as { code: string }).code, 'EVENT_DATA_INVALID', name)
  }
})

t.test('property: random input never yields a 5xx', async (t) => {
  const host = await startHost(t, fn)
  const types = ['dev.knative.apiserver.resource.add', 'dev.knative.apiserver.resource.update', 'dev.knative.apiserver.resource.delete', 'dev.knative.apiserver.ref.add', 'dev.knative.kafka.event', 'com.example.x']
  const kubeish = fc.oneof(
    fc.anything(),
    fc.record({ kind: fc.constantFrom('Pod', 'Event', 'Deployment', 'Node'), apiVersion: fc.constantFrom('v1', 'apps/v1', 'events.k8s.io/v1'), metadata: fc.anything(), status: fc.anything(), involvedObject: fc.anything(), regarding: fc.anything(), reason: fc.anything(), message: fc.anything() }, { requiredKeys: [] }),
    fc.record({ eventType: fc.string(), kubernetes: fc.anything(), timestamp: fc.anything() }, { requiredKeys: [] }),
  )
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...types), kubeish, fc.boolean(), async (type, data, structured) => {
      const event = { specversion: '1.0', id: 'p', source: '/prop', type, data }
      const res = structured
        ? await fetch(host.url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) })
        : await fetch(host.url, { method: 'POST', headers: { 'ce-specversion': '1.0', 'ce-id': 'p', 'ce-source': '/prop', 'ce-type': type, 'content-type': 'application/json' }, body: JSON.stringify(data) ?? '' })
      await res.arrayBuffer()
      return res.status < 500
    }),
    { numRuns: 300 },
  )
  t.pass('300 random events, no 5xx')
})

t.test('property: random bytes and headers never yield a 5xx', async (t) => {
  const host = await startHost(t, fn)
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), fc.dictionary(fc.constantFrom('ce-id', 'ce-source', 'ce-type', 'ce-specversion', 'ce-time', 'content-type', 'ce-x'), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, ''))), async (bytes, headers) => {
      const res = await fetch(host.url, { method: 'POST', headers, body: bytes })
      await res.arrayBuffer()
      return res.status < 500
    }),
    { numRuns: 300 },
  )
  t.pass('300 random requests, no 5xx')
})
