// The kustomize entry points build, and each overlay changes what it says it changes.
// Uses `kubectl kustomize` (kustomize v5 built into kubectl) when it is installed.
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parseAllDocuments } from 'yaml'
import { repoRoot } from '../cli/validate/helpers.js'

const run = promisify(execFile)
const kubectl = (process.env['PATH'] ?? '').split(path.delimiter).map((d) => path.join(d, 'kubectl')).find((p) => existsSync(p))

interface Obj { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; data?: Record<string, string> }

async function build(dir: string): Promise<Obj[]> {
  const { stdout } = await run(kubectl ?? 'kubectl', ['kustomize', path.join(repoRoot, dir)], { maxBuffer: 16 * 1024 * 1024 })
  return parseAllDocuments(stdout).map((d) => d.toJS() as Obj)
}

const names = (objs: Obj[], kind: string): string[] => objs.filter((o) => o.kind === kind).map((o) => o.metadata.name).sort()

void t.test('kustomize builds', { skip: kubectl === undefined ? 'kubectl not installed' : false }, async (t) => {
  const base = await build('knative')
  t.same(names(base, 'Trigger'), ['kube-reflex-alert', 'kube-reflex-alert-escalation', 'kube-reflex-auto-recover', 'kube-reflex-classify', 'kube-reflex-persist'])
  t.same(base.filter((o) => o.apiVersion === 'serving.knative.dev/v1').map((o) => o.metadata.name).sort(), ['kube-reflex-alert', 'kube-reflex-auto-recover', 'kube-reflex-classify', 'kube-reflex-persist'])
  t.same(names(base, 'Secret'), [], 'Secret templates are never applied')
  t.same(names(base, 'KafkaSource'), [])
  t.equal(base.find((o) => o.kind === 'Broker')?.metadata.annotations?.['eventing.knative.dev/broker.class'], 'MTChannelBasedBroker')
  t.equal(base.find((o) => o.metadata.name === 'kube-reflex-recovery-policy')?.data?.['mode'], 'dry-run')

  const enforce = await build('knative/overlays/enforce')
  t.equal(enforce.find((o) => o.metadata.name === 'kube-reflex-recovery-policy')?.data?.['mode'], 'enforce')

  const kafkaBroker = await build('knative/overlays/kafka-broker')
  t.equal(kafkaBroker.find((o) => o.kind === 'Broker')?.metadata.annotations?.['eventing.knative.dev/broker.class'], 'Kafka')
  t.ok(kafkaBroker.some((o) => o.metadata.name === 'kube-reflex-kafka-broker-config'))

  const kafkaSource = await build('knative/overlays/kafka-source')
  t.same(names(kafkaSource, 'KafkaSource'), ['kube-reflex-remote-clusters'])

  const knFunc = await build('knative/overlays/kn-func')
  t.same(knFunc.filter((o) => o.apiVersion === 'serving.knative.dev/v1'), [], 'kn func deploy owns the Services')
  t.equal(names(knFunc, 'Trigger').length, 5)

  const monitoring = await build('knative/monitoring')
  t.same(monitoring.map((o) => o.kind).sort(), ['ConfigMap', 'PrometheusRule', 'Service', 'ServiceMonitor'])
})
