// The load generator, run as its own process so that it never shares an event loop with the harness
// or the subject. Input: one JSON argument; output: one JSON line on stdout.
//   {url, headers, body, connections, durationSec, warmupSec, amount?}  (amount: stop after that many requests)
// With warmupSec > 0 a warm-up run (discarded) precedes the measured run; the harness runs its warm-up as
// a separate invocation instead, so that it can read the subject's CPU time around the measured run alone.
// `[<id>]` in headers/body becomes a fresh UUID per request, so every request is a new CloudEvent.
// (autocannon's own idReplacement is not used: its ids vary in length while it assumes a fixed
// Content-Length growth, which breaks bodies that carry the id — structured mode.)
import autocannon from 'autocannon'
import { randomUUID } from 'node:crypto'

const cfg = JSON.parse(process.argv[2] ?? '{}')
const PLACEHOLDER = '[<id>]'
const bodyParts = cfg.body.split(PLACEHOLDER)
const headerEntries = Object.entries(cfg.headers)

function setupRequest(req) {
  const id = randomUUID()
  const headers = {}
  for (const [k, v] of headerEntries) headers[k] = v.includes(PLACEHOLDER) ? v.split(PLACEHOLDER).join(id) : v
  return { ...req, headers, body: bodyParts.length === 1 ? cfg.body : bodyParts.join(id) }
}

function run(durationSec) {
  return autocannon({
    url: cfg.url,
    connections: cfg.connections,
    pipelining: 1,
    ...(cfg.amount > 0 ? { amount: cfg.amount } : { duration: durationSec }),
    requests: [{ method: 'POST', setupRequest }],
    timeout: 10,
  })
}

if (cfg.warmupSec > 0) await run(cfg.warmupSec)
const r = await run(cfg.durationSec)
const ok = r['2xx']
const seconds = r.duration // autocannon's own measured duration in seconds
process.stdout.write(
  JSON.stringify({
    ok2xx: ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds,
    rps: seconds > 0 ? ok / seconds : 0,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
  }) + '\n',
)
