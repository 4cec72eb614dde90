// The load generator, run as its own process so that it never shares an event loop with the harness
// or the subject. Input: one JSON argument; output: one JSON line on stdout.
//   {url, headers, body, connections, durationSec, warmupSec}
// With warmupSec > 0 a warm-up run (discarded) precedes the measured run; the harness runs its warm-up as
// a separate invocation instead, so that it can read the subject's CPU time around the measured run alone. `[<id>]` in headers/body becomes a fresh id per
// request (autocannon idReplacement), so every request is a new CloudEvent.
import autocannon from 'autocannon'

const cfg = JSON.parse(process.argv[2] ?? '{}')

function run(durationSec) {
  return autocannon({
    url: cfg.url,
    method: 'POST',
    headers: cfg.headers,
    body: cfg.body,
    connections: cfg.connections,
    pipelining: 1,
    duration: durationSec,
    idReplacement: true,
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
