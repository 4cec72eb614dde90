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

void t.test('records the mapping cannot carry are refused with EVENT_INVALID naming the problem; odd timestamps and deep JSON are not errors', (t) => {
  for (const timestamp of ['-1', '', 'yesterday', '99999999999999999999']) {
    const e = kafkaRecordToEvent({ ...base, timestamp, value: Buffer.from('{"a":1}') }, id)
    t.equal(e.time, undefined, `timestamp ${JSON.stringify(timestamp)}: no time attribute rather than a failure`)
  }
  t.throws(() => kafkaRecordToEvent({ ...base, headers: { 'x-bad': Buffer.from('a\u0007b') } }, id), { code: 'EVENT_INVALID', message: /header xbad \(kafkaheaderxbad\) contains control characters/ })
  t.throws(() => kafkaRecordToEvent({ ...base, key: Buffer.from('k\u0000') }, id), { code: 'EVENT_INVALID', message: /key contains control characters/ })
  const deep = Buffer.from(`${'['.repeat(50_000)}${']'.repeat(50_000)}`)
  const e = kafkaRecordToEvent({ ...base, value: deep }, id)
  t.same(e.data, deep, 'JSON nested 50,000 deep travels as its bytes, not as a value that would overflow the stack later')
  t.equal(e.datacontenttype, 'application/json')
  const structuredDeep = Buffer.from(`{"specversion":"1.0","id":"d","source":"/s","type":"t","data":${'['.repeat(50_000)}${']'.repeat(50_000)}}`)
  t.throws(() => kafkaRecordToEvent({ ...base, value: structuredDeep, headers: { 'content-type': 'application/cloudevents+json' } }, id), { code: 'EVENT_INVALID', message: /data nests deeper than 256 levels/ })
  t.throws(() => kafkaRecordToEvent({ ...base, value: Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]), headers: { 'content-type': 'application/cloudevents+json' } }, id), { code: 'EVENT_INVALID', message: /not valid UTF-8/ })
  t.end()
})
