// `npm run bench:snapshot`: the V8 start-up snapshot experiment must keep building and measuring, so that its
// figures in docs/BENCHMARKS.md can be re-taken. A real run on this Node, one round; no assertion on a number's
// size (benchmarks never fail on a figure).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { renderSnapshotResults, type SnapshotResult } from '../../bench/snapshot-startup.js'
import { spread } from '../../bench/harness.js'

const root = resolve(import.meta.dirname, '..', '..')

t.test('renderSnapshotResults: one line per Node with the medians and the per-round ratios', async (t) => {
  const r: SnapshotResult = {
    node: '/usr/bin/node',
    version: 'v20.20.2',
    rounds: 3,
    bareMs: spread([50, 47, 52]),
    bundleMs: spread([80, 78, 90]),
    snapshotMs: spread([55, 54, 60]),
    bundleOverBare: 1.6,
    snapshotOverBare: 1.15,
    snapshotOverBundle: 0.7,
    blobBytes: 5 * 2 ** 20,
  }
  t.match(renderSnapshotResults([r]), /^node +rounds +bare ms +bundle ms +snapshot ms +bundle\/bare +snapshot\/bare +snapshot\/bundle +blob\nv20\.20\.2 +3 +50\.0 +80\.0 +55\.0 +1\.60× +1\.15× +0\.70× +5\.0 MiB\n$/)
})

t.test('the command builds a snapshot of serve classify and times it against the bundle and bare node:http', async (t) => {
  t.setTimeout(300_000)
  if (!existsSync(join(root, 'dist', 'cli', 'bin.js'))) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: root, stdio: 'inherit' })
    t.equal(build.status, 0, 'build')
  }
  // A bundle of its own: dist/kn/ belongs to `npm run bench`, and the smoke test reads it.
  const kn = t.testdir()
  const bundled = spawnSync(process.execPath, [join(root, 'scripts', 'bundle-functions.mjs'), `--out=${kn}`, 'classify'], { cwd: root, encoding: 'utf8' })
  t.equal(bundled.status, 0, `bundle classify (stderr: ${bundled.stderr.slice(-1000)})`)
  const command = (args: string[], env: NodeJS.ProcessEnv = process.env): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'snapshot-startup.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 280_000, env })
  t.equal(command(['--rounds', '0']).status, 2, '--rounds must be ≥ 1')
  const nowhere = command(['--bundle', join(kn, 'nowhere')])
  t.equal(nowhere.status, 2)
  t.match(String(nowhere.stderr), /nowhere holds no bundle/)
  const missing = command(['--node', '/nonexistent/node'])
  t.equal(missing.status, 2)
  t.match(String(missing.stderr), /no Node binary at \/nonexistent\/node/)

  const scratchRoot = mkdtempSync(join(tmpdir(), 'kube-reflex-snap-tmp-'))
  t.teardown(() => rmSync(scratchRoot, { recursive: true, force: true }))
  const run = command(['--rounds', '1', '--json', '--bundle', join(kn, 'classify')], { ...process.env, TMPDIR: scratchRoot })
  t.equal(run.status, 0, `exit code (stderr: ${String(run.stderr).slice(-1500)})`)
  const out = JSON.parse(String(run.stdout)) as { schema: string; results: SnapshotResult[] }
  t.equal(out.schema, 'kube-reflex-snapshot-startup/1')
  t.equal(out.results.length, 1)
  const [r] = out.results
  if (r === undefined) return
  t.equal(r.version, process.version, 'measured on this Node')
  for (const k of ['bareMs', 'bundleMs', 'snapshotMs'] as const) t.ok(r[k].median > 0, `${k}: the subject answered a real event`)
  t.ok(r.blobBytes > 1_000_000, 'a snapshot blob was built')
  t.same(readdirSync(scratchRoot).filter((f) => f.startsWith('kube-reflex')), [], 'scratch files (the script, the blob) removed')
})
