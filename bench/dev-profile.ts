// `npm run bench:dev-profile`: where `kube-reflex dev`'s CPU goes while its pipeline runs — the database,
// garbage collection and the rest by area — and what the measured rate would become with the database free
// or alone (bench/profile-split.ts). The answer to "what would a cheaper embedded store buy?", measured
// rather than guessed. A diagnosis, not a benchmark: the profiler slows dev down, so its rate here is below
// `npm run bench`'s, and the bounds are multiples of the profiled rate.
//
//   tsx bench/dev-profile.ts [--workload storm|mixed|both] [--events N] [--reps N] [--dist DIR] [--json] [--keep DIR]
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomUUID } from 'node:crypto'
import { devReplayNdjson, type DevWorkload } from './payloads/index.js'
import { baseEnv, lastJsonLine, runToEnd } from './process.js'
import { discard, scratchPath } from './scratch.js'
import { parseOptions, runAsCommand, usageError } from './command.js'
import { splitDevProfile, type CpuProfile, type ProfileSplit } from './profile-split.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const HELP = `Usage: npm run bench:dev-profile -- [options]

Profiles \`kube-reflex dev --replay FILE --once\` (node --cpu-prof) on the bench's replay workloads and
splits its CPU, in the pipeline's window only (first input taken → last delivery), into the database
(PGlite or pg, and the glue around them), garbage collection and the rest by area. Prints the split and
two upper bounds: the rate with the database free, and with the database alone (one thread).

Options:
  --workload <w>   storm, mixed or both (default: both)
  --events <n>     inputs per replay (default: 5000)
  --reps <n>       profiled runs per workload (default: 1)
  --dist <dir>     the build to profile (default: dist/)
  --json           print the results as JSON on stdout (progress on stderr)
  --keep <dir>     keep the .cpuprofile files there (default: removed)
  -h, --help       show this help
`

export interface DevProfileRun {
  readonly workload: DevWorkload
  readonly events: number
  /** Inputs per second from dev's own summary (received ÷ elapsedMs), profiler on. */
  readonly eventsPerSecond: number
  readonly split: ProfileSplit
  readonly profile?: string
}

const fail: (message: string) => never = (message) => usageError('dev-profile', message)

function int(name: string, value: string | undefined, dflt: number, min: number): number {
  if (value === undefined) return dflt
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`)
  return n
}

const log = (msg: string): void => {
  process.stderr.write(`[dev-profile] ${msg}\n`)
}

async function profileOnce(bin: string, workload: DevWorkload, events: number, keep: string | undefined): Promise<DevProfileRun> {
  const replay = scratchPath(`profile-${workload}-${randomUUID()}.ndjson`)
  writeFileSync(replay, devReplayNdjson(workload, events))
  const dataDir = scratchPath(`dev-${randomUUID()}`)
  const profDir = scratchPath(`prof-${randomUUID()}`)
  mkdirSync(profDir)
  try {
    const r = await runToEnd(
      {
        command: process.execPath,
        args: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, bin, 'dev', '--replay', replay, '--once', '--json'],
        // The embedded default, as `npm run bench` measures it: no caller's database, hooks or ports.
        env: { ...baseEnv(), KUBE_REFLEX_DATA_DIR: dataDir, RECOVERY_MODE: 'dry-run' },
        cwd: root,
      },
      3_600_000,
    )
    if (r.code !== 0) throw new Error(`dev exited ${String(r.code)}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
    const summary = lastJsonLine(r.stdout) as { received?: unknown; elapsedMs?: unknown } | null
    const received = typeof summary?.received === 'number' ? summary.received : NaN
    const elapsedMs = typeof summary?.elapsedMs === 'number' ? summary.elapsedMs : NaN
    if (!(received > 0 && elapsedMs > 0)) throw new Error("dev's summary has no received/elapsedMs (a build older than the bench's dev figures?)")
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'))
    if (file === undefined) throw new Error('node wrote no .cpuprofile')
    const text = readFileSync(join(profDir, file), 'utf8')
    const split = splitDevProfile(JSON.parse(text) as CpuProfile)
    let kept: string | undefined
    if (keep !== undefined) {
      mkdirSync(keep, { recursive: true })
      kept = join(keep, `dev-${workload}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`)
      writeFileSync(kept, text)
    }
    return { workload, events, eventsPerSecond: received / (elapsedMs / 1000), split, ...(kept === undefined ? {} : { profile: kept }) }
  } finally {
    discard(replay)
    discard(dataDir)
    discard(profDir)
  }
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`
const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '∞')

/** The report as text: one line per run, then the rest by area for each. */
export function renderProfileRuns(runs: readonly DevProfileRun[]): string {
  const out: string[] = ['workload  events/s  window   database  gc      rest    free database ≤       database alone ≤']
  for (const r of runs) {
    const s = r.split
    out.push(
      [
        r.workload.padEnd(8),
        Math.round(r.eventsPerSecond).toString().padStart(8),
        `${(s.windowMs / 1000).toFixed(1)} s`.padStart(7),
        pct(s.database).padStart(9),
        pct(s.gc).padStart(7),
        pct(s.rest).padStart(7),
        `${times(s.bounds.freeDatabase)} (${Math.round(r.eventsPerSecond * s.bounds.freeDatabase)}/s)`.padStart(18),
        `${times(s.bounds.databaseAlone)} (${Math.round(r.eventsPerSecond * s.bounds.databaseAlone)}/s)`.padStart(20),
      ].join('  '),
    )
  }
  for (const r of runs) {
    const top = r.split.restByArea.filter((a) => a.share >= 0.005).map((a) => `${a.area} ${pct(a.share)}`)
    out.push(`rest of ${r.workload} by area: ${top.join(', ')}`)
  }
  return out.join('\n') + '\n'
}

async function main(): Promise<void> {
  const { values } = parseOptions('dev-profile', () =>
    parseArgs({
      options: {
        workload: { type: 'string' },
        events: { type: 'string' },
        reps: { type: 'string' },
        dist: { type: 'string' },
        json: { type: 'boolean', default: false },
        keep: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }),
  )
  if (values.help === true) {
    process.stdout.write(HELP)
    return
  }
  const w = values.workload ?? 'both'
  if (!['storm', 'mixed', 'both'].includes(w)) fail(`--workload must be storm, mixed or both, got ${JSON.stringify(w)}`)
  const workloads: DevWorkload[] = w === 'both' ? ['storm', 'mixed'] : [w as DevWorkload]
  const events = int('events', values.events, 5000, 1)
  const reps = int('reps', values.reps, 1, 1)
  const bin = join(resolve(values.dist ?? join(root, 'dist')), 'cli', 'bin.js')
  const keep = values.keep === undefined ? undefined : resolve(values.keep)
  const runs: DevProfileRun[] = []
  for (let rep = 0; rep < reps; rep++) {
    for (const workload of workloads) {
      log(`${workload}: ${events} inputs, run ${rep + 1} of ${reps} …`)
      const run = await profileOnce(bin, workload, events, keep)
      log(`${workload}: ${Math.round(run.eventsPerSecond)} events/s (profiled), database ${pct(run.split.database)}, gc ${pct(run.split.gc)}, rest ${pct(run.split.rest)}`)
      runs.push(run)
    }
  }
  process.stdout.write(values.json === true ? JSON.stringify({ schema: 'kube-reflex-dev-profile/1', events, runs }) + '\n' : renderProfileRuns(runs))
}

runAsCommand(import.meta.url, 'dev-profile', main)
