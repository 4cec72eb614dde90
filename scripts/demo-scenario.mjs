// Generates scenarios/demo.ndjson, the story `npm start` tells: a rollout that brings an image error, a
// crash-looping worker, an OOM, a node going NotReady, a missing secret, probes and scheduling trouble,
// plenty of normal noise, a redelivered event and records from another cluster through Kafka.
// Deterministic: run `node scripts/demo-scenario.mjs > scenarios/demo.ndjson` to regenerate.
import { createHash } from 'node:crypto'

const T0 = Date.parse('2026-11-28T09:00:00Z')
const at = (s) => new Date(T0 + s * 1000).toISOString().replace('.000Z', 'Z')
const uid = (...p) => {
  const h = createHash('sha1').update(p.join('/')).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}
const lines = []
let seq = 0

function event({ ns, kind = 'Pod', name, reason, message, type = 'Normal', component = 'kubelet', host = null, t, count = 1, first = t, fieldPath, api = 'v1' }) {
  seq++
  const involved = { kind, namespace: kind === 'Node' ? undefined : ns, name, uid: uid(ns ?? '', kind, name), apiVersion: api }
  if (fieldPath) involved.fieldPath = fieldPath
  lines.push({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${name}.${(0x17a000000 + seq).toString(16)}`, namespace: ns ?? 'default', uid: uid('event', String(seq)), resourceVersion: String(1000 + seq), creationTimestamp: at(first) },
    involvedObject: involved,
    reason,
    message,
    source: host === null ? { component } : { component, host },
    firstTimestamp: at(first),
    lastTimestamp: at(t),
    count,
    type,
    eventTime: null,
    reportingComponent: component,
    reportingInstance: host ?? '',
  })
}

function pod({ ns, name, rs, node, containers, t, phase = 'Running', reason, message, conditions }) {
  lines.push({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      uid: uid(ns, 'Pod', name),
      resourceVersion: String(5000 + lines.length),
      labels: rs ? { app: rs.split('-').slice(0, -1).join('-'), 'pod-template-hash': rs.split('-').pop() } : { app: name },
      ownerReferences: rs ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: uid(ns, 'ReplicaSet', rs), controller: true, blockOwnerDeletion: true }] : undefined,
      creationTimestamp: at(t - 120),
    },
    spec: { nodeName: node, containers: containers.map((c) => ({ name: c.name, image: c.image })) },
    status: {
      phase,
      ...(reason ? { reason, message } : {}),
      conditions: conditions ?? [{ type: 'PodScheduled', status: 'True', lastTransitionTime: at(t - 120) }],
      startTime: at(t - 118),
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready: c.ready ?? false,
        restartCount: c.restarts ?? 0,
        started: c.ready ?? false,
        state: c.state,
        lastState: c.lastState ?? {},
      })),
    },
  })
}

function deployment({ ns, name, conditions, replicas = 3 }) {
  lines.push({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, uid: uid(ns, 'Deployment', name), generation: 2, resourceVersion: String(7000 + lines.length), annotations: { 'deployment.kubernetes.io/revision': '2' }, creationTimestamp: at(-86400) },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: `registry.example.com/${name}:2.0.0` }] } } },
    status: { observedGeneration: 2, replicas, updatedReplicas: 1, readyReplicas: replicas - 1, availableReplicas: replicas - 1, unavailableReplicas: 1, conditions },
  })
}

const normalPodStart = (ns, podName, container, image, node, t) => {
  event({ ns, name: podName, reason: 'Scheduled', message: `Successfully assigned ${ns}/${podName} to ${node}`, component: 'default-scheduler', t })
  event({ ns, name: podName, reason: 'Pulling', message: `Pulling image "${image}"`, host: node, t: t + 1, fieldPath: `spec.containers{${container}}` })
  event({ ns, name: podName, reason: 'Pulled', message: `Successfully pulled image "${image}" in 1.284s (1.284s including waiting). Image size: 48213004 bytes.`, host: node, t: t + 3, fieldPath: `spec.containers{${container}}` })
  event({ ns, name: podName, reason: 'Created', message: `Created container ${container}`, host: node, t: t + 3, fieldPath: `spec.containers{${container}}` })
  event({ ns, name: podName, reason: 'Started', message: `Started container ${container}`, host: node, t: t + 4, fieldPath: `spec.containers{${container}}` })
}

// 1. Background: a healthy storefront scales up (normal noise).
event({ ns: 'shop', kind: 'Deployment', api: 'apps/v1', name: 'storefront', reason: 'ScalingReplicaSet', message: 'Scaled up replica set storefront-7c9d5b8f6 to 4 from 3', component: 'deployment-controller', t: 0 })
event({ ns: 'shop', kind: 'ReplicaSet', api: 'apps/v1', name: 'storefront-7c9d5b8f6', reason: 'SuccessfulCreate', message: 'Created pod: storefront-7c9d5b8f6-qx7lm', component: 'replicaset-controller', t: 1 })
normalPodStart('shop', 'storefront-7c9d5b8f6-qx7lm', 'storefront', 'registry.example.com/storefront:5.4.1', 'node-1', 2)
event({ ns: 'shop', kind: 'HorizontalPodAutoscaler', api: 'autoscaling/v2', name: 'storefront', reason: 'SuccessfulRescale', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target', component: 'horizontal-pod-autoscaler', t: 5 })

// Routine churn across the cluster: the noise every real cluster makes, classified as info.
const CHURN = [['shop', 'cart', 'registry.example.com/cart:3.3.0'], ['shop', 'search', 'registry.example.com/search:7.0.2'], ['payments', 'ledger', 'registry.example.com/ledger:2.8.1'], ['analytics', 'collector', 'registry.example.com/collector:0.9.4'], ['jobs', 'mailer', 'registry.example.com/mailer:1.2.3'], ['edge', 'gateway', 'registry.example.com/gateway:6.1.0']]
CHURN.forEach(([ns, app, image], i) => {
  const rs = `${app}-${['5f6c7d8b9', '6d7c8b9f5', '7b8c9d6f4', '84f5b6c7d', '9c6d7b8f5', '5d6f7c8b9'][i]}`
  const podName = `${rs}-${['a2b3c', 'd4f5g', 'h6j7k', 'l8m9n', 'p2q3r', 's4t5v'][i]}`
  event({ ns, kind: 'ReplicaSet', api: 'apps/v1', name: rs, reason: 'SuccessfulCreate', message: `Created pod: ${podName}`, component: 'replicaset-controller', t: 6 + i * 3 })
  normalPodStart(ns, podName, app, image, `node-${(i % 3) + 1}`, 7 + i * 3)
})

// 2. A rollout of checkout brings an image that does not exist.
event({ ns: 'shop', kind: 'Deployment', api: 'apps/v1', name: 'checkout', reason: 'ScalingReplicaSet', message: 'Scaled up replica set checkout-6f7d9c8b4 to 1', component: 'deployment-controller', t: 30 })
event({ ns: 'shop', kind: 'ReplicaSet', api: 'apps/v1', name: 'checkout-6f7d9c8b4', reason: 'SuccessfulCreate', message: 'Created pod: checkout-6f7d9c8b4-k2j8x', component: 'replicaset-controller', t: 31 })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'Scheduled', message: 'Successfully assigned shop/checkout-6f7d9c8b4-k2j8x to node-2', component: 'default-scheduler', t: 31 })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'Pulling', message: 'Pulling image "registry.example.com/checkout:2.0.0"', host: 'node-2', t: 32, fieldPath: 'spec.containers{checkout}' })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'Failed', type: 'Warning', host: 'node-2', t: 34, fieldPath: 'spec.containers{checkout}', message: 'Failed to pull image "registry.example.com/checkout:2.0.0": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/checkout:2.0.0": failed to resolve reference "registry.example.com/checkout:2.0.0": registry.example.com/checkout:2.0.0: not found' })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'Failed', type: 'Warning', host: 'node-2', t: 34, fieldPath: 'spec.containers{checkout}', message: 'Error: ErrImagePull' })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'BackOff', type: 'Normal', host: 'node-2', t: 36, count: 3, first: 35, fieldPath: 'spec.containers{checkout}', message: 'Back-off pulling image "registry.example.com/checkout:2.0.0"' })
event({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', reason: 'Failed', type: 'Warning', host: 'node-2', t: 36, count: 3, first: 35, fieldPath: 'spec.containers{checkout}', message: 'Error: ImagePullBackOff' })
pod({ ns: 'shop', name: 'checkout-6f7d9c8b4-k2j8x', rs: 'checkout-6f7d9c8b4', node: 'node-2', t: 37, phase: 'Pending', containers: [{ name: 'checkout', image: 'registry.example.com/checkout:2.0.0', state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "registry.example.com/checkout:2.0.0"' } } }] })

// 3. The worker crash-loops.
normalPodStart('jobs', 'worker-5b7f6d9c48-8zqfm', 'worker', 'registry.example.com/worker:3.1.0', 'node-1', 60)
event({ ns: 'jobs', name: 'worker-5b7f6d9c48-8zqfm', reason: 'Pulled', message: 'Container image "registry.example.com/worker:3.1.0" already present on machine', host: 'node-1', t: 75, fieldPath: 'spec.containers{worker}' })
for (let i = 1; i <= 4; i++) {
  event({ ns: 'jobs', name: 'worker-5b7f6d9c48-8zqfm', reason: 'BackOff', type: 'Warning', host: 'node-1', t: 70 + i * 20, first: 70, count: i * 3, fieldPath: 'spec.containers{worker}', message: 'Back-off restarting failed container worker in pod worker-5b7f6d9c48-8zqfm_jobs(0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11)' })
}
pod({ ns: 'jobs', name: 'worker-5b7f6d9c48-8zqfm', rs: 'worker-5b7f6d9c48', node: 'node-1', t: 160, containers: [{ name: 'worker', image: 'registry.example.com/worker:3.1.0', restarts: 6, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container=worker pod=worker-5b7f6d9c48-8zqfm_jobs(0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11)' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: at(150), finishedAt: at(152) } } }] })
// A second replica of the same worker: same problem, same workload — alerts must group, not repeat.
event({ ns: 'jobs', name: 'worker-5b7f6d9c48-t4wpx', reason: 'BackOff', type: 'Warning', host: 'node-2', t: 165, first: 100, count: 7, fieldPath: 'spec.containers{worker}', message: 'Back-off restarting failed container worker in pod worker-5b7f6d9c48-t4wpx_jobs(7a1b2c3d-0a4b-4d0e-9d3a-5b9f1d2c7e12)' })

// 4. The report builder runs out of memory.
event({ ns: 'analytics', kind: 'Node', name: 'node-2', reason: 'OOMKilling', type: 'Warning', component: 'kernel-monitor', host: 'node-2', t: 200, message: 'Memory cgroup out of memory: Killed process 48211 (java) total-vm:8123456kB, anon-rss:2097152kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4932kB oom_score_adj:999' })
pod({ ns: 'analytics', name: 'report-builder-7d8f9b6c5-w9r2t', rs: 'report-builder-7d8f9b6c5', node: 'node-2', t: 205, containers: [{ name: 'builder', image: 'registry.example.com/report-builder:1.9.2', restarts: 3, state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=builder' } }, lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: at(180), finishedAt: at(200) } } }] })

// 5. node-3 goes NotReady; its pods are reported too.
event({ kind: 'Node', name: 'node-3', reason: 'NodeHasDiskPressure', type: 'Normal', host: 'node-3', t: 240, message: 'Node node-3 status is now: NodeHasDiskPressure' })
event({ kind: 'Node', name: 'node-3', reason: 'EvictionThresholdMet', type: 'Warning', host: 'node-3', t: 242, message: 'Attempting to reclaim ephemeral-storage' })
event({ kind: 'Node', name: 'node-3', reason: 'NodeNotReady', type: 'Normal', component: 'node-controller', t: 260, message: 'Node node-3 status is now: NodeNotReady' })
event({ ns: 'shop', name: 'storefront-7c9d5b8f6-h5n2c', reason: 'NodeNotReady', type: 'Warning', component: 'node-controller', t: 261, message: 'Node is not ready' })
pod({ ns: 'shop', name: 'storefront-7c9d5b8f6-p8d4v', rs: 'storefront-7c9d5b8f6', node: 'node-3', t: 262, phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8123456Ki. Container storefront was using 3214Mi, request is 0, has larger consumption of ephemeral-storage.', containers: [{ name: 'storefront', image: 'registry.example.com/storefront:5.4.1', state: { terminated: { exitCode: 137, reason: 'Error', finishedAt: at(262) } } }] })

// 6. billing cannot start: its secret is missing.
event({ ns: 'payments', name: 'billing-84c6b7d9f-2m6kp', reason: 'Failed', type: 'Warning', host: 'node-1', t: 300, count: 4, first: 290, fieldPath: 'spec.containers{billing}', message: 'Error: secret "billing-db" not found' })
pod({ ns: 'payments', name: 'billing-84c6b7d9f-2m6kp', rs: 'billing-84c6b7d9f', node: 'node-1', t: 301, phase: 'Pending', containers: [{ name: 'billing', image: 'registry.example.com/billing:4.2.0', state: { waiting: { reason: 'CreateContainerConfigError', message: 'secret "billing-db" not found' } } }] })

// 7. Probes and scheduling.
event({ ns: 'shop', name: 'api-6c8d7f5b9-r7k2m', reason: 'Unhealthy', type: 'Warning', host: 'node-1', t: 320, count: 12, first: 200, fieldPath: 'spec.containers{api}', message: 'Readiness probe failed: Get "http://10.244.1.17:8080/ready": context deadline exceeded (Client.Timeout exceeded while awaiting headers)' })
event({ ns: 'shop', name: 'api-6c8d7f5b9-r7k2m', reason: 'Killing', type: 'Normal', host: 'node-1', t: 330, fieldPath: 'spec.containers{api}', message: 'Container api failed liveness probe, will be restarted' })
event({ ns: 'analytics', name: 'etl-runner-6b7c8d9f5-x8k2p', reason: 'FailedScheduling', type: 'Warning', component: 'default-scheduler', t: 340, count: 5, first: 300, message: '0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.' })

// 8. The stuck rollout gives up.
deployment({ ns: 'shop', name: 'checkout', t: 600, conditions: [
  { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.', lastUpdateTime: at(0), lastTransitionTime: at(0) },
  { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "checkout-6f7d9c8b4" has timed out progressing.', lastUpdateTime: at(630), lastTransitionTime: at(630) },
] })

// 9. Normal end of the day: a job completes, pods stop.
event({ ns: 'analytics', kind: 'Job', api: 'batch/v1', name: 'nightly-export-29012345', reason: 'Completed', message: 'Job completed', component: 'job-controller', t: 660 })
event({ ns: 'shop', name: 'storefront-7c9d5b8f6-qx7lm', reason: 'Killing', message: 'Stopping container storefront', host: 'node-1', t: 700, fieldPath: 'spec.containers{storefront}' })
event({ ns: 'shop', kind: 'Deployment', api: 'apps/v1', name: 'storefront', reason: 'ScalingReplicaSet', message: 'Scaled down replica set storefront-7c9d5b8f6 to 3 from 4', component: 'deployment-controller', t: 701 })

const out = lines.map((o) => JSON.stringify(o))

// 10. CloudEvents as they arrive from other paths: a redelivered ApiServerSource event (same id twice),
// records from another cluster through Kafka (legacy producer format and events.k8s.io/v1).
const redelivered = {
  specversion: '1.0', id: 'a3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', source: 'https://10.96.0.1:443', type: 'dev.knative.apiserver.resource.add',
  subject: '/apis/v1/namespaces/jobs/events/worker-5b7f6d9c48-8zqfm.17a0000ff', time: at(170), datacontenttype: 'application/json',
  kind: 'Event', apiversion: 'v1', name: 'worker-5b7f6d9c48-8zqfm.17a0000ff', namespace: 'jobs',
  data: { apiVersion: 'v1', kind: 'Event', metadata: { name: 'worker-5b7f6d9c48-8zqfm.17a0000ff', namespace: 'jobs' }, involvedObject: { kind: 'Pod', namespace: 'jobs', name: 'worker-5b7f6d9c48-8zqfm', fieldPath: 'spec.containers{worker}' }, reason: 'BackOff', message: 'Back-off restarting failed container worker in pod worker-5b7f6d9c48-8zqfm_jobs(0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11)', source: { component: 'kubelet', host: 'node-1' }, firstTimestamp: at(70), lastTimestamp: at(170), count: 14, type: 'Warning' },
}
out.push(JSON.stringify(redelivered), JSON.stringify(redelivered))
const kafkaLegacy = {
  eventType: 'ADDED', timestamp: at(400),
  kubernetes: { namespace: 'edge', object: { kind: 'Pod', name: 'ingress-gw-5d9b7c6f8-zx4lp', uid: uid('edge', 'Pod', 'ingress-gw') }, reason: 'BackOff', message: 'Back-off restarting failed container envoy in pod ingress-gw-5d9b7c6f8-zx4lp_edge(9b8c7d6e-1f2a-4b3c-8d9e-0f1a2b3c4d5e)', source: { component: 'kubelet', host: 'edge-node-4' }, count: 9, type: 'Warning' },
  cluster: 'edge-eu-1',
}
out.push(JSON.stringify({
  specversion: '1.0', id: 'partition:0/offset:4211', source: '/apis/v1/namespaces/kube-reflex/kafkasources/remote-clusters#k8s-events', type: 'dev.knative.kafka.event',
  subject: 'partition:0#4211', time: at(401), key: 'edge-eu-1', partitionkey: 'edge-eu-1', datacontenttype: 'application/json', data: kafkaLegacy,
}))
const eventsV1 = {
  apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'db-0.17a1bb', namespace: 'data' }, eventTime: at(420).replace('Z', '.000000Z'),
  reportingController: 'kubelet', reportingInstance: 'edge-node-2', action: 'Mounting', reason: 'FailedMount', type: 'Warning',
  regarding: { kind: 'Pod', namespace: 'data', name: 'db-0', uid: uid('data', 'Pod', 'db-0'), apiVersion: 'v1' },
  note: 'MountVolume.MountDevice failed for volume "pvc-3c1f9a2b" : rpc error: code = Internal desc = mount failed: exit status 32',
  series: { count: 4, lastObservedTime: at(480).replace('Z', '.000000Z') },
}
out.push(JSON.stringify({
  specversion: '1.0', id: 'partition:1/offset:977', source: '/apis/v1/namespaces/kube-reflex/kafkasources/remote-clusters#k8s-events', type: 'dev.knative.kafka.event',
  subject: 'partition:1#977', time: at(481), key: 'edge-eu-1', partitionkey: 'edge-eu-1', datacontenttype: 'application/json', data: eventsV1,
}))
process.stdout.write(out.join('\n') + '\n')
