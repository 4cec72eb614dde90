// Shared pieces for the broker tests: a scriptable subscriber over real HTTP, clocks whose sleeps are
// recorded instead of waited (or held until the test releases them), and manifest fixtures written to a
// temp dir.
import { once } from 'node:events'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import { parseHttpEvent, type CloudEventV1 } from '../../shared/cloudevent.js'
import { LocalBroker, type BrokerOptions, type Clock } from '../../broker/broker.js'
import { loadBroker, loadTriggers } from '../../broker/manifests.js'
import { destinationResolver } from '../../broker/resolve.js'
import { silentLogger } from '../../shared/logger.js'

export interface Received {
  readonly headers: http.IncomingHttpHeaders
  readonly event: CloudEventV1
  readonly at: number
}

export type Answer = { status: number; headers?: Record<string, string>; body?: string | Buffer; delayMs?: number }

export interface TestReceiver {
  readonly url: string
  readonly received: Received[]
  /** Decides the answer per request (n = 0-based request count). */
  answer: (event: CloudEventV1, n: number) => Answer
  close(): Promise<void>
}

export async function startReceiver(answer: TestReceiver['answer'] = () => ({ status: 202 })): Promise<TestReceiver> {
  const received: Received[] = []
  const state = { answer }
  const timers = new Set<NodeJS.Timeout>()
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let event: CloudEventV1
      try {
        event = parseHttpEvent(req.headers, Buffer.concat(chunks))
      } catch {
        res.statusCode = 400
        res.end()
        return
      }
      const n = received.length
      received.push({ headers: req.headers, event, at: Date.now() })
      const a = state.answer(event, n)
      const send = (): void => {
        res.statusCode = a.status
        for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v)
        res.end(a.body)
      }
      if (a.delayMs === undefined) send()
      else {
        const timer = setTimeout(() => {
          timers.delete(timer)
          send()
        }, a.delayMs)
        timers.add(timer)
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get answer() {
      return state.answer
    },
    set answer(fn) {
      state.answer = fn
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/**
 * A subscriber that takes the connection and the whole request, then never answers (a hung handler, a
 * process stopped with SIGSTOP behind a listening socket). Records what it was sent.
 */
export async function startSilentServer(): Promise<{ readonly url: string; readonly received: Received[]; close(): Promise<void> }> {
  const received: Received[] = []
  const server = http.createServer((req) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => received.push({ headers: req.headers, event: parseHttpEvent(req.headers, Buffer.concat(chunks)), at: Date.now() }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** A clock that records every backoff instead of sleeping through it. */
export function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = []
  return {
    sleeps,
    now: () => Date.now(),
    sleep: async (ms) => {
      sleeps.push(ms)
      await new Promise((r) => setImmediate(r))
    },
  }
}

/** A clock whose sleeps last until the test ends them, so a backoff can be held open as long as a test needs. */
export function heldClock(): Clock & { sleeps: number[]; signals: (AbortSignal | undefined)[]; readonly held: number; release(): void } {
  const sleeps: number[] = []
  const signals: (AbortSignal | undefined)[] = []
  const wakers: (() => void)[] = []
  let free = false
  return {
    sleeps,
    signals,
    now: () => Date.now(),
    get held() {
      return wakers.length
    },
    sleep: (ms, signal) => {
      sleeps.push(ms)
      signals.push(signal)
      return new Promise((resolve) => (free ? setImmediate(resolve) : wakers.push(resolve)))
    },
    /** Ends every held sleep, aborted or not (a timer that fires anyway); later ones end at once. */
    release() {
      free = true
      for (const wake of wakers.splice(0)) wake()
    },
  }
}

export function event(id: string, type = 'dev.knative.apiserver.resource.add', extra: Record<string, unknown> = {}): CloudEventV1 {
  return { specversion: '1.0', id, source: '/test', type, datacontenttype: 'application/json', data: { n: id }, ...extra }
}

export async function writeManifests(dir: string, broker: string, triggers: Record<string, string>): Promise<{ brokerFile: string; triggersDir: string }> {
  const triggersDir = path.join(dir, 'triggers')
  await mkdir(triggersDir, { recursive: true })
  const brokerFile = path.join(dir, 'broker.yaml')
  await writeFile(brokerFile, broker)
  for (const [name, text] of Object.entries(triggers)) await writeFile(path.join(triggersDir, `${name}.yaml`), text)
  return { brokerFile, triggersDir }
}

export function brokerYaml(delivery = ''): string {
  return `apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  name: test
  namespace: ns
spec:
${delivery === '' ? '  {}' : `  delivery:\n${delivery}`}
`
}

export function triggerYaml(name: string, uri: string, filter: string, delivery = ''): string {
  return `apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  name: ${name}
  namespace: ns
spec:
  broker: test
${filter}
  subscriber:
    uri: ${uri}
${delivery === '' ? '' : `  delivery:\n${delivery}`}
`
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * A broker over the manifests `writeManifests` wrote: no cluster destinations, its durable queue in
 * `<dir>/data`, silent; `options` add or override (clock, sender, observer, limits).
 */
export async function startManifestBroker(dir: string, files: { brokerFile: string; triggersDir: string }, options: Partial<BrokerOptions> = {}): Promise<LocalBroker> {
  return LocalBroker.start({
    broker: await loadBroker(files.brokerFile),
    triggers: await loadTriggers(files.triggersDir),
    resolve: destinationResolver(new Map()),
    dataDir: `${dir}/data`,
    log: silentLogger,
    ...options,
  })
}
