// `npm run bench:dev-profile`: the split of dev's CPU in its pipeline window (bench/profile-split.ts) and the
// command around it (bench/dev-profile.ts). The split is checked on a profile built by hand, where every
// number is known; the command on a real, short `kube-reflex dev` run of the built code.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { areaOf, splitDevProfile, type CpuProfile, type ProfileNode } from '../../bench/profile-split.js'
import { renderProfileRuns, type DevProfileRun } from '../../bench/dev-profile.js'

const root = resolve(import.meta.dirname, '..', '..')
const DIST = 'file:///srv/kube-reflex/dist'
const PGLITE = 'file:///srv/kube-reflex/node_modules/@electric-sql/pglite/dist/chunk-A.js'

t.test('areaOf: who a frame is for', async (t) => {
  t.equal(areaOf({ functionName: 'f', url: 'wasm://wasm/022c915e' }), 'database')
  t.equal(areaOf({ functionName: 'query', url: PGLITE }), 'database')
  t.equal(areaOf({ functionName: 'query', url: 'file:///srv/kube-reflex/node_modules/pg/lib/client.js' }), 'database')
  t.equal(areaOf({ functionName: 'parse', url: 'file:///srv/kube-reflex/node_modules/pg-protocol/dist/parser.js' }), 'database')
  t.equal(areaOf({ functionName: 'run', url: `${DIST}/shared/pglite-prepared.js` }), 'database', "our glue around the driver is the database's")
  t.equal(areaOf({ functionName: 'query', url: `${DIST}/shared/db.js` }), 'database')
  t.equal(areaOf({ functionName: 'handle', url: `${DIST}/functions/auto-recover/handler.js` }), 'functions/auto-recover')
  t.equal(areaOf({ functionName: 'flushLoop', url: `${DIST}/broker/event-log.js` }), 'broker')
  t.equal(areaOf({ functionName: 'run', url: `${DIST}/broker/sources/replay.js` }), 'broker')
  t.equal(areaOf({ functionName: 'toStructured', url: `${DIST}/shared/cloudevent.js` }), 'shared/cloudevent')
  t.equal(areaOf({ functionName: 'observe', url: 'file:///srv/kube-reflex/node_modules/prom-client/lib/histogram.js' }), 'node_modules/prom-client')
  t.equal(areaOf({ functionName: 'x', url: 'file:///srv/kube-reflex/node_modules/@opentelemetry/api/build/index.js' }), 'node_modules/@opentelemetry/api')
  t.equal(areaOf({ functionName: 'write', url: 'node:internal/fs/promises' }), undefined, "Node's internals say nothing")
  t.equal(areaOf({ functionName: 'JSON.parse', url: '' }), undefined)
})

// A dev profile in miniature. Tree (id: frame):
//   1 (root) ─┬ 2 (program)   3 (idle)   4 (garbage collector)
//             ├ 5 migrate (shared/db.js: start-up, before the window)
//             ├ 6 ingress (broker) ─┬ 7 handle (classify)
//             │                     └ 8 wasm
//             └ 9 deliver (broker) ─ 10 transaction (PGlite) ─ 11 decideBatch (alert) ─┬ 12 JSON.parse (builtin)
//                                                                                      └ 13 query (PGlite)
function node(id: number, functionName: string, url: string, children: number[] = []): ProfileNode {
  return { id, callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 }, children }
}
const nodes: ProfileNode[] = [
  node(1, '(root)', '', [2, 3, 4, 5, 6, 9]),
  node(2, '(program)', ''),
  node(3, '(idle)', ''),
  node(4, '(garbage collector)', ''),
  node(5, 'migrate', `${DIST}/shared/db.js`),
  node(6, 'ingress', `${DIST}/broker/broker.js`, [7, 8]),
  node(7, 'handle', `${DIST}/functions/classify/handler.js`),
  node(8, 'wasm-function[10]', 'wasm://wasm/022c915e'),
  node(9, 'deliver', `${DIST}/broker/broker.js`, [10]),
  node(10, 'transaction', PGLITE, [11]),
  node(11, 'decideBatch', `${DIST}/functions/alert/store.js`, [12, 13]),
  node(12, 'JSON.parse', ''),
  node(13, 'query', PGLITE),
]
// Sample i lasts timeDeltas[i + 1] µs. Samples 0 and 10 (the database at start-up and at shutdown) are outside
// the window; inside it: broker 10 + 90, classify 20, database 30 + 80, idle 40, GC 50, alert 60 + 70.
const profile: CpuProfile = {
  nodes,
  startTime: 0,
  endTime: 2000,
  samples: [5, 6, 7, 8, 3, 4, 11, 12, 13, 9, 5],
  timeDeltas: [0, 1000, 10, 20, 30, 40, 50, 60, 70, 80, 90],
}

t.test('splitDevProfile: the window, the nearest owner of each sample, the bounds', async (t) => {
  const s = splitDevProfile(profile)
  t.equal(s.windowMs, 0.45, 'from the first to the last sample under ingress/deliver; start-up and shutdown left out')
  t.equal(s.busyMs, 0.41, 'idle time is not busy')
  t.equal(s.database, 110 / 410, "PGlite's frames, wherever they are called from")
  t.equal(s.gc, 50 / 410)
  t.equal(s.rest, 250 / 410)
  t.same(
    s.restByArea.map((a) => [a.area, Math.round(a.share * 410)]),
    [
      ['functions/alert', 130],
      ['broker', 100],
      ['functions/classify', 20],
    ],
    "alert's code inside PGlite's transaction callback is alert's; a builtin is its caller's",
  )
  t.equal(s.bounds.freeDatabase, 360 / 250, 'busy without GC ÷ the rest')
  t.equal(s.bounds.databaseAlone, 360 / 110, 'busy without GC ÷ the database')
})

t.test('splitDevProfile refuses a profile without the pipeline window', async (t) => {
  // Start-up and shutdown only: the database, V8, idle time and GC, nothing under the broker.
  t.throws(() => splitDevProfile({ ...profile, samples: [5, 2, 3, 4, 5], timeDeltas: [0, 10, 10, 10, 10] }), /no pipeline window in this profile/)
  // The marker must be the broker's: a function of the same name elsewhere does not open the window.
  const elsewhere: CpuProfile = { ...profile, nodes: [...nodes.slice(0, 5), node(6, 'ingress', `${DIST}/functions/persist/api.js`, [7, 8]), ...nodes.slice(6, 8)], samples: [6, 7, 8], timeDeltas: [0, 10, 10] }
  t.throws(() => splitDevProfile(elsewhere), /no pipeline window/)
})

t.test('renderProfileRuns: one line per run with the bounds as rates, then the rest by area', async (t) => {
  const run: DevProfileRun = { workload: 'mixed', events: 5000, eventsPerSecond: 1000, split: splitDevProfile(profile) }
  const text = renderProfileRuns([run])
  t.match(text, /^workload +events\/s +window +database +gc +rest +free database ≤ +database alone ≤\n/)
  t.match(text, /mixed +1000 +0\.0 s +26\.8 % +12\.2 % +61\.0 % +1\.44× \(1440\/s\) +3\.27× \(3273\/s\)/)
  t.match(text, /rest of mixed by area: functions\/alert 31\.7 %, broker 24\.4 %, functions\/classify 4\.9 %\n$/)
})

t.test('the command: a real profiled dev run, its JSON, and its usage errors', async (t) => {
  t.setTimeout(300_000)
  if (!existsSync(join(root, 'dist', 'cli', 'bin.js'))) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
    t.equal(build.status, 0, 'build for the run')
  }
  const command = (args: string[], env: NodeJS.ProcessEnv = process.env): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'dev-profile.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 280_000, env })

  const bad = command(['--workload', 'calm'])
  t.equal(bad.status, 2, 'a bad workload is a usage error')
  t.match(String(bad.stderr), /--workload must be storm, mixed or both, got "calm"/)
  t.equal(command(['--events', '0']).status, 2, '--events must be ≥ 1')
  t.match(String(command(['--nope']).stderr), /Unknown option '--nope' \(see --help\)/)

  const scratchRoot = mkdtempSync(join(tmpdir(), 'kube-reflex-devprof-tmp-'))
  t.teardown(() => rmSync(scratchRoot, { recursive: true, force: true }))
  const keep = join(scratchRoot, 'kept')
  const run = command(['--workload', 'mixed', '--events', '300', '--json', '--keep', keep], { ...process.env, TMPDIR: scratchRoot, DATABASE_URL: 'postgres://must-not-be-used.invalid/x' })
  t.equal(run.status, 0, `exit code (stderr: ${String(run.stderr).slice(-1500)})`)
  const out = JSON.parse(String(run.stdout)) as { schema: string; events: number; runs: DevProfileRun[] }
  t.equal(out.schema, 'kube-reflex-dev-profile/1')
  t.equal(out.events, 300)
  t.equal(out.runs.length, 1)
  const [r] = out.runs
  if (r === undefined) return
  t.equal(r.workload, 'mixed')
  t.ok(r.eventsPerSecond > 0, 'a rate from the summary')
  const s = r.split
  t.ok(s.windowMs > 0 && s.busyMs > 0 && s.busyMs <= s.windowMs, 'a window with busy time in it')
  t.ok(Math.abs(s.database + s.gc + s.rest - 1) < 1e-9, 'the shares add up to 1')
  t.ok(s.database > 0, 'the embedded database was used (the caller’s DATABASE_URL was not)')
  for (const fn of ['functions/classify', 'functions/persist', 'broker']) t.ok(s.restByArea.some((a) => a.area === fn && a.share > 0), `${fn} has a share`)
  t.ok(s.bounds.freeDatabase > 1 && s.bounds.databaseAlone > 1, 'both bounds above the measured rate')
  t.ok(r.profile !== undefined && existsSync(r.profile), '--keep kept the profile')
  t.same(readdirSync(scratchRoot).filter((f) => f.startsWith('kube-reflex')), [], 'scratch files (replay, data directory, profile directory) removed')
})
