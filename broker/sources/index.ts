// Builds the source `kube-reflex dev` was asked for; live sources load their client library only when used.
import type { Logger } from 'pino'
import type { DevSource } from '../../cli/commands/dev.js'
import type { EventSource } from './source.js'

export async function createSource(spec: DevSource, log: Logger, once = false): Promise<EventSource> {
  switch (spec.kind) {
    case 'replay': {
      const { replaySource } = await import('./replay.js')
      return replaySource({ file: spec.file, rate: spec.rate, log })
    }
    case 'cluster': {
      const { clusterSource } = await import('./cluster.js')
      return clusterSource({ kubeconfig: spec.kubeconfig, namespace: spec.namespace, log })
    }
    case 'kafka': {
      const { kafkaSource } = await import('./kafka.js')
      return kafkaSource({ brokers: spec.brokers, topic: spec.topic, group: spec.group, log, untilCaughtUp: once })
    }
  }
}
