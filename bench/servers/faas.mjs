// Baseline "peer": Knative Functions' Node runtime (faas-js-runtime, what `kn func` Node/TypeScript
// templates run on) hosting either an empty handler or kube-reflex's classify handler (built dist/ code).
// Usage: FAAS_HANDLER=empty|classify PORT=... node bench/servers/faas.mjs
import { createRequire } from 'node:module'
import net from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

// faas-js-runtime always listens on '::' (all interfaces); the bench keeps everything on loopback, so the
// listen call is pointed at 127.0.0.1. Nothing else about the runtime is changed.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const [first] = args
  if (first !== null && typeof first === 'object' && (first.host === '::' || first.host === undefined)) args[0] = { ...first, host: '127.0.0.1' }
  return listen.apply(this, args)
}

const require = createRequire(import.meta.url)
const { start } = require('faas-js-runtime')
const port = Number(process.env.PORT ?? 8080)
const which = process.env.FAAS_HANDLER ?? 'empty'

let handle
if (which === 'empty') {
  handle = () => undefined
} else if (which === 'classify') {
  // The CloudEvent class of the runtime's own cloudevents SDK: faas-js-runtime answers with HTTP.binary().
  const { CloudEvent } = createRequire(require.resolve('faas-js-runtime'))('cloudevents')
  // BENCH_DIST: the build the harness measures (default: this checkout's dist/).
  const dist = process.env.BENCH_DIST ?? new URL('../../dist', import.meta.url).pathname
  const classify = await import(pathToFileURL(join(dist, 'functions', 'classify', 'index.js')).href)
  const { silentLogger } = await import(pathToFileURL(join(dist, 'shared', 'logger.js')).href)
  const deps = classify.createDeps(classify.loadConfig({ ...process.env, PORT: String(port) }))
  const signal = new AbortController().signal
  handle = async (_context, ce) => {
    // The SDK event → the plain event object classify's handler takes (attributes + data).
    const event = { ...ce }
    const reply = await classify.handle(event, { log: silentLogger, traceparent: '', signal, receivedAt: Date.now(), deps })
    return reply === undefined ? undefined : new CloudEvent(reply)
  }
} else {
  throw new Error(`FAAS_HANDLER must be empty or classify, not ${which}`)
}

await start(handle, { port, logLevel: 'warn' })
