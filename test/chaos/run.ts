// `npm run chaos` (10 minutes of input) and `npm run chaos -- --short` (the CI length): runs the harness,
// prints the table, exits non-zero on any violation. `--source kafka` (default: the full fault schedule,
// Kafka bounce included) feeds dev through a private Kafka broker; `--source replay` through a replay file.
// The kube-apiserver fault runs separately: `npm run chaos:kube` (kube-run.ts).
import { parseArgs } from 'node:util'
import { formatReport, runChaos } from './harness.js'

// A runner, not a test file: `npx tap test/chaos` would otherwise start a ten-minute (or kube) run as a
// "test". Under tap it only says so (a TAP plan with no tests).
const underTap = process.env.TAP === '1'
if (underTap) process.stdout.write('1..0 # npm run chaos is a runner, not a test (chaos-short.test.ts is the test)\n')
const { values } = parseArgs({
  options: {
    short: { type: 'boolean' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
    source: { type: 'string' },
  },
})
const short = values.short === true
const durationSec = Number(values.duration ?? (short ? 60 : 600))
const rate = Number(values.rate ?? 25)
const seed = Number(values.seed ?? Date.now() % 100000)
const source = values.source ?? 'kafka'
if (underTap) {
  // nothing to run under tap
} else if (source !== 'kafka' && source !== 'replay') {
  process.stderr.write(`--source must be kafka or replay (got '${source}')\n`)
  process.exitCode = 2
} else if (!Number.isFinite(durationSec) || durationSec <= 0 || !Number.isFinite(rate) || rate <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: chaos [--short] [--source kafka|replay] [--duration SEC] [--rate LINES_PER_SEC] [--seed N] [--keep] [--json]\n')
  process.exitCode = 2
} else {
  const report = await runChaos({
    durationSec,
    rate,
    seed,
    source,
    // Kafka mode: every kill -9 stalls the consumer group ~30 s (session timeout), the backlog drains after.
    settleSec: short ? 180 : 300,
    cycleSec: short ? durationSec : 120,
    keep: values.keep === true,
    log: (l) => process.stderr.write(`[chaos] ${l}\n`),
  })
  process.stdout.write(`${values.json === true ? JSON.stringify(report, null, 2) : formatReport(report)}\n`)
  if (report.violations.length > 0) process.exitCode = 1
}
