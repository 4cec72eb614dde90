// The function as the host runs it: config from the environment (fromEnv through the CLI registry), real
// HTTP in-process, binary replies, the status table (400 bad data, 503 + Retry-After when the API server
// is down), and the metrics on /metrics.
import t from 'tap'
import type { Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createFunction } from '../../../cli/registry.js'
import { createHost } from '../../../shared/host.js'
import { silentLogger } from '../../../shared/logger.js'
import { replyId } from '../../../functions/auto-recover/recovery-event.js'
import { classifiedEvent } from './helpers.js'

const DOWN_KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: down
  cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true }
users:
- name: nobody
  user: { token: not-a-real-token }
contexts:
- name: down
  context: { cluster: down, user: nobody }
current-context: down
`

async function serve(t: Test, env: Record<string, string>): Promise<string> {
  const fn = await createFunction('auto-recover', env, silentLogger)
  const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log: silentLogger, mounts: [{ fn, path: '' }] })
  await host.listen()
  t.teardown(() => host.close())
  return host.url
}

function post(url: string, event: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(event) })
}

void t.test('offline (no KUBECONFIG): 200 with a binary recovery.planned reply, metrics exposed', async (t) => {
  const dir = t.testdir({ 'policy.yaml': 'optIn: { namespaces: [shop] }\n' })
  const url = await serve(t, { KUBE_REFLEX_DATA_DIR: dir, RECOVERY_POLICY_FILE: join(dir, 'policy.yaml') })
  const event = classifiedEvent()
  const res = await post(url, event)
  t.equal(res.status, 200)
  t.equal(res.headers.get('ce-type'), 'dev.kubereflex.recovery.planned')
  t.equal(res.headers.get('ce-id'), replyId(event))
  t.equal(res.headers.get('ce-source'), '/kube-reflex/auto-recover')
  t.equal(res.headers.get('ce-fingerprint'), event.fingerprint)
  t.equal(res.headers.get('ce-severity'), 'info')
  t.match(await res.json(), { offline: true, mode: 'dry-run', reason: 'ACTION_OFFLINE', optIn: 'policy optIn.namespaces' })
  const again = await post(url, event)
  t.equal(again.headers.get('ce-id'), replyId(event), 'redelivery: same reply id')

  const bad = await post(url, { ...event, id: 'bad-1', data: { ...(event.data as object), action: 'reboot' } })
  t.equal(bad.status, 400)
  t.match(await bad.json(), { code: 'EVENT_DATA_INVALID' })
  const other = await post(url, { ...event, id: 'other-1', type: 'dev.kubereflex.alert.sent' })
  t.equal(other.status, 202)

  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /recovery_actions_total\{action="restart-pod",outcome="planned",reason="ACTION_OFFLINE"\} 1/, 'the redelivery is not counted twice')
  t.match(metrics, /recovery_budget_remaining\{scope="global"\} 29/)
  t.equal((await fetch(`${url}/health/readiness`)).status, 200)
})

void t.test('API server down: 503 with Retry-After, no internal detail', async (t) => {
  const dir = t.testdir({ kubeconfig: DOWN_KUBECONFIG })
  const url = await serve(t, { KUBE_REFLEX_DATA_DIR: dir, KUBECONFIG: join(dir, 'kubeconfig'), RECOVERY_MODE: 'enforce' })
  const res = await post(url, classifiedEvent())
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '5')
  t.same(await res.json(), { code: 'DOWNSTREAM_UNAVAILABLE', message: 'temporarily unavailable, retry later' })
})

void t.test('a kubeconfig unreadable at the first event is read again at the next', async (t) => {
  const dir = t.testdir({ kubeconfig: 'clusters: [\n' })
  const url = await serve(t, { KUBE_REFLEX_DATA_DIR: dir, KUBECONFIG: join(dir, 'kubeconfig'), RECOVERY_MODE: 'enforce' })
  const first = await post(url, classifiedEvent())
  t.equal(first.status, 500, 'the broken kubeconfig is an error')
  writeFileSync(join(dir, 'kubeconfig'), DOWN_KUBECONFIG)
  const next = await post(url, classifiedEvent())
  t.equal(next.status, 503, 'the next event reads it again: now the client exists and the API server is down')
})

void t.test('bad configuration fails at start-up and names the variable', async (t) => {
  const dir = t.testdir({ 'bad.yaml': 'targetBudget: { max: many }\n' })
  await t.rejects(createFunction('auto-recover', { RECOVERY_MODE: 'yolo', KUBE_REFLEX_DATA_DIR: dir }, silentLogger), /RECOVERY_MODE must be one of dry-run, enforce \(got 'yolo'\)/)
  await t.rejects(createFunction('auto-recover', { KUBECONFIG: join(dir, 'missing'), KUBE_REFLEX_DATA_DIR: dir }, silentLogger), /KUBECONFIG names a file that does not exist/)
  await t.rejects(createFunction('auto-recover', { RECOVERY_POLICY_FILE: join(dir, 'bad.yaml'), KUBE_REFLEX_DATA_DIR: dir }, silentLogger), /RECOVERY_POLICY_FILE: .*bad\.yaml: targetBudget\.max must be integer/)
})
