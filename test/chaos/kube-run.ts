// `npm run chaos:kube`: the kube-apiserver fault on its own (a private etcd + kube-apiserver +
// kube-controller-manager, auto-recover in enforce mode). Prints the table, exits non-zero on a violation.
import { parseArgs } from 'node:util'
import { formatKubeReport, runKubeChaos } from './kube-chaos.js'

// A runner, not a test file: `npx tap test/chaos` would otherwise start a ten-minute (or kube) run as a
// "test". Under tap it only says so (a TAP plan with no tests).
const underTap = process.env.TAP === '1'
if (underTap) process.stdout.write('1..0 # npm run chaos:kube is a runner, not a test (chaos-short.test.ts is the test)\n')
const { values } = parseArgs({
  options: { duration: { type: 'string' }, bounces: { type: 'string' }, keep: { type: 'boolean' }, json: { type: 'boolean' } },
})
const durationSec = Number(values.duration ?? 90)
const bounces = Number(values.bounces ?? 2)
if (underTap) {
  // nothing to run under tap
} else if (!Number.isFinite(durationSec) || durationSec <= 0 || !Number.isInteger(bounces) || bounces < 0) {
  process.stderr.write('usage: chaos:kube [--duration SEC] [--bounces N] [--keep] [--json]\n')
  process.exitCode = 2
} else {
  const report = await runKubeChaos({
    durationSec,
    roundEverySec: 2,
    deployments: 6,
    apiServerBounces: bounces,
    downSec: 6,
    settleSec: 120,
    keep: values.keep === true,
    log: (l) => process.stderr.write(`[kube-chaos] ${l}\n`),
  })
  process.stdout.write(`${values.json === true ? JSON.stringify(report, null, 2) : formatKubeReport(report)}\n`)
  if (report.violations.length > 0) process.exitCode = 1
}
