// CloudEvent builders for tests: how each source really delivers a payload.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { wrapAsApiServerSource } from '../../shared/apiserver-source.js'

let n = 0
export function apiServerEvent(object: Record<string, unknown>, verb: 'add' | 'update' | 'delete' = 'add'): CloudEventV1 {
  n++
  return wrapAsApiServerSource(object, { source: 'https://10.96.0.1:443', verb, id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, time: '2026-11-28T08:05:01Z' })
}

/** A non-CloudEvent Kafka record as KafkaSource delivers it (DESIGN.md "Inputs"). */
export function kafkaRecordEvent(value: unknown, partition = 0, offset = 42): CloudEventV1 {
  return {
    specversion: '1.0',
    id: `partition:${partition}/offset:${offset}`,
    source: '/apis/v1/namespaces/kube-reflex/kafkasources/remote-clusters#k8s-events',
    type: 'dev.knative.kafka.event',
    subject: `partition:${partition}#${offset}`,
    time: '2026-11-28T08:05:02Z',
    key: 'edge-eu-1',
    partitionkey: 'edge-eu-1',
    data: typeof value === 'string' ? Buffer.from(value) : Buffer.from(JSON.stringify(value)),
  }
}
