// Realistic inputs for alert's tests: classified events as classify emits them (real kubelet texts)
// and the escalation auto-recover sends when its budget is spent.
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { EVENT_TYPES, SOURCES, type ClassifiedData } from '../../../shared/contracts.js'
import { deterministicId } from '../../../shared/ids.js'
import type { FunctionContext } from '../../../shared/host.js'
import { silentLogger } from '../../../shared/logger.js'
import type { Logger } from 'pino'
import type { Test } from 'tap'
import { openDatabase, type Database } from '../../../shared/db.js'
import { AlertStore } from '../../../functions/alert/store.js'

export function crashLoopData(overrides: Partial<ClassifiedData> = {}): ClassifiedData {
  return {
    cluster: 'prod-eu-1',
    namespace: 'shop',
    object: { kind: 'Pod', name: 'checkout-7d9f8b6c5d-x2x9k', namespace: 'shop', uid: '6f1c1c2e-4a0b-4d0e-9d6f-2b9c3c1e7a11', apiVersion: 'v1' },
    workload: { kind: 'Deployment', name: 'checkout', inferred: false },
    container: 'app',
    reason: 'BackOff',
    message: 'Back-off restarting failed container app in pod checkout-7d9f8b6c5d-x2x9k_shop(6f1c1c2e-4a0b-4d0e-9d6f-2b9c3c1e7a11)',
    eventType: 'Warning',
    firstTime: '2026-11-28T04:00:00Z',
    lastTime: '2026-11-28T04:05:00Z',
    count: 7,
    reportingComponent: 'kubelet',
    reportingHost: 'node-a',
    severity: 'critical',
    category: 'crashloop',
    action: 'restart-pod',
    rule: 'crashloop-backoff',
    runbook: 'https://runbooks.example.com/crashloop',
    fingerprint: 'fp-shop-deployment-checkout-crashloop',
    input: { source: 'https://10.96.0.1:443', id: 'a1b2c3', type: 'dev.knative.apiserver.resource.add' },
    ...overrides,
  }
}

let seq = 0

/** A classified event; each call gets a fresh input id unless given one (a new occurrence). */
export function classifiedEvent(data: Partial<ClassifiedData> = {}, inputId?: string): CloudEventV1 {
  const id = inputId ?? `input-${++seq}-${Math.random().toString(16).slice(2)}`
  const d = crashLoopData({ ...data, input: { source: 'https://10.96.0.1:443', id, type: 'dev.knative.apiserver.resource.add' } })
  return {
    specversion: '1.0',
    id: deterministicId(SOURCES.classify, d.input.source, d.input.id),
    source: SOURCES.classify,
    type: EVENT_TYPES.classified,
    subject: `${d.namespace ?? '_cluster'}/Deployment/checkout`,
    time: d.lastTime ?? '2026-11-28T04:05:00Z',
    datacontenttype: 'application/json',
    severity: d.severity,
    category: d.category,
    action: d.action,
    reason: d.reason,
    fingerprint: d.fingerprint,
    data: d,
  }
}

export function escalationEvent(fingerprint = 'fp-shop-deployment-checkout-crashloop', id = 'esc-1'): CloudEventV1 {
  return {
    specversion: '1.0',
    id,
    source: SOURCES.autoRecover,
    type: EVENT_TYPES.recoverySkipped,
    subject: 'shop/Deployment/checkout',
    severity: 'critical',
    fingerprint,
    data: { fingerprint, reason: 'BudgetExhausted', message: 'recovery budget spent: 5 actions in 10m; escalating to a human', target: { kind: 'Deployment', name: 'checkout', namespace: 'shop' }, action: 'restart-pod' },
  }
}

export function ctx(log: Logger = silentLogger, signal: AbortSignal = new AbortController().signal): FunctionContext {
  return { log, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', signal, receivedAt: Date.now() }
}

/** A controllable clock. */
export function clock(start = Date.parse('2026-11-28T04:05:00Z')): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => void (t += ms) }
}

export const WEBHOOK_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'

/**
 * One embedded database per test file (PGlite takes seconds to start on a busy machine); each test
 * starts from empty alert tables.
 */
export async function sharedDatabase(t: Test): Promise<{ db: Database; reset: () => Promise<void> }> {
  const dir = t.testdir({})
  const db = await openDatabase({ dataDir: dir })
  t.teardown(() => db.close())
  await AlertStore.open(db)
  return { db, reset: async () => void (await db.query('TRUNCATE alert_events, alert_groups, alert_notifications, alert_sink_budget')) }
}
