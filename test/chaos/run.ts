// `npm run chaos` (10 minutes of input) and `npm run chaos -- --short` (the CI length): runs the harness,
// prints the table, exits non-zero on any violation.
import { parseArgs } from 'node:util'
import { formatReport, runChaos } from './harness.js'

const { values } = parseArgs({
  options: {
    short: { type: 'boolean' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    seed: { type: 'string' },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
  },
})
const short = values.short === true
const durationSec = Number(values.duration ?? (short ? 60 : 600))
const rate = Number(values.rate ?? 25)
const seed = Number(values.seed ?? Date.now() % 100000)
if (!Number.isFinite(durationSec) || durationSec <= 0 || !Number.isFinite(rate) || rate <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('usage: chaos [--short] [--duration SEC] [--rate LINES_PER_SEC] [--seed N] [--keep] [--json]\n')
  process.exitCode = 2
} else {
  const report = await runChaos({
    durationSec,
    rate,
    seed,
    settleSec: 180,
    cycleSec: short ? durationSec : 120,
    keep: values.keep === true,
    log: (l) => process.stderr.write(`[chaos] ${l}\n`),
  })
  process.stdout.write(`${values.json === true ? JSON.stringify(report, null, 2) : formatReport(report)}\n`)
  if (report.violations.length > 0) process.exitCode = 1
}
