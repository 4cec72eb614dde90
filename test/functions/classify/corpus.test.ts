// Table-driven: every taxonomy row of DESIGN.md, in every input shape classify accepts, with the message
// texts kubelet, the scheduler and the controllers really write.
import t from 'tap'
import { createDeps, handle } from '../../../functions/classify/index.js'
import { loadConfig } from '../../../functions/classify/config.js'
import type { ClassifiedData } from '../../../shared/contracts.js'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { silentLogger } from '../../../shared/logger.js'
import { apiServerEvent, kafkaRecordEvent } from '../../helpers/events.js'
import { coreEvent, deployment, eventsV1, legacyRecord, pod } from '../../helpers/k8s-fixtures.js'

const NOW = Date.parse('2026-11-28T08:05:30Z')
const deps = createDeps(loadConfig({}), { now: () => NOW })

async function classify(event: CloudEventV1): Promise<CloudEventV1 | undefined> {
  return handle(event, { deps, log: silentLogger, traceparent: '', signal: new AbortController().signal, receivedAt: NOW })
}

interface Expect {
  severity: string
  category: string
  action?: string
  reason?: string
  workload?: string | null
}

const ev = (o: Parameters<typeof coreEvent>[0]) => apiServerEvent(coreEvent(o))

const CASES: [string, CloudEventV1, Expect | null][] = [
  // crashloop
  ['BackOff restarting (core/v1)', ev({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(0f0c3e4e-0a4b-4d0e-9d3a-5b9f1d2c7e11)', fieldPath: 'spec.containers{app}' }), { severity: 'critical', category: 'crashloop', action: 'restart-pod', workload: 'Deployment/web' }],
  ['Pod waiting CrashLoopBackOff', apiServerEvent(pod({ containers: [{ waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s restarting failed container=app' }, lastTerminated: { reason: 'Error', exitCode: 1 }, restarts: 9 }] }), 'update'), { severity: 'critical', category: 'crashloop', action: 'restart-pod', reason: 'CrashLoopBackOff', workload: 'Deployment/web' }],
  ['init container CrashLoopBackOff', apiServerEvent(pod({ initContainers: [{ name: 'migrate', waiting: { reason: 'CrashLoopBackOff' }, restarts: 4 }], containers: [{ waiting: { reason: 'PodInitializing' } }] }), 'update'), { severity: 'critical', category: 'crashloop', reason: 'CrashLoopBackOff' }],
  ['bare pod crashloop: no restart action', apiServerEvent(pod({ name: 'debug', owner: null, containers: [{ waiting: { reason: 'CrashLoopBackOff' } }] }), 'update'), { severity: 'critical', category: 'crashloop', action: 'none', workload: null }],
  // oom
  ['OOMKilling from kernel-monitor', ev({ kind: 'Node', name: 'node-2', reason: 'OOMKilling', component: 'kernel-monitor', message: 'Memory cgroup out of memory: Killed process 48211 (java) total-vm:8123456kB, anon-rss:2097152kB' }), { severity: 'critical', category: 'oom', action: 'none', workload: null }],
  ['SystemOOM from kubelet', ev({ kind: 'Node', name: 'node-2', reason: 'SystemOOM', message: 'System OOM encountered, victim process: java, pid: 48211' }), { severity: 'critical', category: 'oom' }],
  ['OOMKilled beats crash loop', apiServerEvent(pod({ containers: [{ waiting: { reason: 'CrashLoopBackOff' }, lastTerminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-11-28T08:04:00Z' }, restarts: 3 }] }), 'update'), { severity: 'critical', category: 'oom', reason: 'OOMKilled', action: 'none' }],
  ['OOMKilled long ago on a running pod is history', apiServerEvent(pod({ containers: [{ running: true, lastTerminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-11-27T08:00:00Z' }, restarts: 1 }] }), 'update'), null],
  ['OOMKilled just now on a running pod', apiServerEvent(pod({ containers: [{ running: true, lastTerminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2026-11-28T08:05:00Z' }, restarts: 1 }] }), 'update'), { severity: 'critical', category: 'oom' }],
  // image
  ['Failed to pull image', ev({ reason: 'Failed', message: 'Failed to pull image "registry.example.com/app:2.0.0": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/app:2.0.0": not found' }), { severity: 'critical', category: 'image', action: 'rollback', workload: 'Deployment/web' }],
  ['Error: ErrImagePull', ev({ reason: 'Failed', message: 'Error: ErrImagePull' }), { severity: 'critical', category: 'image' }],
  ['Error: ImagePullBackOff', ev({ reason: 'Failed', message: 'Error: ImagePullBackOff' }), { severity: 'critical', category: 'image' }],
  ['BackOff pulling image (Normal type)', ev({ reason: 'BackOff', type: 'Normal', message: 'Back-off pulling image "registry.example.com/app:2.0.0"' }), { severity: 'critical', category: 'image', reason: 'BackOff' }],
  ['InspectFailed', ev({ reason: 'InspectFailed', message: 'Failed to apply default image tag "registry.example.com/App:latest": couldn\'t parse image reference "registry.example.com/App:latest": invalid reference format: repository name must be lowercase' }), { severity: 'critical', category: 'image' }],
  ['ErrImageNeverPull', ev({ reason: 'ErrImageNeverPull', message: 'Container image "app:dev" is not present with pull policy of Never' }), { severity: 'critical', category: 'image' }],
  ['Pod waiting ImagePullBackOff', apiServerEvent(pod({ phase: 'Pending', containers: [{ waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } }] }), 'update'), { severity: 'critical', category: 'image', action: 'rollback' }],
  ['Pod waiting InvalidImageName', apiServerEvent(pod({ phase: 'Pending', containers: [{ waiting: { reason: 'InvalidImageName', message: 'Failed to apply default image tag' } }] }), 'update'), { severity: 'critical', category: 'image' }],
  ['Pod waiting ErrImagePull', apiServerEvent(pod({ phase: 'Pending', containers: [{ waiting: { reason: 'ErrImagePull' } }] }), 'update'), { severity: 'critical', category: 'image' }],
  // config
  ['configmap not found', ev({ reason: 'Failed', message: 'Error: configmap "app-config" not found' }), { severity: 'critical', category: 'config', action: 'rollback' }],
  ['secret not found', ev({ reason: 'Failed', message: 'Error: secret "db-credentials" not found' }), { severity: 'critical', category: 'config' }],
  ["couldn't find key", ev({ reason: 'Failed', message: "Error: couldn't find key DB_HOST in ConfigMap shop/app-config" }), { severity: 'critical', category: 'config' }],
  ['Pod waiting CreateContainerConfigError', apiServerEvent(pod({ phase: 'Pending', containers: [{ waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found' } }] }), 'update'), { severity: 'critical', category: 'config', action: 'rollback' }],
  ['other Failed stays a warning', ev({ reason: 'Failed', message: 'Error: failed to create containerd task: failed to create shim task: OCI runtime create failed' }), { severity: 'warning', category: 'other' }],
  // volume, node, network, job, rollout
  ['FailedMount', ev({ reason: 'FailedMount', message: 'MountVolume.SetUp failed for volume "config" : configmap "app-config" not found' }), { severity: 'critical', category: 'volume' }],
  ['FailedAttachVolume', ev({ reason: 'FailedAttachVolume', component: 'attachdetach-controller', message: 'Multi-Attach error for volume "pvc-3c1f9a2b" Volume is already exclusively attached to one node and can\'t be attached to another' }), { severity: 'critical', category: 'volume' }],
  ['FailedMapVolume', ev({ reason: 'FailedMapVolume', message: 'MapVolume.MapPodDevice failed for volume "pvc-1"' }), { severity: 'critical', category: 'volume' }],
  ['NodeNotReady (Normal type)', ev({ kind: 'Node', name: 'node-3', reason: 'NodeNotReady', type: 'Normal', component: 'node-controller', message: 'Node node-3 status is now: NodeNotReady' }), { severity: 'critical', category: 'node', workload: null }],
  ['FailedCreatePodSandBox', ev({ reason: 'FailedCreatePodSandBox', message: 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "3f1e": plugin type="calico" failed (add): stat /var/lib/calico/nodename: no such file or directory' }), { severity: 'critical', category: 'network' }],
  ['NetworkNotReady', ev({ reason: 'NetworkNotReady', message: 'network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized' }), { severity: 'critical', category: 'network' }],
  ['Job BackoffLimitExceeded', ev({ kind: 'Job', name: 'nightly-export', reason: 'BackoffLimitExceeded', component: 'job-controller', message: 'Job has reached the specified backoff limit' }), { severity: 'critical', category: 'job', workload: 'Job/nightly-export' }],
  ['Job DeadlineExceeded', ev({ kind: 'Job', name: 'nightly-export', reason: 'DeadlineExceeded', component: 'job-controller', message: 'Job was active longer than specified deadline' }), { severity: 'critical', category: 'job' }],
  ['Deployment ProgressDeadlineExceeded', apiServerEvent(deployment({ conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }, { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "checkout-6f7d9c8b4" has timed out progressing.' }] }), 'update'), { severity: 'critical', category: 'rollout', action: 'rollback', workload: 'Deployment/checkout' }],
  // warnings
  ['Unhealthy readiness', ev({ reason: 'Unhealthy', message: 'Readiness probe failed: HTTP probe failed with statuscode: 503' }), { severity: 'warning', category: 'probe' }],
  ['Unhealthy liveness', ev({ reason: 'Unhealthy', message: 'Liveness probe failed: Get "http://10.244.1.17:8080/healthz": dial tcp 10.244.1.17:8080: connect: connection refused' }), { severity: 'warning', category: 'probe' }],
  ['Unhealthy startup', ev({ reason: 'Unhealthy', message: 'Startup probe failed: command "cat /tmp/ready" timed out' }), { severity: 'warning', category: 'probe' }],
  ['ProbeWarning', ev({ reason: 'ProbeWarning', message: 'Readiness probe warning: Probe terminated redirects' }), { severity: 'warning', category: 'probe' }],
  ['Killing after failed liveness probe (Normal type)', ev({ reason: 'Killing', type: 'Normal', message: 'Container app failed liveness probe, will be restarted' }), { severity: 'warning', category: 'probe' }],
  ['Killing after failed startup probe', ev({ reason: 'Killing', type: 'Normal', message: 'Container app failed startup probe, will be restarted' }), { severity: 'warning', category: 'probe' }],
  ['FailedScheduling', ev({ reason: 'FailedScheduling', component: 'default-scheduler', message: '0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.' }), { severity: 'warning', category: 'scheduling' }],
  ['Pod unschedulable condition', apiServerEvent(pod({ phase: 'Pending', unschedulable: '0/3 nodes are available: 3 node(s) didn\'t match Pod\'s node affinity/selector.', containers: [] }), 'update'), { severity: 'warning', category: 'scheduling', reason: 'Unschedulable' }],
  ['Evicted event', ev({ reason: 'Evicted', message: 'The node was low on resource: memory. Threshold quantity: 100Mi, available: 52Mi. Container app was using 1.2Gi, request is 512Mi, has larger consumption of memory.' }), { severity: 'warning', category: 'eviction' }],
  ['Pod status.reason Evicted', apiServerEvent(pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: ephemeral-storage.', containers: [{ terminated: { reason: 'Error', exitCode: 137 } }] }), 'update'), { severity: 'warning', category: 'eviction' }],
  ['Preempted', ev({ reason: 'Preempted', component: 'default-scheduler', message: 'Preempted by pod 5f2e8a1b-7c3d-4e9f-a0b1-c2d3e4f5a6b7 on node node-2' }), { severity: 'warning', category: 'eviction' }],
  ['TaintManagerEviction (Normal type)', ev({ reason: 'TaintManagerEviction', type: 'Normal', component: 'taint-eviction-controller', message: 'Marking for deletion Pod shop/web-7d4b9c8f5d-x2x9k' }), { severity: 'warning', category: 'eviction' }],
  ['NodeHasDiskPressure (Normal type)', ev({ kind: 'Node', name: 'node-3', reason: 'NodeHasDiskPressure', type: 'Normal', message: 'Node node-3 status is now: NodeHasDiskPressure' }), { severity: 'warning', category: 'node' }],
  ['NodeHasInsufficientMemory', ev({ kind: 'Node', name: 'node-3', reason: 'NodeHasInsufficientMemory', type: 'Normal', message: 'Node node-3 status is now: NodeHasInsufficientMemory' }), { severity: 'warning', category: 'node' }],
  ['NodeHasInsufficientPID', ev({ kind: 'Node', name: 'node-3', reason: 'NodeHasInsufficientPID', type: 'Normal', message: 'Node node-3 status is now: NodeHasInsufficientPID' }), { severity: 'warning', category: 'node' }],
  ['EvictionThresholdMet', ev({ kind: 'Node', name: 'node-3', reason: 'EvictionThresholdMet', message: 'Attempting to reclaim memory' }), { severity: 'warning', category: 'node' }],
  ['Rebooted', ev({ kind: 'Node', name: 'node-3', reason: 'Rebooted', message: 'Node node-3 has been rebooted, boot id: 4c1f0a0e-2b3c-4d5e-8f9a-0b1c2d3e4f5a' }), { severity: 'warning', category: 'node' }],
  ['FailedCreate quota', ev({ kind: 'ReplicaSet', name: 'web-7d4b9c8f5d', reason: 'FailedCreate', component: 'replicaset-controller', message: 'Error creating: pods "web-7d4b9c8f5d-abcde" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=8, limited: limits.cpu=8' }), { severity: 'warning', category: 'rollout', workload: 'Deployment/web' }],
  ['FailedCreate PodSecurity', ev({ kind: 'ReplicaSet', name: 'web-7d4b9c8f5d', reason: 'FailedCreate', component: 'replicaset-controller', message: 'Error creating: pods "web-7d4b9c8f5d-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false' }), { severity: 'warning', category: 'rollout' }],
  ['Deployment Available=False', apiServerEvent(deployment({ conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable', message: 'Deployment does not have minimum availability.' }, { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' }] }), 'update'), { severity: 'warning', category: 'rollout' }],
  ['FailedGetResourceMetric', ev({ kind: 'HorizontalPodAutoscaler', name: 'web', reason: 'FailedGetResourceMetric', component: 'horizontal-pod-autoscaler', message: 'failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API' }), { severity: 'warning', category: 'autoscaling' }],
  ['FailedComputeMetricsReplicas', ev({ kind: 'HorizontalPodAutoscaler', name: 'web', reason: 'FailedComputeMetricsReplicas', component: 'horizontal-pod-autoscaler', message: 'invalid metrics (1 invalid out of 1), first error is: failed to get cpu resource metric value' }), { severity: 'warning', category: 'autoscaling' }],
  ['FailedRescale', ev({ kind: 'HorizontalPodAutoscaler', name: 'web', reason: 'FailedRescale', component: 'horizontal-pod-autoscaler', message: 'New size: 5; reason: cpu resource utilization above target; error: Operation cannot be fulfilled' }), { severity: 'warning', category: 'autoscaling' }],
  ['any other Warning', ev({ reason: 'FailedKillPod', message: 'error killing pod: failed to "KillPodSandbox"' }), { severity: 'warning', category: 'other' }],
  // info
  ['Scheduled', ev({ reason: 'Scheduled', type: 'Normal', component: 'default-scheduler', message: 'Successfully assigned shop/web-7d4b9c8f5d-x2x9k to node-1' }), { severity: 'info', category: 'lifecycle' }],
  ['Pulled', ev({ reason: 'Pulled', type: 'Normal', message: 'Successfully pulled image "nginx:1.27" in 1.284s (1.284s including waiting). Image size: 72213004 bytes.' }), { severity: 'info', category: 'lifecycle' }],
  ['Killing Stopping container', ev({ reason: 'Killing', type: 'Normal', message: 'Stopping container app' }), { severity: 'info', category: 'lifecycle' }],
  ['ScalingReplicaSet', ev({ kind: 'Deployment', name: 'web', reason: 'ScalingReplicaSet', type: 'Normal', component: 'deployment-controller', message: 'Scaled up replica set web-7d4b9c8f5d to 3 from 2' }), { severity: 'info', category: 'lifecycle', workload: 'Deployment/web' }],
  ['SuccessfulRescale', ev({ kind: 'HorizontalPodAutoscaler', name: 'web', reason: 'SuccessfulRescale', type: 'Normal', component: 'horizontal-pod-autoscaler', message: 'New size: 4; reason: cpu resource utilization (percentage of request) above target' }), { severity: 'info', category: 'autoscaling' }],
  ['Job Completed', ev({ kind: 'Job', name: 'nightly-export-29012345', reason: 'Completed', type: 'Normal', component: 'job-controller', message: 'Job completed' }), { severity: 'info', category: 'job' }],
  ['NodeReady', ev({ kind: 'Node', name: 'node-3', reason: 'NodeReady', type: 'Normal', message: 'Node node-3 status is now: NodeReady' }), { severity: 'info', category: 'node' }],
  // healthy objects and deletions give no reply
  ['healthy Pod', apiServerEvent(pod({}), 'update'), null],
  ['healthy Deployment', apiServerEvent(deployment({ conditions: [{ type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }] }), 'update'), null],
  ['ContainerCreating is not a problem', apiServerEvent(pod({ phase: 'Pending', containers: [{ waiting: { reason: 'ContainerCreating' } }] }), 'add'), null],
  ['deleted Pod', apiServerEvent(pod({ containers: [{ waiting: { reason: 'CrashLoopBackOff' } }] }), 'delete'), null],
  ['a kind classify does not handle (ConfigMap)', apiServerEvent({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'shop' }, data: {} }), null],
  // other input shapes
  ['events.k8s.io/v1 through ApiServerSource', apiServerEvent(eventsV1({ reason: 'FailedMount', note: 'MountVolume.MountDevice failed for volume "pvc-3c1f9a2b" : rpc error: code = Internal', seriesCount: 4 })), { severity: 'critical', category: 'volume', workload: 'StatefulSet/db' }],
  ['events.k8s.io/v1 Normal through Kafka', kafkaRecordEvent(eventsV1({ reason: 'Pulled', type: 'Normal', note: 'Container image "busybox" already present on machine' })), { severity: 'info', category: 'lifecycle' }],
  ['core/v1 Event through Kafka', kafkaRecordEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(x)' })), { severity: 'critical', category: 'crashloop' }],
  ['kubernetes-event-exporter enriched form', kafkaRecordEvent(coreEvent({ reason: 'BackOff', name: 'api-0', message: 'Back-off restarting failed container api in pod api-0_shop(x)', extra: { involvedObject: { kind: 'Pod', name: 'api-0', namespace: 'shop', labels: { app: 'api' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'api', controller: true }] } } })), { severity: 'critical', category: 'crashloop', workload: 'StatefulSet/api', action: 'restart-pod' }],
  ['legacy producer format', kafkaRecordEvent(legacyRecord({ reason: 'BackOff', message: 'Back-off restarting failed container envoy in pod ingress-gw-5d9b7c6f8-zx4lp_edge(9b8c)', cluster: 'edge-eu-1' })), { severity: 'critical', category: 'crashloop', workload: 'Deployment/ingress-gw' }],
  ['legacy producer format, Normal', kafkaRecordEvent(legacyRecord({ reason: 'Started', type: 'Normal', message: 'Started container envoy' })), { severity: 'info', category: 'lifecycle' }],
  ['an unknown CloudEvent type is acknowledged', { specversion: '1.0', id: 'x', source: '/elsewhere', type: 'com.example.other', data: { hello: 'world' } }, null],
]

for (const [name, input, expected] of CASES) {
  t.test(name, async (t) => {
    const reply = await classify(input)
    if (expected === null) {
      t.equal(reply, undefined, 'no reply (202)')
      return
    }
    if (reply === undefined) {
      t.fail('expected a classified reply')
      return
    }
    const data = reply.data as ClassifiedData
    t.equal(reply.type, 'dev.kubereflex.event.classified')
    t.equal(reply.source, '/kube-reflex/classify')
    t.equal(reply.severity, expected.severity, 'severity extension')
    t.equal(reply.category, expected.category, 'category extension')
    t.equal(data.severity, expected.severity)
    t.equal(data.category, expected.category)
    t.equal(reply.action, data.action, 'action extension = data.action')
    t.equal(reply.reason, data.reason, 'reason extension = data.reason')
    if (expected.action !== undefined) t.equal(data.action, expected.action, 'action')
    if (expected.reason !== undefined) t.equal(data.reason, expected.reason, 'reason')
    if (expected.workload !== undefined) t.equal(data.workload === null ? null : `${data.workload.kind}/${data.workload.name}`, expected.workload, 'workload')
    t.match(data.fingerprint, /^[0-9a-f]{32}$/)
    t.same(data.input, { source: input.source, id: input.id, type: input.type })
  })
}

t.test('the same problem on two pods of one workload has one fingerprint; another problem another', async (t) => {
  const a = await classify(ev({ name: 'web-7d4b9c8f5d-bcdfg', reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-bcdfg_shop(1)' }))
  const b = await classify(apiServerEvent(pod({ name: 'web-7d4b9c8f5d-hjklm', containers: [{ waiting: { reason: 'CrashLoopBackOff' } }] }), 'update'))
  const c = await classify(ev({ name: 'web-7d4b9c8f5d-bcdfg', reason: 'Unhealthy', message: 'Liveness probe failed: timeout' }))
  const fp = (e: CloudEventV1 | undefined) => (e?.data as ClassifiedData | undefined)?.fingerprint
  t.ok(fp(a))
  t.equal(fp(a), fp(b))
  t.not(fp(a), fp(c))
})

t.test('redelivery of an input yields the same classified id; a new input a new one', async (t) => {
  const input = ev({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)' })
  const first = await classify(input)
  const again = await classify({ ...input })
  const other = await classify({ ...input, id: 'another-id' })
  t.equal(first?.id, again?.id)
  t.not(first?.id, other?.id)
  t.match(first?.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
})

t.test('cluster name comes from the record when it names one, else from config', async (t) => {
  const fromRecord = await classify(kafkaRecordEvent(legacyRecord({ reason: 'BackOff', message: 'Back-off restarting failed container x', cluster: 'edge-eu-1' })))
  t.equal((fromRecord?.data as ClassifiedData).cluster, 'edge-eu-1')
  const fromConfig = await classify(ev({ reason: 'Unhealthy', message: 'Readiness probe failed' }))
  t.equal((fromConfig?.data as ClassifiedData).cluster, 'default')
})
