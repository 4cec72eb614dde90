// The benchmark harness in smoke mode (a few seconds): it must run every subject it can, and write a
// well-formed result file with a ratio for every pair whose subjects were measured. No assertion here is
// about a number's size — benchmarks never fail CI on a figure, only on a broken harness.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { computeRatios, RATIO_SPECS, renderMarkdown, type SubjectResult } from '../../bench/report.js'
import { spread } from '../../bench/harness.js'
import { isolatedDatabaseUrl } from '../helpers/pg-schema.js'
import { kubeApiserverBuilt } from '../../bench/kube-target.js'

const root = resolve(import.meta.dirname, '..', '..')
// The smoke run starts every subject and two `kube-reflex dev` workloads (each run creates an embedded
// database): longer than .taprc's per-file 120 s on a loaded machine. On the root test this sets the file's.
t.setTimeout(420_000)

t.test('spread: median of odd and even samples, min and max', async (t) => {
  t.same({ ...spread([3, 1, 2]), samples: [] }, { median: 2, min: 1, max: 3, n: 3, samples: [] })
  t.equal(spread([4, 1, 3, 2]).median, 2.5)
  t.ok(Number.isNaN(spread([]).median))
})

t.test('ratios: measured pairs get a value, a missing subject makes its ratios pending with the reason', async (t) => {
  const s = (id: string, rps: number, startup: number, rss: number): SubjectResult => ({
    id,
    label: id,
    role: 'kube-reflex',
    status: 'measured',
    startupMs: spread([startup]),
    idleRssMiB: spread([rss]),
    throughput: { 'pod-binary': { rps: spread([rps]), runs: [] } },
  })
  const ratios = computeRatios([
    s('classify', 3000, 90, 50),
    s('bare-http', 6000, 60, 40),
    s('faas-empty', 1000, 200, 60),
    { id: 'persist-pglite', label: 'persist', role: 'kube-reflex', status: 'not-measured', reason: 'not measured: function missing' },
  ])
  const by = new Map(ratios.map((r) => [r.id, r]))
  t.equal(by.get('classify-vs-faas-empty-throughput')?.value, 3)
  t.equal(by.get('classify-vs-faas-empty-throughput')?.met, true)
  t.equal(by.get('classify-vs-bare-throughput')?.value, 0.5)
  t.equal(by.get('classify-vs-bare-startup')?.value, 1.5)
  t.equal(by.get('classify-vs-bare-idle-rss')?.met, true)
  t.equal(by.get('classify-vs-faas-empty-startup')?.value, 0.45)
  const persist = by.get('persist-pglite-vs-classify-throughput')
  t.equal(persist?.status, 'pending')
  t.equal(persist?.value, null)
  t.match(persist?.reason, /function missing/)
  t.equal(by.get('alert-vs-bare-idle-rss')?.status, 'pending', 'a subject absent from the run is pending too')
})

t.test('smoke run writes a well-formed result file and chart', async (t) => {
  t.setTimeout(400_000)
  if (!existsSync(join(root, 'dist', 'cli', 'bin.js'))) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
    t.equal(build.status, 0, 'build for the smoke run')
  }
  const out = mkdtempSync(join(tmpdir(), 'kube-reflex-bench-test-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const chart = join(out, 'chart.svg')
  // A TMPDIR of its own, to see that the harness leaves nothing of its scratch files there.
  const scratchRoot = mkdtempSync(join(tmpdir(), 'kube-reflex-bench-tmp-'))
  t.teardown(() => rmSync(scratchRoot, { recursive: true, force: true }))
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), '--smoke', '--out', out, '--chart', chart], {
    cwd: root,
    encoding: 'utf8',
    timeout: 390_000,
    env: { ...process.env, DATABASE_URL: '', TMPDIR: scratchRoot },
  })
  t.equal(run.status, 0, `harness exit code (stderr: ${run.stderr.slice(-2000)})`)
  // (tsx keeps its compile cache in TMPDIR too; only the harness's own entries count.)
  t.same(readdirSync(scratchRoot).filter((f) => f.startsWith('kube-reflex')), [], 'the harness removed its scratch files (data directories, replay files)')
  const file = join(out, 'smoke-latest.json')
  t.ok(existsSync(file), 'smoke-latest.json written')
  const results = JSON.parse(readFileSync(file, 'utf8')) as {
    schema: string
    mode: string
    machine: { cpus: number; node: string }
    subjects: SubjectResult[]
    ratios: { id: string; status: string; value: number | null; met: boolean | null; reason?: string }[]
    dev: { status: string; workload: string; eventsPerSecond?: { median: number }; summary?: { received: number; classified: Record<string, number> } }
    devMixed: { status: string; workload: string; eventsPerSecond?: { median: number }; summary?: { received: number; classified: Record<string, number> } }
  }
  t.equal(results.schema, 'kube-reflex-bench/1')
  t.equal(results.mode, 'smoke')
  t.ok(results.machine.cpus > 0)
  t.equal(results.machine.node, process.version)

  const subjects = new Map(results.subjects.map((s) => [s.id, s]))
  for (const id of ['bare-http', 'faas-empty', 'classify']) t.equal(subjects.get(id)?.status, 'measured', `${id} measured`)
  for (const s of results.subjects) {
    t.not(s.status, 'failed', `${s.id} did not fail (${s.reason ?? ''})`)
    if (s.status === 'not-measured') t.match(s.reason, /^not measured: /, `${s.id} says why it was not measured`)
    if (s.status === 'measured') {
      t.ok((s.startupMs?.median ?? 0) > 0, `${s.id} start-up`)
      t.equal(s.startupMs?.n, 2, `${s.id}: the round's start-up and one more (--startups 1 in smoke)`)
      t.ok((s.idleRssMiB?.median ?? 0) > 0, `${s.id} idle RSS`)
      t.ok((s.peakRssMiB?.median ?? 0) >= (s.idleRssMiB?.median ?? Infinity), `${s.id} peak RSS ≥ idle RSS`)
      t.ok(s.firstStatus !== undefined && s.firstStatus >= 200 && s.firstStatus < 300, `${s.id} first answer was 2xx`)
      // Under load every answer must be a 2xx (fresh ids, valid events): a harness that sends broken
      // requests would otherwise still produce a figure.
      for (const [scenario, tp] of Object.entries(s.throughput ?? {})) {
        for (const run of tp.runs) {
          t.ok(run.ok2xx > 0, `${s.id} ${scenario}: answered`)
          t.equal(run.non2xx, 0, `${s.id} ${scenario}: no non-2xx answers`)
          t.equal(run.timeouts, 0, `${s.id} ${scenario}: no timeouts`)
        }
      }
    }
  }
  t.equal(subjects.get('classify')?.firstStatus, 200, 'classify start-up ends on a classified reply')

  t.equal(results.ratios.length, RATIO_SPECS.length, 'one entry per target ratio')
  for (const spec of RATIO_SPECS) {
    const r = results.ratios.find((x) => x.id === spec.id)
    if (r === undefined) {
      t.fail(`ratio ${spec.id} missing`)
      continue
    }
    const both = subjects.get(spec.num.subject)?.status === 'measured' && subjects.get(spec.den.subject)?.status === 'measured'
    if (both) {
      t.equal(r.status, 'measured', `${spec.id}: both subjects measured, so the ratio is`)
      t.ok(typeof r.value === 'number' && Number.isFinite(r.value) && r.value > 0, `${spec.id} has a positive ratio`)
      t.type(r.met, 'boolean')
    } else {
      t.equal(r.status, 'pending', `${spec.id} pending`)
      t.equal(r.value, null)
      t.ok((r.reason ?? '').length > 0, `${spec.id} says why`)
    }
  }
  // `kube-reflex dev` end to end, both workloads: the storm is all critical, the mix mostly info.
  for (const [d, workload] of [[results.dev, 'storm'], [results.devMixed, 'mixed']] as const) {
    t.equal(d.workload, workload)
    t.equal(d.status, 'measured', `dev ${workload} measured`)
    t.ok((d.eventsPerSecond?.median ?? 0) > 0, `dev ${workload} events/s`)
  }
  const storm = results.dev.summary?.classified ?? {}
  const mixed = results.devMixed.summary?.classified ?? {}
  t.equal(storm.info ?? 0, 0, 'storm: no info input')
  t.ok((mixed.info ?? 0) > (mixed.warning ?? 0) && (mixed.warning ?? 0) > (mixed.critical ?? 0) && (mixed.critical ?? 0) > 0, `mixed: info > warning > critical > 0 (${JSON.stringify(mixed)})`)
  const svg = readFileSync(chart, 'utf8')
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
  t.match(svg, /kube-reflex serve classify/)
})

t.test('smoke run of the PostgreSQL subjects: persist on the test server and on a durable one the harness starts and stops; auto-recover with a kube-apiserver the harness starts and stops', async (t) => {
  const databaseUrl = await isolatedDatabaseUrl(t)
  const out = mkdtempSync(join(tmpdir(), 'kube-reflex-bench-pg-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const servicesRoot = mkdtempSync(join(tmpdir(), 'kube-reflex-bench-services-'))
  chmodSync(servicesRoot, 0o755) // PostgreSQL runs as an unprivileged user when the tests run as root
  t.teardown(() => rmSync(servicesRoot, { recursive: true, force: true }))
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), '--smoke', '--only', 'classify,faas-empty,persist-postgres,persist-postgres-durable,auto-recover-kube', '--out', out, '--chart', join(out, 'chart.svg')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    // TMPDIR: the services layer keeps the durable server's run directory under it, so the test can see it go.
    env: { ...process.env, DATABASE_URL: databaseUrl, TMPDIR: servicesRoot },
  })
  t.equal(run.status, 0, `harness exit code (stderr: ${run.stderr.slice(-2000)})`)
  const results = JSON.parse(readFileSync(join(out, 'smoke-latest.json'), 'utf8')) as {
    subjects: SubjectResult[]
    ratios: { id: string; status: string; value: number | null }[]
    postgres: { test: Record<string, string> | null; durable: Record<string, string> | null }
  }
  const subjects = new Map(results.subjects.map((s) => [s.id, s]))
  for (const id of ['persist-postgres', 'persist-postgres-durable']) {
    const s = subjects.get(id)
    t.equal(s?.status, 'measured', `${id} measured (${s?.reason ?? ''})`)
    const runs = s?.throughput?.['classified-binary']?.runs ?? []
    t.ok(runs.length > 0 && runs.every((r) => r.ok2xx > 0 && r.non2xx === 0 && r.errors === 0), `${id}: every event acknowledged with a 2xx`)
  }
  // Read back from the servers: the test server trades durability for speed, the durable one does not.
  t.same(results.postgres.test, { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off' }, 'the test server runs without fsync')
  t.same(results.postgres.durable, { fsync: 'on', full_page_writes: 'on', synchronous_commit: 'on' }, 'the durable server keeps PostgreSQL’s defaults')
  const durable = results.ratios.find((r) => r.id === 'persist-postgres-durable-vs-classify-throughput')
  t.equal(durable?.status, 'measured', 'the durable persist ÷ classify ratio is computed')
  t.match(run.stderr, /durable \[postgres\] stopped/, 'the harness stopped its durable server')
  // auto-recover with its Kubernetes client: measured against the harness's own kube-apiserver when this
  // machine has one built (npm test builds it for the Kubernetes suites), else pending with the reason.
  const kube = subjects.get('auto-recover-kube')
  if (kubeApiserverBuilt()) {
    t.equal(kube?.status, 'measured', `auto-recover-kube measured (${kube?.reason ?? ''})`)
    t.equal(kube?.firstStatus, 200, 'its first reply is a recovery decision')
    t.equal(results.ratios.find((r) => r.id === 'auto-recover-kube-vs-faas-empty-startup')?.status, 'measured', 'and its cold-start ratio is computed')
    t.match(run.stderr, /kube \[kubernetes\] stopped/, 'the harness stopped its kube-apiserver')
  } else t.match(kube?.reason ?? '', /kube-apiserver is not built/, 'not measured without a kube-apiserver, and says why')
  const left = existsSync(join(servicesRoot, 'kube-reflex-services')) ? readdirSync(join(servicesRoot, 'kube-reflex-services')) : []
  t.same(left, [], 'and removed its run directory')
  t.same(readdirSync(servicesRoot).filter((f) => f.startsWith('kube-reflex') && f !== 'kube-reflex-services'), [], 'and its scratch files')
})

t.test('the soak, and with --soak-gc the same steps read after full garbage collections', async (t) => {
  t.setTimeout(300_000)
  const out = mkdtempSync(join(tmpdir(), 'kube-reflex-bench-soak-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'run.ts'), '--smoke', '--only', 'classify', '--scenarios', 'pod-binary', '--soak', '500,1000', '--soak-gc', '--out', out, '--chart', join(out, 'chart.svg')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 280_000,
    env: { ...process.env, DATABASE_URL: '' },
  })
  t.equal(run.status, 0, `harness exit code (stderr: ${run.stderr.slice(-2000)})`)
  const { soak } = JSON.parse(readFileSync(join(out, 'smoke-latest.json'), 'utf8')) as { soak: { events: number[]; rssMiB: number[]; ratio: number; afterFullGc?: { rssMiB: number[]; heapUsedMiB: number[] } } }
  t.same(soak.events, [500, 1000])
  t.equal(soak.rssMiB.length, 2)
  t.ok(soak.rssMiB.every((r) => r > 10), `RSS read at each step (${soak.rssMiB.join(', ')} MiB)`)
  t.equal(soak.ratio, (soak.rssMiB[1] ?? 0) / (soak.rssMiB[0] ?? 1))
  const gc = soak.afterFullGc
  t.equal(gc?.rssMiB.length, 2, 'the second process reported after each step')
  t.ok(gc?.heapUsedMiB.every((h, i) => h > 1 && h < (gc.rssMiB[i] ?? 0)), `heap used after full GCs, below RSS (${gc?.heapUsedMiB.join(', ')} MiB)`)
  t.match(run.stderr, /soak after full GCs: RSS [\d.]+ → [\d.]+ MiB, heap used [\d.]+ → [\d.]+ MiB/)
})

t.test('the report gives the full-GC soak its own row, with no verdict', async (t) => {
  const notMeasured = { status: 'not-measured' as const, workload: 'storm', reason: 'off' }
  const md = renderMarkdown({ subjects: [], ratios: [], dev: notMeasured, devMixed: { ...notMeasured, workload: 'mixed' }, scenarios: [], soak: { events: [100_000, 1_000_000], rssMiB: [88, 96.8], ratio: 1.1, afterFullGc: { rssMiB: [86.8, 90.5], heapUsedMiB: [6.3, 6.5] } } })
  const rows = md.split('\n').filter((l) => l.startsWith('| memory under sustained load') || l.startsWith('| the same after two full GCs'))
  t.equal(rows.length, 2)
  t.match(rows[0], /classify RSS after 100,000 \/ 1,000,000 events: 88\.0 \/ 96\.8 MiB\) \| last ÷ first \| 1\.10× \| ≤ 1\.10× \| yes \|/)
  t.match(rows[1], /RSS 86\.8 \/ 90\.5 MiB, heap used 6\.3 \/ 6\.5 MiB\) \| last ÷ first \| RSS 1\.04×, heap 1\.03× \| — \| — \|$/)
})
