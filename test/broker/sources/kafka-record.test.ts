import t from 'tap'
import { kafkaRecordToEvent, type KafkaRecordLike } from '../../../broker/sources/kafka-record.js'

const id = { namespace: 'kube-reflex', name: 'kube-reflex-remote-clusters' }
const base: KafkaRecordLike = { topic: 'kube-reflex-events', partition: 2, offset: '41', timestamp: '1764300000000', key: null, value: null, headers: {} }

void t.test('a plain record becomes dev.knative.kafka.event', (t) => {
  const value = { kind: 'Event', apiVersion: 'v1', reason: 'OOMKilling', message: 'Memory cgroup out of memory: Killed process 4242 (java)' }
  const e = kafkaRecordToEvent({ ...base, key: Buffer.from('shop/checkout'), value: Buffer.from(JSON.stringify(value)), headers: { 'X-Cluster': Buffer.from('eu-1'), trace_id: 'abc' } }, id)
  t.same(e, {
    specversion: '1.0',
    id: 'partition:2/offset:41',
    source: '/apis/v1/namespaces/kube-reflex/kafkasources/kube-reflex-remote-clusters#kube-reflex-events',
    type: 'dev.knative.kafka.event',
    subject: 'partition:2#41',
    time: new Date(1764300000000).toISOString(),
    key: 'shop/checkout',
    partitionkey: 'shop/checkout',
    kafkaheaderxcluster: 'eu-1',
    kafkaheadertraceid: 'abc',
    datacontenttype: 'application/json',
    data: value,
  })
  const raw = kafkaRecordToEvent({ ...base, value: Buffer.from('not json at all') }, id)
  t.same(raw.data, Buffer.from('not json at all'))
  t.equal(raw.key, undefined, 'no key, no key extension')
  t.end()
})

void t.test('binary-mode CloudEvent records pass through unchanged', (t) => {
  const e = kafkaRecordToEvent(
    {
      ...base,
      value: Buffer.from('{"x":1}'),
      headers: { ce_specversion: Buffer.from('1.0'), ce_id: Buffer.from('abc'), ce_source: Buffer.from('/remote/cluster-b'), ce_type: Buffer.from('dev.knative.apiserver.resource.add'), ce_severity: Buffer.from('x'), 'content-type': Buffer.from('application/json') },
    },
    id,
  )
  t.same(e, { specversion: '1.0', id: 'abc', source: '/remote/cluster-b', type: 'dev.knative.apiserver.resource.add', severity: 'x', datacontenttype: 'application/json', data: { x: 1 } })
  t.end()
})

void t.test('structured-mode CloudEvent records pass through; invalid ones are refused', (t) => {
  const ce = { specversion: '1.0', id: 's1', source: '/remote', type: 'dev.knative.kafka.event', data: { a: 1 } }
  t.same(kafkaRecordToEvent({ ...base, value: Buffer.from(JSON.stringify(ce)), headers: { 'content-type': 'application/cloudevents+json; charset=utf-8' } }, id), ce)
  t.throws(() => kafkaRecordToEvent({ ...base, value: Buffer.from('{"specversion":"1.0"}'), headers: { 'content-type': 'application/cloudevents+json' } }, id), { code: 'EVENT_INVALID' })
  t.end()
})
