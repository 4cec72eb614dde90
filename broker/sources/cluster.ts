// `--kubeconfig PATH`: ApiServerSource emulation. Like Knative's adapter (pkg/adapter/apiserver), one
// reflector per resource (v1 Events, v1 Pods, apps/v1 Deployments) lists, then watches from the list's
// resourceVersion; ADDED/MODIFIED/DELETED become resource.add/update/delete events. The adapter's store
// ignores Replace, so objects that exist at start (and changes missed across a relist) send nothing.
// A watch that ends is resumed from the last resourceVersion; 410 Gone relists; failures back off
// exponentially (bounded), with an injectable delay so tests don't sleep.
import type { Logger } from 'pino'
import type { CloudEventV1 } from '../../shared/cloudevent.js'
import { kubeStatus, loadKubeConfig, loadKubeModule } from '../../shared/kube.js'
import { apiServerResourceEvent, type KubeObjectLike, type ResourceVerb } from './apiserver-event.js'
import type { EventSource, Ingress, SourceStats } from './source.js'

export interface WatchedResource {
  readonly apiVersion: string
  readonly kind: string
  /** Plural path segment. */
  readonly resource: string
}

/** The resources the shipped ApiServerSource watches (knative/base/sources/apiserversource.yaml). */
export const DEFAULT_RESOURCES: readonly WatchedResource[] = [
  { apiVersion: 'v1', kind: 'Event', resource: 'events' },
  { apiVersion: 'v1', kind: 'Pod', resource: 'pods' },
  { apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments' },
]

export interface ClusterSourceOptions {
  readonly kubeconfig: string
  readonly namespace?: string | undefined
  readonly log: Logger
  readonly resources?: readonly WatchedResource[]
  readonly sleep?: (ms: number) => Promise<void>
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number }
  /** Called after each successful (re)list, per resource: tests wait for it before changing objects. */
  readonly onSynced?: (resource: WatchedResource, resourceVersion: string) => void
}

export function watchPath(r: WatchedResource, namespace: string | undefined): string {
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`
  return namespace === undefined ? `${base}/${r.resource}` : `${base}/namespaces/${namespace}/${r.resource}`
}

const VERBS: Record<string, ResourceVerb> = { ADDED: 'add', MODIFIED: 'update', DELETED: 'delete' }

/** Bounded exponential backoff: initial, ×2 per consecutive failure, capped. */
export function backoffDelay(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1))
}

export function clusterSource(options: ClusterSourceOptions): EventSource {
  const stats: SourceStats = { accepted: 0, rejected: 0 }
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)))
  const { initialMs, maxMs } = options.backoff ?? { initialMs: 500, maxMs: 30_000 }
  return {
    name: `cluster ${options.kubeconfig}${options.namespace === undefined ? '' : ` (namespace ${options.namespace})`}`,
    stats,
    async run(ingress: Ingress, signal: AbortSignal) {
      const k8s = await loadKubeModule()
      const kc = await loadKubeConfig({ kubeconfig: options.kubeconfig })
      const server = kc.getCurrentCluster()?.server
      if (server === undefined) throw new Error(`kubeconfig ${options.kubeconfig} has no current cluster`)
      const objects = k8s.KubernetesObjectApi.makeApiClient(kc)
      const watch = new k8s.Watch(kc)

      const reflect = async (r: WatchedResource): Promise<void> => {
        const log = options.log.child({ resource: `${r.apiVersion}/${r.kind}` })
        let resourceVersion: string | undefined
        let failures = 0
        let chain: Promise<void> = Promise.resolve()
        const send = (verb: ResourceVerb, obj: KubeObjectLike): void => {
          // The watch delivers objects with apiVersion/kind; set them if a server ever leaves them out.
          const object = { apiVersion: r.apiVersion, kind: r.kind, ...(obj as Record<string, unknown>) }
          const event: CloudEventV1 = apiServerResourceEvent(verb, object, server)
          chain = chain.then(async () => {
            await ingress.ready()
            try {
              await ingress.accept(event)
              stats.accepted++
            } catch (err) {
              stats.rejected++
              log.warn({ err: err instanceof Error ? err.message : String(err) }, 'event refused by the broker')
            }
          })
        }
        while (!signal.aborted) {
          try {
            if (resourceVersion === undefined) {
              const list = await objects.list(r.apiVersion, r.kind, options.namespace)
              resourceVersion = list.metadata?.resourceVersion ?? ''
              options.onSynced?.(r, resourceVersion)
            }
            const outcome = await new Promise<'gone' | 'ended'>((resolve, reject) => {
              let gone = false
              let controller: AbortController | undefined
              const onAbort = (): void => controller?.abort()
              watch
                .watch(
                  watchPath(r, options.namespace),
                  { resourceVersion, allowWatchBookmarks: true },
                  (phase: string, obj: unknown) => {
                    const o = (obj ?? {}) as Record<string, unknown>
                    if (phase === 'ERROR') {
                      // A Status object: 410 Gone (resourceVersion too old) means relist.
                      if (o.code === 410) gone = true
                      else log.warn({ status: o.code, reason: o.reason }, 'watch error')
                      controller?.abort()
                      return
                    }
                    const md = (o.metadata ?? {}) as Record<string, unknown>
                    if (typeof md.resourceVersion === 'string') resourceVersion = md.resourceVersion
                    failures = 0
                    const verb = VERBS[phase]
                    if (verb !== undefined) send(verb, o)
                  },
                  (err: unknown) => {
                    signal.removeEventListener('abort', onAbort)
                    if (gone) resolve('gone')
                    else if (err === null || err === undefined || signal.aborted || (err instanceof Error && err.name === 'AbortError')) resolve('ended')
                    else reject(err instanceof Error ? err : new Error(JSON.stringify(err)))
                  },
                )
                .then(
                  (c) => {
                    controller = c
                    if (signal.aborted) c.abort()
                    else signal.addEventListener('abort', onAbort, { once: true })
                  },
                  (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))),
                )
            })
            if (outcome === 'gone') {
              log.info('watch expired (410 Gone): relisting')
              resourceVersion = undefined
            }
          } catch (err) {
            if (signal.aborted) break
            if (kubeStatus(err) === 410) resourceVersion = undefined
            failures++
            const delay = backoffDelay(failures, initialMs, maxMs)
            log.warn({ err: err instanceof Error ? err.message : JSON.stringify(err), retryInMs: delay }, 'list/watch failed: backing off')
            await sleep(delay)
          }
        }
        await chain
      }
      await Promise.all((options.resources ?? DEFAULT_RESOURCES).map(reflect))
    },
  }
}
