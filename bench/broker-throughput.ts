// Throughput of the local broker (events/s), on this machine:
//   1. ingress only: accept N events into the durable queue (fdatasync group commit), no subscriber;
//   2. replay → broker → one Trigger → an HTTP subscriber answering 202 (the broker's own cost);
//   3. replay → broker → classify (real function, in-process host) with replies re-entering.
// Run: node --import tsx bench/broker-throughput.ts [N]
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { LocalBroker } from '../broker/broker.js'
import { loadBroker, loadTriggers } from '../broker/manifests.js'
import { destinationResolver } from '../broker/resolve.js'
import { replaySource } from '../broker/sources/replay.js'
import { silentLogger } from '../shared/logger.js'
import { createHost } from '../shared/host.js'
import { createFunction } from '../cli/registry.js'

const N = Number(process.argv[2] ?? 20_000)

function k8sEvent(i: number): string {
  const reasons = [
    ['BackOff', 'Back-off restarting failed container app in pod web-%d', 'Warning'],
    ['Pulled', 'Successfully pulled image "nginx:1.27" in 1.1s', 'Normal'],
    ['Unhealthy', 'Readiness probe failed: HTTP probe failed with statuscode: 503', 'Warning'],
    ['Scheduled', 'Successfully assigned shop/web-%d to node-1', 'Normal'],
  ] as const
  const [reason, message, type] = reasons[i % reasons.length] ?? reasons[0]
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `web-${i}.${i}`, namespace: 'shop', uid: `u-${i}` },
    involvedObject: { kind: 'Pod', namespace: 'shop', name: `web-${i % 500}`, uid: `p-${i % 500}`, apiVersion: 'v1' },
    reason,
    message: message.replace('%d', String(i)),
    source: { component: 'kubelet', host: 'node-1' },
    firstTimestamp: '2026-11-28T04:00:00Z',
    lastTimestamp: '2026-11-28T04:00:00Z',
    count: 1,
    type,
  })
}

async function manifests(dir: string, subscriber: string): Promise<{ broker: Awaited<ReturnType<typeof loadBroker>>; triggers: Awaited<ReturnType<typeof loadTriggers>> }> {
  await mkdir(path.join(dir, 'triggers'), { recursive: true })
  await writeFile(path.join(dir, 'broker.yaml'), 'apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b, namespace: ns}\nspec: {}\n')
  await writeFile(
    path.join(dir, 'triggers', 't.yaml'),
    `apiVersion: eventing.knative.dev/v1\nkind: Trigger\nmetadata: {name: t, namespace: ns}\nspec:\n  broker: b\n  filters:\n    - prefix: {type: dev.knative.apiserver.}\n  subscriber:\n    ${subscriber}\n`,
  )
  return { broker: await loadBroker(path.join(dir, 'broker.yaml')), triggers: await loadTriggers(path.join(dir, 'triggers')) }
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'broker-bench-'))
  const file = path.join(tmp, 'events.ndjson')
  await writeFile(file, `${Array.from({ length: N }, (_, i) => k8sEvent(i)).join('\n')}\n`)
  const results: Record<string, number> = {}
  try {
    // 1. ingress into the durable queue only.
    {
      const m = await manifests(path.join(tmp, 'm1'), 'uri: http://127.0.0.1:1/')
      const broker = await LocalBroker.start({ ...m, triggers: [], resolve: destinationResolver(new Map()), dataDir: path.join(tmp, 'q1'), log: silentLogger, maxQueued: N + 1 })
      const t0 = performance.now()
      await replaySource({ file, log: silentLogger }).run(broker, new AbortController().signal)
      results['ingress (durable queue, fdatasync group commit)'] = N / ((performance.now() - t0) / 1000)
      await broker.close()
    }
    // 2. to a trivial HTTP subscriber.
    {
      const server = http.createServer((req, res) => {
        req.resume()
        req.on('end', () => {
          res.statusCode = 202
          res.end()
        })
      })
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
      const m = await manifests(path.join(tmp, 'm2'), `uri: ${url}`)
      const broker = await LocalBroker.start({ ...m, resolve: destinationResolver(new Map()), dataDir: path.join(tmp, 'q2'), log: silentLogger })
      const t0 = performance.now()
      await replaySource({ file, log: silentLogger }).run(broker, new AbortController().signal)
      await broker.idle()
      results['end to end: replay → broker → HTTP subscriber (202)'] = N / ((performance.now() - t0) / 1000)
      await broker.close()
      server.close()
    }
    // 3. through classify, replies re-entering the broker (the replies match no trigger here).
    {
      const classify = await createFunction('classify', { KUBE_REFLEX_DATA_DIR: path.join(tmp, 'db') }, silentLogger)
      const host = createHost({ config: { port: 0, host: '127.0.0.1', bodyLimitBytes: 1 << 20, shutdownGraceMs: 1000 }, log: silentLogger, mounts: [{ fn: classify, path: '/classify' }] })
      await host.listen()
      const m = await manifests(path.join(tmp, 'm3'), 'ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: kube-reflex-classify}')
      const broker = await LocalBroker.start({ ...m, resolve: destinationResolver(new Map([['kube-reflex-classify', `${host.url}/classify`]])), dataDir: path.join(tmp, 'q3'), log: silentLogger })
      const t0 = performance.now()
      await replaySource({ file, log: silentLogger }).run(broker, new AbortController().signal)
      await broker.idle()
      results['end to end: replay → broker → classify (+ replies re-queued)'] = N / ((performance.now() - t0) / 1000)
      await broker.close()
      await host.close()
    }
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  process.stdout.write(`${N} events, ${os.cpus().length} CPUs, Node ${process.version}\n`)
  for (const [k, v] of Object.entries(results)) process.stdout.write(`${k}: ${Math.round(v)} events/s\n`)
}

await main()
