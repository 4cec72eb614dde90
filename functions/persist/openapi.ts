// OpenAPI 3.0.3 description of the query API, served at /api/v1/openapi.json. test/functions/persist
// checks that every mounted route is described here and that answers match these schemas.
import { CATEGORIES, SEVERITIES } from '../../shared/contracts.js'
import { version } from '../../shared/version.js'
import { LIMIT, POD_STATUSES } from './query-params.js'

type Schema = Record<string, unknown>

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const nullable = (type: string): Schema => ({ type, nullable: true })
const time = { type: 'string', format: 'date-time' }

const q = (name: string, description: string, schema: Schema = { type: 'string' }): Schema => ({ name, in: 'query', required: false, description, schema })
const path = (name: string, description: string, schema: Schema = { type: 'string' }): Schema => ({ name, in: 'path', required: true, description, schema })

const timeParam = (name: 'since' | 'until'): Schema =>
  q(name, `${name === 'since' ? 'Inclusive lower' : 'Exclusive upper'} bound: RFC 3339 timestamp, or a duration back from now (90s, 15m, 6h, 7d).`)
const page = [
  q('limit', `Page size (1–${LIMIT.max}, default ${LIMIT.default}).`, { type: 'integer', minimum: 1, maximum: LIMIT.max }),
  q('cursor', 'Opaque cursor: the nextCursor of the previous page of the same route.'),
]
const pageOf = (item: string): Schema => ({
  type: 'object',
  required: ['items', 'nextCursor'],
  additionalProperties: false,
  properties: { items: { type: 'array', items: ref(item) }, nextCursor: { type: 'string', nullable: true, description: 'null on the last page' } },
})
const errors = {
  '400': { description: 'Malformed query: every problem is listed', content: { 'application/json': { schema: ref('Error') } } },
  '401': { description: 'Bearer token missing or wrong (only when PERSIST_API_TOKEN is set)', content: { 'application/json': { schema: ref('Error') } } },
  '503': { description: 'Database unavailable; retry later', content: { 'application/json': { schema: ref('Error') } } },
}
const ok = (schema: Schema, description: string): Schema => ({ '200': { description, content: { 'application/json': { schema } } }, ...errors })
const get = (operationId: string, summary: string, parameters: Schema[], responses: Schema): Schema => ({ get: { operationId, summary, parameters, responses } })

const severityParam = q('severity', `Comma-separated severities (${SEVERITIES.join(', ')}).`)
const categoryParam = q('category', `Comma-separated categories (${CATEGORIES.join(', ')}, or a custom rule's).`)
const podEventParams = [timeParam('since'), timeParam('until'), ...page]

export function openApiDocument(): Schema {
  return {
    openapi: '3.0.3',
    info: { title: 'kube-reflex persist query API', version, description: 'Read side of the kube-reflex event store (docs/PERSIST.md). Lists are newest first with cursor pagination.' },
    servers: [{ url: '/' }],
    security: [{}, { bearer: [] }],
    paths: {
      '/api/v1/events': get(
        'listEvents',
        'Stored events, newest first, with filters',
        [
          q('namespace', 'Namespace of the involved object.'),
          severityParam,
          categoryParam,
          q('reason', 'Kubernetes reason (BackOff, OOMKilling, …).'),
          q('kind', 'Kind of the involved object (Pod, Deployment, …).'),
          q('name', 'Name of the involved object.'),
          q('fingerprint', "One problem's history: its classified events and its alert and recovery outcomes (the fingerprint /problems lists)."),
          q('type', 'CloudEvent type, or a prefix ending in .* (dev.kubereflex.alert.*).'),
          timeParam('since'),
          timeParam('until'),
          q('q', 'Case-insensitive substring of the message (at most 200 characters).'),
          ...page,
        ],
        ok(pageOf('StoredEvent'), 'A page of events'),
      ),
      '/api/v1/events/{source}/{id}': get(
        'getEvent',
        'One stored event by its CloudEvent source and id (each URL-encoded)',
        [path('source', 'CloudEvent source, URL-encoded (/kube-reflex/classify → %2Fkube-reflex%2Fclassify).'), path('id', 'CloudEvent id, URL-encoded.')],
        { ...ok(ref('StoredEvent'), 'The event'), '404': { description: 'No such event', content: { 'application/json': { schema: ref('Error') } } } },
      ),
      '/api/v1/pod-events': get('listPodEvents', 'The original read model: classified occurrences, newest first', podEventParams, ok(pageOf('PodEvent'), 'A page of pod events')),
      '/api/v1/pod-events/{namespace}': get('listPodEventsByNamespace', 'Pod events of one namespace', [path('namespace', 'Namespace.'), ...podEventParams], ok(pageOf('PodEvent'), 'A page of pod events')),
      '/api/v1/pod-events/status/{status}': get(
        'listPodEventsByStatus',
        'Pod events with one status',
        [path('status', 'CRITICAL, WARNING or NORMAL (case-insensitive).', { type: 'string', enum: [...POD_STATUSES, ...POD_STATUSES.map((s) => s.toLowerCase())] }), ...podEventParams],
        ok(pageOf('PodEvent'), 'A page of pod events'),
      ),
      '/api/v1/problems': get(
        'listProblems',
        'Problems by fingerprint (same problem on the same workload), most recently seen first',
        [
          q('status', "open (default: critical|warning seen within PERSIST_PROBLEM_OPEN_HOURS) or all.", { type: 'string', enum: ['open', 'all'] }),
          q('namespace', 'Namespace.'),
          severityParam,
          categoryParam,
          ...page,
        ],
        ok(pageOf('Problem'), 'A page of problems'),
      ),
      '/api/v1/stats': get(
        'getStats',
        'Counts per severity, category and namespace over exactly [since, until) (hour buckets, partial at the edges), and alert/recovery outcomes',
        [q('since', 'Window start (default 24h ago); RFC 3339 or a duration.'), q('until', 'Window end (default now).'), q('namespace', 'Only this namespace.')],
        ok(ref('Stats'), 'Counts'),
      ),
      '/api/v1/dead-letters': get(
        'listDeadLetters',
        'Events the Broker dead-lettered to persist, newest first',
        [q('code', 'knativeerrorcode (HTTP status of the last failed delivery).'), timeParam('since'), timeParam('until'), ...page],
        ok(pageOf('DeadLetter'), 'A page of dead letters'),
      ),
      '/api/v1/openapi.json': { get: { operationId: 'getOpenApi', summary: 'This document', security: [{}], responses: { '200': { description: 'OpenAPI 3.0.3 document', content: { 'application/json': { schema: { type: 'object' } } } } } } },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'PERSIST_API_TOKEN, when set' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string' }, message: { type: 'string' }, problems: { type: 'array', items: { type: 'object' } } },
        },
        StoredEvent: {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'id', 'type', 'occurredAt', 'receivedAt', 'severity', 'category', 'action', 'reason', 'namespace', 'kind', 'name', 'message', 'fingerprint', 'event'],
          properties: {
            source: { type: 'string' },
            id: { type: 'string' },
            type: { type: 'string' },
            occurredAt: time,
            receivedAt: time,
            severity: { type: 'string', nullable: true, enum: [...SEVERITIES, null] },
            category: nullable('string'),
            action: nullable('string'),
            reason: nullable('string'),
            namespace: nullable('string'),
            kind: nullable('string'),
            name: nullable('string'),
            message: nullable('string'),
            fingerprint: nullable('string'),
            event: { type: 'object', description: 'The CloudEvent in the JSON event format', required: ['specversion', 'id', 'source', 'type'] },
          },
        },
        PodEvent: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'namespace', 'kind', 'pod', 'reason', 'message', 'eventTime', 'status'],
          properties: {
            id: { type: 'string' },
            namespace: nullable('string'),
            kind: { type: 'string' },
            pod: { type: 'string', description: 'Name of the involved object (a Pod, or the Deployment/Node/… it is about)' },
            reason: { type: 'string' },
            message: { type: 'string' },
            eventTime: time,
            status: { type: 'string', enum: [...POD_STATUSES] },
          },
        },
        Problem: {
          type: 'object',
          additionalProperties: false,
          required: ['fingerprint', 'namespace', 'kind', 'name', 'subject', 'category', 'severity', 'reason', 'message', 'firstSeen', 'lastSeen', 'occurrences', 'alert', 'recovery'],
          properties: {
            fingerprint: { type: 'string' },
            namespace: nullable('string'),
            kind: nullable('string'),
            name: nullable('string'),
            subject: nullable('string'),
            category: nullable('string'),
            severity: nullable('string'),
            reason: nullable('string'),
            message: nullable('string'),
            firstSeen: time,
            lastSeen: time,
            occurrences: { type: 'integer', minimum: 0 },
            alert: {
              type: 'object',
              nullable: true,
              additionalProperties: false,
              required: ['outcome', 'at', 'sent'],
              properties: { outcome: { type: 'string' }, at: time, sent: { type: 'integer', minimum: 0 } },
            },
            recovery: {
              type: 'object',
              nullable: true,
              additionalProperties: false,
              required: ['outcome', 'action', 'at'],
              properties: { outcome: { type: 'string' }, action: nullable('string'), at: time },
            },
          },
        },
        Stats: {
          type: 'object',
          additionalProperties: false,
          required: ['since', 'until', 'total', 'bySeverity', 'byCategory', 'byNamespace', 'byType', 'buckets'],
          properties: {
            since: time,
            until: time,
            total: { type: 'integer', minimum: 0 },
            bySeverity: { type: 'object', additionalProperties: { type: 'integer' } },
            byCategory: { type: 'object', additionalProperties: { type: 'integer' } },
            byNamespace: { type: 'object', additionalProperties: { type: 'integer' }, description: "'' is events without a namespace (nodes)" },
            byType: { type: 'object', additionalProperties: { type: 'integer' }, description: 'alert and recovery outcomes by event type' },
            buckets: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['bucket', 'critical', 'warning', 'info'],
                properties: { bucket: time, critical: { type: 'integer' }, warning: { type: 'integer' }, info: { type: 'integer' } },
              },
            },
          },
        },
        DeadLetter: {
          type: 'object',
          additionalProperties: false,
          required: ['source', 'id', 'type', 'errorDest', 'errorCode', 'errorData', 'receivedAt', 'event'],
          properties: {
            source: { type: 'string' },
            id: { type: 'string' },
            type: { type: 'string' },
            errorDest: { type: 'string' },
            errorCode: nullable('string'),
            errorData: nullable('string'),
            receivedAt: time,
            event: { type: 'object' },
          },
        },
      },
    },
  }
}
