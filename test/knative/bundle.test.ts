// The per-function bundles `kn func deploy` builds (scripts/bundle-functions.mjs): each directory starts
// on its own with `npm start`'s command, finds its run-time assets beside the chunks (classify's pre-parsed
// rules, persist's migrations and dashboard), and serves its function.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { toBinary } from '../../shared/cloudevent.js'
import { apiServerEvent } from '../helpers/events.js'
import { coreEvent } from '../helpers/k8s-fixtures.js'
import { classified } from '../functions/persist/fixtures.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const built = existsSync(path.join(repoRoot, 'dist/functions/classify/rules/default-rules.json'))
t.setTimeout(240_000)

/** Runs `node index.js serve <name>` in a bundle directory; resolves with its URL once it listens. */
function serveFrom(t: Test, dir: string, name: string, env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, ['index.js', 'serve', name, '--port', '0', '--host', '127.0.0.1'], { cwd: dir, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    child.kill('SIGTERM')
  })
  let out = ''
  return new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = /"port":(\d+)/.exec(out)
      if (m !== null) resolve(`http://127.0.0.1:${m[1] ?? ''}`)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`serve ${name} in ${dir} exited ${String(code)} before listening: ${out}`)))
  })
}

async function serve(t: Test, dir: string, name: string, env: Record<string, string> = {}): Promise<string> {
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { scripts: { start: string }; dependencies: Record<string, string> }
  t.equal(pkg.scripts.start, `node index.js serve ${name}`, `${name}: npm start serves the function`)
  return serveFrom(t, dir, name, env)
}

t.test('bundles start from their own directory and serve their function', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, 'classify', 'persist'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  for (const name of ['classify', 'persist']) {
    const check = spawnSync(process.execPath, ['--check', 'index.js'], { cwd: path.join(outRoot, name) })
    t.equal(check.status, 0, `${name}: the buildpack's build script (node --check index.js) passes`)
  }
  const persistPkg = JSON.parse(readFileSync(path.join(outRoot, 'persist/package.json'), 'utf8')) as { dependencies: Record<string, string> }
  t.same(Object.keys(persistPkg.dependencies).sort(), ['@electric-sql/pglite', 'uplot', 'yaml'], 'only what cannot be bundled is installed by the buildpack')

  const classify = await serve(t, path.join(outRoot, 'classify'), 'classify')
  const { headers, body } = toBinary(apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)', type: 'Warning' })))
  const reply = await fetch(classify, { method: 'POST', headers, body })
  t.equal(reply.status, 200, 'classify answers a Pod event with a classified reply')
  t.equal(reply.headers.get('ce-type'), 'dev.kubereflex.event.classified')
  t.equal(reply.headers.get('ce-category'), 'crashloop', 'the default rules were found beside the bundle')
  t.equal((await fetch(`${classify}/health/readiness`)).status, 200)

  const persist = await serve(t, path.join(outRoot, 'persist'), 'persist', { KUBE_REFLEX_DATA_DIR: path.join(outRoot, 'persist-data') })
  const ev = toBinary(classified({ namespace: 'shop', name: 'cart-1', reason: 'BackOff', message: 'x', severity: 'critical', category: 'crashloop', action: 'restart-pod', at: new Date() }))
  t.equal((await fetch(persist, { method: 'POST', headers: ev.headers, body: ev.body })).status, 202, 'persist stores (its migrations were found)')
  const page = await fetch(`${persist}/`)
  t.equal(page.status, 200, 'the dashboard is served from the bundle')
  t.equal((await fetch(`${persist}/dashboard/vendor/uplot.js`)).status, 200, 'with its vendored chart library')
  const events = (await (await fetch(`${persist}/api/v1/events`)).json()) as { items: unknown[] }
  t.equal(events.items.length, 1, 'the query API answers from the bundle')
})

t.test('index.js runs `serve <name>` from the lean bundle and every other command line from the full CLI', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const outRoot = t.testdir()
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${outRoot}`, 'alert'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(r.status, 0, `bundler exits 0 (${r.stderr})`)
  const dir = path.join(outRoot, 'alert')
  const validate = spawnSync(process.execPath, ['index.js', 'validate', '--help'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
  t.equal(validate.status, 0, 'another command works from the function directory')
  t.match(validate.stdout, /Usage: kube-reflex validate/)
  // Another function from alert's directory: the lean bundle cannot load classify, so answering proves the
  // command line went to the full CLI (cli.js).
  const url = await serveFrom(t, dir, 'classify')
  const { headers, body } = toBinary(apiServerEvent(coreEvent({ reason: 'BackOff', message: 'Back-off restarting failed container app in pod web-7d4b9c8f5d-x2x9k_shop(1)', type: 'Warning' })))
  const reply = await fetch(url, { method: 'POST', headers, body })
  t.equal(reply.status, 200, "classify served from alert's directory")
  t.equal(reply.headers.get('ce-category'), 'crashloop')
})
