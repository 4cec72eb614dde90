// The reply classify sends: `dev.kubereflex.event.classified` with the extension attributes Triggers filter on.
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { EVENT_TYPES, SOURCES, type ClassifiedData } from '../../shared/contracts.js'
import { deterministicId } from '../../shared/ids.js'

function subjectOf(data: ClassifiedData): string {
  const target = data.workload ?? data.object
  return `${data.namespace ?? '_cluster'}/${target.kind}/${target.name}`
}

/** The classified CloudEvent; its id depends only on the input's (source, id): redelivery → same id. */
export function toClassifiedEvent(data: ClassifiedData, fallbackTime: string): CloudEventV1 {
  return {
    specversion: '1.0',
    id: deterministicId(SOURCES.classify, data.input.source, data.input.id),
    source: SOURCES.classify,
    type: EVENT_TYPES.classified,
    subject: subjectOf(data),
    time: data.lastTime ?? fallbackTime,
    datacontenttype: 'application/json',
    severity: data.severity,
    category: data.category,
    action: data.action,
    reason: data.reason,
    fingerprint: data.fingerprint,
    data,
  }
}
