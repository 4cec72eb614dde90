import t from 'tap'
import { controllerOf, deploymentProblem, podProblem, selectorString } from '../../../functions/auto-recover/live-state.js'
import { crashLoopStatus, deployment, healthyStatus, oomStatus, pod } from './fixtures.js'

void t.test('podProblem sees what the kubelet reports', (t) => {
  t.equal(podProblem(pod('web-1', { statuses: [healthyStatus()] })), undefined, 'running and ready')
  t.equal(podProblem(pod('web-1', { statuses: [crashLoopStatus()] })), 'app: CrashLoopBackOff')
  t.equal(podProblem(pod('web-1', { statuses: [oomStatus()] })), 'app: restarted after OOMKilled', 'between back-offs an OOM-killed container is still the problem')
  t.equal(podProblem(pod('web-1', { phase: 'Succeeded', statuses: [crashLoopStatus()] })), undefined, 'a finished pod is no problem')
  t.match(podProblem({ ...pod('web-1'), status: { phase: 'Failed', reason: 'Evicted' } }), /pod failed: Evicted/)
  const pulling = pod('web-1', { statuses: [{ ...crashLoopStatus(), restartCount: 0, lastState: {}, state: { waiting: { reason: 'ImagePullBackOff' } } }] })
  t.equal(podProblem(pulling), 'app: ImagePullBackOff')
  const creating = pod('web-1', { statuses: [{ ...crashLoopStatus(), restartCount: 0, lastState: {}, state: { waiting: { reason: 'ContainerCreating' } } }] })
  t.equal(podProblem(creating), undefined, 'start-up is not a failure')
  const init = pod('web-1')
  init.status = { ...init.status, initContainerStatuses: [crashLoopStatus('migrate')] }
  t.equal(podProblem(init), 'migrate: CrashLoopBackOff', 'init containers too')
  const probe = pod('web-1', { statuses: [{ ...healthyStatus(), ready: false }], ready: false })
  t.equal(podProblem(probe), 'not ready: ContainersNotReady', 'running but failing its readiness probe')
  const deleting = pod('web-1', { statuses: [crashLoopStatus()] })
  deleting.metadata = { ...deleting.metadata, deletionTimestamp: new Date() }
  t.equal(podProblem(deleting), undefined, 'already being deleted: nothing to do')
  const exited = pod('web-1', { statuses: [{ ...healthyStatus(), ready: false, state: { terminated: { exitCode: 2, reason: 'Error' } } }] })
  t.equal(podProblem(exited), 'app: terminated Error')
  t.end()
})

void t.test('deploymentProblem reads the conditions the deployment controller writes', (t) => {
  t.equal(deploymentProblem(deployment('web', { conditions: [{ type: 'Available', status: 'True' }, { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }] })), undefined)
  t.equal(deploymentProblem(deployment('web', { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] })), 'Progressing=False (ProgressDeadlineExceeded)')
  t.equal(deploymentProblem(deployment('web', { conditions: [{ type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' }] })), 'Available=False (MinimumReplicasUnavailable)')
  t.equal(deploymentProblem(deployment('web', { unavailable: 1 })), '1 replica(s) unavailable')
  t.end()
})

void t.test('controllerOf and selectorString', (t) => {
  t.equal(controllerOf(pod('web-1').metadata), undefined, 'a bare pod has no controller')
  t.equal(controllerOf(pod('web-1', { owner: { kind: 'ReplicaSet', name: 'web-abc' } }).metadata)?.name, 'web-abc')
  t.equal(selectorString({ app: 'web', tier: 'fe' }), 'app=web,tier=fe')
  t.equal(selectorString({}), undefined)
  t.equal(selectorString(undefined), undefined)
  t.end()
})
