// The per-function bundles `kn func deploy` builds (scripts/bundle-functions.mjs): each directory starts
// on its own with `npm start`'s command, finds its run-time assets beside the chunks (classify's pre-parsed
// rules, persist's migrations and dashboard), and serves its function.
import t, { type Test } from 'tap'
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { toBinary } from '../../shared/cloudevent.js'
import { apiServerEvent } from '../helpers/events.js'
import { coreEvent } from '../helpers/k8s-fixtures.js'
import { classified } from '../functions/persist/fixtures.js'
import { kubeconfigFromEnv, unreachable } from '../functions/auto-recover/kube-env.js'
import { serviceEnv } from '../services/env.js'
import { createServer } from 'node:http'
import { once } from 'node:events'
import { serveFrom, type Served } from './serve-bundle.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const built = existsSync(path.join(repoRoot, 'dist/functions/classify/rules/default-rules.json'))
t.setTimeout(240_000)

async function serve(t: Test, dir: string, name: string, env: Record<string, string> = {}): Promise<Served> {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts: { start: string; build: string }; dependencies: Record<string, string> }
  t.equal(pkg.scripts.start, `node index.js serve ${name}`, `${name}: npm start serves the function`)
  t.equal(pkg.scripts.build, 'node code-cache.js', `${name}: npm run build writes the code cache`)
  return serveFrom(t, dir, name, env)
}

const podWarning = (): { headers: Record<string, string>; body: Buffer } =>
  toBinary(apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)', type: 'Warning' })))

/** The directory's `npm run build` as the buildpack runs it: none of this process's environment but PATH (and `env`). */
const runBuild = (dir: string, env: Record<string, string> = {}): SpawnSyncReturns<string> =>
  spawnSync(process.execPath, ['code-cache.js'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } })

const caches = (dir: string): string[] => (existsSync(path.join(dir, 'code-cache')) ? readdirSync(path.join(dir, 'code-cache')) : [])

t.test('bundles start from their own directory and serve their function', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, '--no-code-cache', 'classify', 'persist'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  for (const name of ['classify', 'persist']) {
    const check = spawnSync(process.execPath, ['--check', 'index.js'], { cwd: path.join(outRoot, name) })
    t.equal(check.status, 0, `${name}: index.js parses`)
    t.same(caches(path.join(outRoot, name)), [], `${name}: --no-code-cache leaves the cache to npm run build`)
  }
  const persistPkg = JSON.parse(readFileSync(path.join(outRoot, 'persist/package.json'), 'utf8')) as { dependencies: Record<string, string> }
  t.same(Object.keys(persistPkg.dependencies).sort(), ['@electric-sql/pglite', 'uplot', 'yaml'], 'only what cannot be bundled is installed by the buildpack')

  const classifyDir = path.join(outRoot, 'classify')
  const classify = await serve(t, classifyDir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'report' })
  const { headers, body } = podWarning()
  const reply = await fetch(classify.url, { method: 'POST', headers, body })
  t.equal(reply.status, 200, 'classify answers a Pod event with a classified reply')
  t.equal(reply.headers.get('ce-type'), 'dev.kubereflex.event.classified')
  t.equal(reply.headers.get('ce-category'), 'crashloop', 'the default rules were found beside the bundle')
  t.equal((await fetch(`${classify.url}/health/readiness`)).status, 200)
  t.match(classify.output(), /code cache absent: /, 'without npm run build there is no cache, and serve.js is compiled from source')
  const persist = await serve(t, path.join(outRoot, 'persist'), 'persist', { KUBE_REFLEX_DATA_DIR: path.join(outRoot, 'persist-data') })
  const ev = toBinary(classified({ namespace: 'shop', name: 'cart-1', reason: 'BackOff', message: 'x', severity: 'critical', category: 'crashloop', action: 'restart-pod', at: new Date() }))
  t.equal((await fetch(persist.url, { method: 'POST', headers: ev.headers, body: ev.body })).status, 202, 'persist stores (its migrations were found)')
  const page = await fetch(`${persist.url}/`)
  t.equal(page.status, 200, 'the dashboard is served from the bundle')
  t.equal((await fetch(`${persist.url}/dashboard/vendor/uplot.js`)).status, 200, 'with its vendored chart library')
  const events = (await (await fetch(`${persist.url}/api/v1/events`)).json()) as { items: unknown[] }
  t.equal(events.items.length, 1, 'the query API answers from the bundle')
})

t.test('index.js runs `serve <name>` from the lean bundle and every other command line from the full CLI', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, '--no-code-cache', 'alert'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  const dir = path.join(outRoot, 'alert')
  const validate = spawnSync(process.execPath, ['index.js', 'validate', '--help'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  t.equal(validate.status, 0, 'another command works from the function directory')
  t.match(validate.stdout, /Usage: kube-reflex validate/)
  // Another function from alert's directory: the lean bundle cannot load classify, so answering proves the
  // command line went to the full CLI (cli.js).
  const { url } = await serveFrom(t, dir, 'classify')
  const { headers, body } = podWarning()
  const reply = await fetch(url, { method: 'POST', headers, body })
  t.equal(reply.status, 200, "classify served from alert's directory")
  t.equal(reply.headers.get('ce-category'), 'crashloop')
})

t.test('npm run build writes a V8 code cache that serve uses, and a cache that does not fit is never used', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, '--no-code-cache', 'classify'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  const dir = path.join(outRoot, 'classify')
  // What the buildpack runs in the image (package.json's build), with none of this process's environment.
  const build = runBuild(dir)
  t.equal(build.status, 0, `the build script exits 0 (${build.stderr})`)
  const written = caches(dir)
  const cache = written.find((f) => f.startsWith('serve.js-'))
  t.ok(cache, `a cache for serve.js (${written.join(', ')})`)
  t.ok(
    written.every((f) => f.endsWith(`-v8-${process.versions.v8}-${process.arch}.cache`)),
    'named for this V8 and architecture',
  )
  t.match(build.stdout, cache ?? '', 'the build says which files it wrote')

  const answers = async (served: Served): Promise<void> => {
    const { headers, body } = podWarning()
    const reply = await fetch(served.url, { method: 'POST', headers, body })
    t.equal(reply.status, 200)
    t.equal(reply.headers.get('ce-category'), 'crashloop', 'and classifies as from source')
  }
  const used = await serveFrom(t, dir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'report' })
  t.match(used.output(), /code cache used: /, 'the next start compiles serve.js from the cache')
  await answers(used)

  // Same name, wrong contents (a cache of another build of the same length, or a damaged file): V8 refuses it.
  const file = path.join(dir, 'code-cache', cache ?? '')
  const original = readFileSync(file)
  writeFileSync(file, Buffer.alloc(original.length, 7))
  const rejected = await serveFrom(t, dir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'report' })
  t.match(rejected.output(), /code cache rejected: /, 'a damaged cache is rejected')
  await answers(rejected)
  writeFileSync(file, original)

  const off = await serveFrom(t, dir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'off' })
  t.notMatch(off.output(), /code cache/, 'off: not read, nothing said')
  await answers(off)

  // A second build replaces the cache and leaves no stale file behind.
  writeFileSync(path.join(dir, 'code-cache', 'serve.js-0000000000000000-v8-0.0-x64.cache'), 'stale')
  const again = runBuild(dir)
  t.equal(again.status, 0)
  t.same(caches(dir).sort(), [...written].sort(), "an earlier build's cache is removed")

  // V8 flags: a cache made without them is refused under them; the build passes NODE_OPTIONS on, so a
  // function run with NODE_OPTIONS gets a cache that fits when its buildEnvs carry the same value.
  // (--jitless is refused on Node 20, 22 and 24; --max-old-space-size on 20 and 22 but not on 24.)
  const flags = { NODE_OPTIONS: '--jitless' }
  const flagged = await serveFrom(t, dir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'report', ...flags })
  t.match(flagged.output(), /code cache rejected: /, 'other V8 flags at run time: refused')
  await answers(flagged)
  const rebuilt = runBuild(dir, flags)
  t.equal(rebuilt.status, 0)
  const matching = await serveFrom(t, dir, 'classify', { KUBE_REFLEX_CODE_CACHE: 'report', ...flags })
  t.match(matching.output(), /code cache used: /, 'built with the same NODE_OPTIONS: used')

  // A build that fails after the function started (here: a sample the HTTP client refuses to send) exits 1
  // and leaves no function running behind it.
  const samplePath = path.join(dir, 'code-cache-sample.json')
  const sample = readFileSync(samplePath)
  writeFileSync(samplePath, JSON.stringify({ headers: { 'not a header': 'x' }, body: '' }))
  const failed = runBuild(dir)
  writeFileSync(samplePath, sample)
  t.equal(failed.status, 1, `a failed build exits 1 (${failed.stderr.trim()})`)
  const left = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(path.join(dir, 'index.js'))
      } catch {
        return false
      }
    })
  t.same(left, [], 'and no function is left running')

  const bad = spawnSync(process.execPath, ['index.js', 'serve', 'classify', '--port', '0'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', KUBE_REFLEX_CODE_CACHE: 'sometimes' } })
  t.equal(bad.status, 2, 'an unknown KUBE_REFLEX_CODE_CACHE is a usage error')
  t.match(bad.stderr, /KUBE_REFLEX_CODE_CACHE must be unset, off, report or write/)
})

t.test('serve.js and vendor/ need no ES module loader: tracing and the Kubernetes client work from the bundle', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, '--no-code-cache', 'classify', 'auto-recover'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  // index.js compiles these with vm.Script, where an import() would throw: the bundler turns every one into require().
  for (const name of ['classify', 'auto-recover']) {
    const dir = path.join(outRoot, name)
    for (const f of ['serve.js', ...readdirSync(path.join(dir, 'vendor')).filter((v) => v.endsWith('.js')).map((v) => `vendor/${v}`)]) {
      t.notMatch(readFileSync(path.join(dir, f), 'utf8'), /\bimport\(/, `${name}/${f}: no import()`)
    }
  }

  // OpenTelemetry (vendor/opentelemetry.js): spans reach an OTLP endpoint. The ES module bundle this replaced
  // did not start at all with OTEL_EXPORTER_OTLP_ENDPOINT set ("OTLPTraceExporter is not a constructor").
  const spans: string[] = []
  const collector = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      spans.push(`${req.method ?? ''} ${req.url ?? ''}`)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  collector.listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const address = collector.address()
  const otlp = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const traced = await serve(t, path.join(outRoot, 'classify'), 'classify', { OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_BSP_SCHEDULE_DELAY: '100' })
  const { headers, body } = podWarning()
  t.equal((await fetch(traced.url, { method: 'POST', headers, body })).status, 200)
  const deadline = Date.now() + 10_000
  while (!spans.includes('POST /v1/traces') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50))
  t.ok(spans.includes('POST /v1/traces'), `spans exported over OTLP (${spans.join(', ') || 'none'})`)

  // The Kubernetes client (client-node's KubeConfig, vendor/kubernetes_client-node_dist_config.js) against the
  // real API server: asked to restart a pod that does not exist, auto-recover looks it up and answers 200;
  // with the API server unreachable, 503.
  const kubeconfig = kubeconfigFromEnv() ?? (await serviceEnv('kubernetes'))
  const dir = path.join(outRoot, 'auto-recover')
  const event = toBinary(classified({ namespace: 'bundle-test', name: 'web-7d4b9c8f5d-x2x9k', reason: 'BackOff', message: 'Back-off restarting failed container', severity: 'critical', category: 'crashloop', action: 'restart-pod', at: new Date() }))
  let runs = 0
  const ask = async (env: Record<string, string>): Promise<Response> => {
    const served = await serve(t, dir, 'auto-recover', { KUBE_REFLEX_DATA_DIR: path.join(outRoot, `data-${String(++runs)}`), RECOVERY_MODE: 'enforce', ...env })
    return fetch(served.url, { method: 'POST', headers: event.headers, body: event.body })
  }
  const live = await ask({ KUBECONFIG: kubeconfig })
  t.equal(live.status, 200, 'the API server answered through the bundled client')
  t.match(live.headers.get('ce-type') ?? '', /^dev\.kubereflex\.recovery\./)
  const down = await ask({ KUBECONFIG: unreachable(kubeconfig, outRoot, 1) })
  t.equal(down.status, 503, 'unreachable API server: 503')
})
