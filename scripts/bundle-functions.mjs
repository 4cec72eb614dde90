#!/usr/bin/env node
// Builds one self-contained, `kn func`-deployable directory per function: dist/kn/<name>/.
// Knative Functions builds one function per directory and the Node buildpack runs `npm run build` then
// `npm start` in it, so each directory gets:
//   - cli.mjs + cli-chunk-*.mjs: the whole CLI bundled by esbuild WITH its npm dependencies (issue 9: a
//     function that scales from zero should not resolve and read hundreds of files at start-up), split at
//     every dynamic import so that no command parses persist's, alert's or the Kubernetes client's code
//     before it needs it;
//   - index.js: what `npm start` runs. `serve <name>` — the one command this directory exists for — runs
//     serve.js, a second bundle of the same CLI in which the other functions and commands are not reachable
//     (see leanServe below), as one CommonJS file compiled from a V8 code cache when there is one for this
//     Node (scripts/kn/index.cjs); the npm packages it loads only on demand are in vendor/. Any other
//     command line (`serve all`, `dev`, `validate`, …) is handed to cli.mjs, so the directory still runs the
//     whole CLI;
//   - code-cache.js (+ code-cache-sample.json): the directory's `npm run build`, which writes that code cache
//     with the Node that runs it — in the image, the buildpack's (scripts/kn/code-cache.cjs). This script
//     runs it too, for this machine's Node, unless --no-code-cache;
//   - the run-time assets the code finds beside itself (import.meta.url of a bundle is the directory root):
//     rules/ (classify's default rules, pre-parsed JSON included), migrations/ and dashboard/ (persist);
//   - a minimal package.json (CommonJS) whose `start` is `serve <name>` and `build` is code-cache.js,
//     listing only what cannot be bundled (PGlite's WebAssembly files, the YAML library loaded on demand for
//     user rules, uPlot's files served by the dashboard), and the function's func.yaml.
// Needs `npm run build` first (the pre-parsed rules come from dist/). Usage:
//   npm run bundle:functions [-- [--out=DIR] [--no-code-cache] name ...]   (default: all four into dist/kn/)
import { build } from 'esbuild'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath, pathToFileURL } from 'node:url'

const FUNCTIONS = ['classify', 'alert', 'auto-recover', 'persist']
// Loaded at run time from node_modules: files next to the package (wasm, css) or required lazily by name.
const EXTERNAL = ['@electric-sql/pglite', 'yaml', 'uplot', 'pg-native']
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// node-postgres picks its socket factory when pg/lib/stream.js is first required: on a runtime without
// `navigator` (Node 20) it probes for Cloudflare Workers with `new Response(null, { cf: … })`, and that one
// call makes Node load its bundled undici (fetch, WebSocket, http2, web streams): ≈ 4 MiB of alert's idle RSS
// on PostgreSQL (8.5 MiB on top of a bare node:http server), for alert, auto-recover and persist, which never
// use fetch (issue 9). Node 22+ defines
// `navigator`, so the probe returns early there. The functions only ever run on Node, so the bundle gets
// a stream module with the Node branch only: the same exports (getStream → a net.Socket,
// getSecureStream → tls.connect(options)) that pg would choose itself.
const PG_NODE_STREAM = `'use strict'
module.exports = {
  getStream: () => new (require('net').Socket)(),
  getSecureStream: (options) => require('tls').connect(options),
}
`
const pgNodeStream = {
  name: 'pg-node-stream',
  setup(b) {
    let replaced = false
    b.onStart(() => {
      replaced = false
    })
    // And refuse a bundle that contains pg but not the replacement (pg moved the file: the probe is back).
    b.onEnd((result) => {
      const pgInside = Object.keys(result.metafile?.inputs ?? {}).some((p) => /(^|[\\/])node_modules[\\/]pg[\\/]lib[\\/]/.test(p))
      if (pgInside && !replaced) return { errors: [{ text: 'pg-node-stream: pg is bundled but pg/lib/stream.js was not replaced; review scripts/bundle-functions.mjs' }] }
      return undefined
    })
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, (args) => {
      // Refuse to build against a pg whose stream module no longer has this shape, rather than ship a
      // replacement that silently diverges from it.
      const original = readFileSync(args.path, 'utf8')
      for (const needle of ['getStream', 'getSecureStream', 'isCloudflareRuntime', "require('net')", "require('tls')"]) {
        if (!original.includes(needle)) throw new Error(`pg-node-stream: ${args.path} no longer contains ${needle}; review the replacement in scripts/bundle-functions.mjs`)
      }
      replaced = true
      return { contents: PG_NODE_STREAM, loader: 'js' }
    })
  },
}

// shared/prom-client-sync.ts loads prom-client on first use through createRequire, which would look for
// node_modules beside the bundle (a deployed bundle has none). In the bundle it becomes a plain require()
// that esbuild resolves into the bundle itself, still evaluated only when first called.
const promClientSync = {
  name: 'prom-client-sync',
  setup(b) {
    b.onLoad({ filter: /[\\/]shared[\\/]prom-client-sync\.ts$/ }, (args) => {
      if (!readFileSync(args.path, 'utf8').includes("load('prom-client')")) throw new Error(`prom-client-sync: ${args.path} changed shape; review scripts/bundle-functions.mjs`)
      return { contents: "export function promClient() { return require('prom-client') }\n", loader: 'js' }
    })
  },
}

// CommonJS dependencies bundled into ESM still call require() for Node built-ins, so chunks get a module-scoped
// `require`. esbuild prepends a banner to every chunk, but createRequire() is not free: it turns the chunk's URL
// into a path and computes its node_modules lookup paths — start-up work in every chunk (≈ 0.4 MiB of alert's
// idle RSS; it also feeds the path helpers that leanServe below keeps cold). stripUnusedBanners() keeps it
// only where `require` is mentioned (a chunk that never names it cannot use the binding).
const REQUIRE_BANNER = "import { createRequire as __krCreateRequire } from 'node:module'; const require = __krCreateRequire(import.meta.url);"

async function stripUnusedBanners(outputs) {
  for (const file of outputs) {
    if (!/\.m?js$/.test(file)) continue
    const text = await readFile(file, 'utf8')
    const at = text.indexOf(REQUIRE_BANNER)
    if (at < 0) continue
    const rest = text.slice(0, at) + text.slice(at + REQUIRE_BANNER.length)
    if (/\brequire\b/.test(rest)) continue
    // The banner's line stays (empty), so the linked source map still lines up.
    await writeFile(file, rest)
  }
}

// The start-up path of `serve <name>`. With splitting, esbuild cuts a chunk for every set of dynamic-import
// targets that share modules, and the full CLI has many (five commands, four functions, drivers, the
// Kubernetes client): `serve alert` loaded 25 chunks through ~50 ESM resolutions, enough to make Node's
// own path helpers (normalizeString) hot, and V8's optimizing compiler's first run pages in ≈ 4 MiB more of
// the node binary — most of alert's idle RSS above bare node:http (issue 9). The lean bundle is the same
// source with the dynamic imports of the other functions and commands replaced by a rejection, so they
// are not in it; index.js only takes that path for exactly `serve <name> [options]` (the same positional
// rule as cli/commands/serve.ts), which never reaches them.
// It is one CommonJS file, serve.js, not ES modules: Node's ES module loader costs a cold start ≈ 8 ms
// before the first line runs (bare node:http as .cjs against .mjs), and one file with no chunks to resolve
// another ≈ 4 ms; and a CommonJS script can be compiled from a V8 code cache on Node 20 (vm.Script's
// cachedData), which an ES module cannot without flags (scripts/kn/index.cjs, issue 9: A/B of 15 spawns
// each in docs/BENCHMARKS.md).
const COMMANDS_ELSEWHERE = ['classify', 'dev', 'validate', 'replay']

// The npm packages the lean bundle imports dynamically (OpenTelemetry's SDK, express, the Kubernetes client,
// pg, kafkajs, …) are loaded only when used, often never. Inlined into serve.js, their megabytes would be
// parsed at every start (without a code cache) and swell the cache; so each package scope goes into its own
// CommonJS file under vendor/, required on first use. A scope (all of @opentelemetry/* in one file) keeps
// packages that share dependencies in one copy. A file inside a package (auto-recover imports client-node's
// config.js, not the package with its generated API: shared/kube-rest.ts) is a scope of its own, so that
// importing it never loads the whole package's file.
const packageName = (specifier) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/')
const vendorScope = (specifier) => (specifier === packageName(specifier) ? specifier.split('/')[0] : specifier.replace(/\.[cm]?js$/, ''))
const vendorFile = (scope) => `vendor/${scope.replace(/^@/, '').replace(/[^a-zA-Z0-9._-]/g, '_')}.js`

// A package that serve.js also imports statically (persist's query API uses express; prom-client requires
// @opentelemetry/api) stays inside serve.js: vendored as well, it would be loaded and evaluated twice, and
// would not be the same module. (Inside a vendor file, a package shared with serve.js is a second copy:
// @opentelemetry/api under the SDK, which by design finds its one global registration from any copy.)
function vendorSplit(vendored, inline) {
  return {
    name: 'vendor-split',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind !== 'dynamic-import' || isBuiltin(args.path) || EXTERNAL.includes(args.path) || inline.has(packageName(args.path))) return undefined
        const scope = vendorScope(args.path)
        const specifiers = vendored.get(scope) ?? new Set()
        specifiers.add(args.path)
        vendored.set(scope, specifiers)
        return { path: args.path, namespace: 'kr-vendor' }
      })
      // What the import() resolves to, evaluated on first use: the package's exports out of its scope's file.
      b.onLoad({ filter: /.*/, namespace: 'kr-vendor' }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${vendorFile(vendorScope(args.path))}`)})[${JSON.stringify(args.path)}]\n`,
        loader: 'js',
      }))
      b.onResolve({ filter: /^\.\/vendor\// }, (args) => (args.namespace === 'kr-vendor' ? { path: args.path, external: true } : undefined))
    },
  }
}

const serveTemplate = (file) => readFileSync(path.join(repoRoot, 'scripts', 'kn', file), 'utf8')

function leanServe(name) {
  const gone = (what) => `Promise.reject(new Error('${what} is not in the lean bundle of dist/kn/${name} (index.js sends other command lines to cli.mjs)'))`
  const replace = (text, from, to, file) => {
    if (!text.includes(from)) throw new Error(`lean-serve: ${file} no longer contains ${from}; review scripts/bundle-functions.mjs`)
    return text.replace(from, to)
  }
  // The modules every `serve <name>` start-up loads are imported statically instead: one chunk graph loaded
  // up front rather than five rounds of dynamic imports (resolve, read, compile, link, evaluate each): ≈ 6 ms
  // of classify's spawn → first reply and ≈ 8 ms of its CPU (issue 9, A/B of 21 spawns).
  const eager = (text, specifiers, file) => {
    let out = text
    const heads = specifiers.map((spec, i) => {
      out = replace(out, `import('${spec}')`, `Promise.resolve(__krEager${i})`, file)
      return `import * as __krEager${i} from '${spec}'\n`
    })
    return heads.join('') + out
  }
  const rewrites = {
    'cli/registry.ts': (t) =>
      eager(
        FUNCTIONS.filter((f) => f !== name).reduce((acc, f) => replace(acc, `import('../functions/${f}/index.js')`, gone(f), 'cli/registry.ts'), t),
        [`../functions/${name}/index.js`],
        'cli/registry.ts',
      ),
    'cli/main.ts': (t) => eager(COMMANDS_ELSEWHERE.reduce((acc, c) => replace(acc, `import('./commands/${c}.js')`, gone(`the ${c} command`), 'cli/main.ts'), t), ['./commands/serve.js'], 'cli/main.ts'),
    // `serve all` mounts persist's dashboard; a single-function serve never does.
    'cli/commands/serve.ts': (t) =>
      eager(
        name === 'persist' ? t : replace(t, `import('../../functions/persist/index.js')`, gone('persist'), 'cli/commands/serve.ts'),
        ['../../shared/logger.js', '../../shared/host.js', '../../shared/tracing.js'],
        'cli/commands/serve.ts',
      ),
    ...(name === 'classify' ? { 'functions/classify/index.ts': (t) => eager(t, ['./config.js'], 'functions/classify/index.ts') } : {}),
  }
  return {
    name: 'lean-serve',
    setup(b) {
      b.onLoad({ filter: /[\\/](cli[\\/](registry|main|commands[\\/]serve)|functions[\\/]classify[\\/]index)\.ts$/ }, (args) => {
        const rewrite = rewrites[path.relative(repoRoot, args.path).split(path.sep).join('/')]
        return rewrite === undefined ? undefined : { contents: rewrite(readFileSync(args.path, 'utf8')), loader: 'ts' }
      })
    },
  }
}

async function exists(p) {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

// CommonJS output must not keep `import.meta` (esbuild would leave it empty): the bundle's own file URL.
const IMPORT_META_BANNER = "const __krImportMetaUrl = require('node:url').pathToFileURL(__filename).href;"

async function bundleOne(name, rootPackage, outRoot, sample) {
  const out = path.join(outRoot, name)
  await rm(out, { recursive: true, force: true })
  await mkdir(out, { recursive: true })
  const common = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    external: EXTERNAL,
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'linked',
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  }
  // The full CLI: ES modules, split at every dynamic import (.mjs: the directory's package.json is CommonJS).
  const cli = await build({
    ...common,
    outdir: out,
    format: 'esm',
    splitting: true,
    outExtension: { '.js': '.mjs' },
    banner: { js: REQUIRE_BANNER },
    entryPoints: { cli: path.join(repoRoot, 'cli', 'bin.ts') },
    chunkNames: 'cli-chunk-[hash]',
    plugins: [pgNodeStream, promClientSync],
  })
  await stripUnusedBanners(Object.keys(cli.metafile.outputs).map((f) => path.resolve(f)))
  // The lean `serve <name>`: one CommonJS file; import() of a bundled module becomes a lazy require().
  let vendored
  const inline = new Set()
  for (;;) {
    vendored = new Map()
    const lean = await build({
      ...common,
      outfile: path.join(out, 'serve.js'),
      format: 'cjs',
      supported: { 'dynamic-import': false },
      define: { 'import.meta.url': '__krImportMetaUrl' },
      banner: { js: IMPORT_META_BANNER },
      entryPoints: [path.join(repoRoot, 'cli', 'bin.ts')],
      plugins: [leanServe(name), vendorSplit(vendored, inline), pgNodeStream, promClientSync],
    })
    const inputs = Object.keys(lean.metafile.inputs)
    const twice = [...vendored.values()].flatMap((specifiers) => [...specifiers].map(packageName)).filter((pkg) => inputs.some((f) => f.startsWith(`node_modules/${pkg}/`)))
    if (twice.length === 0) break
    for (const pkg of twice) inline.add(pkg)
  }
  // index.js wraps serve.js in a function to compile it (Module.wrap): no hashbang line; the line stays
  // (empty) so the source map still lines up.
  const serveFile = path.join(out, 'serve.js')
  const serveCode = (await readFile(serveFile, 'utf8')).replace(/^#!.*/, '')
  await writeFile(serveFile, serveCode)
  for (const [scope, specifiers] of vendored) {
    await build({
      ...common,
      outfile: path.join(out, vendorFile(scope)),
      format: 'cjs',
      // index.js compiles vendor files with vm.Script, where import() has no loader: require() instead
      // (OpenTelemetry's exporter imports http/https that way).
      supported: { 'dynamic-import': false },
      stdin: { contents: `module.exports = {\n${[...specifiers].map((s) => `  ${JSON.stringify(s)}: require(${JSON.stringify(s)}),`).join('\n')}\n}\n`, resolveDir: repoRoot, loader: 'js' },
      plugins: [pgNodeStream],
    })
  }
  // The build id in every cache file's name: serve.js and the vendor/ files, whose caches index.js reads.
  const hash = createHash('sha256').update(serveCode)
  for (const scope of [...vendored.keys()].sort()) hash.update(await readFile(path.join(out, vendorFile(scope))))
  const buildId = hash.digest('hex').slice(0, 16)
  await writeFile(path.join(out, 'index.js'), fill(serveTemplate('index.cjs'), { __KR_NAME__: name, __KR_BUILD__: buildId }), { mode: 0o755 })
  await writeFile(path.join(out, 'code-cache.js'), serveTemplate('code-cache.cjs'))
  await writeFile(path.join(out, 'code-cache-sample.json'), `${JSON.stringify(sample)}\n`)
  const assets = [
    ['dist/functions/classify/rules', 'rules'],
    ['dist/functions/persist/migrations', 'migrations'],
    ['dist/functions/persist/dashboard', 'dashboard'],
  ]
  for (const [from, to] of assets) {
    const src = path.join(repoRoot, from)
    if (!(await exists(src))) throw new Error(`${from} is missing: run \`npm run build\` first`)
    await cp(src, path.join(out, to), { recursive: true })
  }
  const dependencies = Object.fromEntries(EXTERNAL.filter((d) => rootPackage.dependencies[d] !== undefined).map((d) => [d, rootPackage.dependencies[d]]))
  const pkg = {
    name: `kube-reflex-${name}`,
    version: rootPackage.version,
    private: true,
    description: `kube-reflex ${name}, bundled for kn func deploy`,
    license: rootPackage.license,
    type: 'commonjs',
    engines: rootPackage.engines,
    scripts: {
      // The buildpack runs `build` when BP_NODE_RUN_SCRIPTS asks for it (the function's func.yaml does):
      // the bundle is prebuilt, so it only writes the code cache for the image's Node (scripts/kn/code-cache.cjs).
      build: 'node code-cache.js',
      start: `node index.js serve ${name}`,
    },
    dependencies,
  }
  await writeFile(path.join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  await cp(path.join(repoRoot, 'functions', name, 'func.yaml'), path.join(out, 'func.yaml'))
  return out
}

function fill(template, values) {
  let text = template
  for (const [key, value] of Object.entries(values)) {
    if (!text.includes(`'${key}'`)) throw new Error(`scripts/kn template has no '${key}'`)
    text = text.replace(`'${key}'`, JSON.stringify(value))
  }
  return text
}

// The events code-cache.js sends each function while it writes the cache: for classify, a Warning Event of the
// demo scenario as ApiServerSource delivers it; for the others, classify's reply to it (what their Triggers
// deliver). Made with the built code (dist/), so they are the real contract, not a copy of it.
async function trainingSamples() {
  const dist = (rel) => pathToFileURL(path.join(repoRoot, 'dist', rel)).href
  const { parseLine } = await import(dist('cli/ndjson.js'))
  const { createDeps, handle, loadConfig } = await import(dist('functions/classify/index.js'))
  const { toBinary } = await import(dist('shared/cloudevent.js'))
  const { silentLogger } = await import(dist('shared/logger.js'))
  const deps = createDeps(loadConfig({}), { kube: () => Promise.reject(new Error('offline')) })
  const lines = (await readFile(path.join(repoRoot, 'scenarios', 'demo.ndjson'), 'utf8')).split('\n')
  for (const [i, text] of lines.entries()) {
    const item = parseLine(text, i + 1)
    if (item === undefined || 'error' in item) continue
    const reply = await handle(item.event, { deps, log: silentLogger, traceparent: '', signal: new AbortController().signal, receivedAt: Date.now() })
    if (reply?.data?.severity !== 'critical') continue
    const wire = (event) => {
      const { headers, body } = toBinary(event)
      return { headers, body: body.toString('utf8') }
    }
    const classified = wire(reply)
    return { classify: wire(item.event), alert: classified, 'auto-recover': classified, persist: classified }
  }
  throw new Error('scenarios/demo.ndjson has no event that classify grades critical: no sample for the code cache')
}

function runBuildScript(dir) {
  const r = spawnSync(process.execPath, ['code-cache.js'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } })
  if (r.status !== 0) throw new Error(`${path.relative(process.cwd(), dir)}: npm run build (code-cache.js) failed:\n${r.stderr}`)
}

const args = process.argv.slice(2)
const outArg = args.find((a) => a.startsWith('--out='))
const withCache = !args.includes('--no-code-cache')
const outRoot = outArg === undefined ? path.join(repoRoot, 'dist', 'kn') : path.resolve(outArg.slice('--out='.length))
const requested = args.filter((a) => !a.startsWith('--'))
const unknown = [...requested.filter((n) => !FUNCTIONS.includes(n)), ...args.filter((a) => a.startsWith('--') && !a.startsWith('--out=') && a !== '--no-code-cache')]
if (unknown.length > 0) {
  process.stderr.write(`bundle-functions: unknown function(s) or option(s): ${unknown.join(', ')} (functions: ${FUNCTIONS.join(', ')}; options: --out=DIR, --no-code-cache)\n`)
  process.exitCode = 2
} else {
  const samples = await trainingSamples()
  const rootPackage = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'))
  for (const name of requested.length > 0 ? requested : FUNCTIONS) {
    const out = await bundleOne(name, rootPackage, outRoot, samples[name])
    // What the buildpack's build step does in the image; here, for this machine's Node (the benchmarks).
    if (withCache) runBuildScript(out)
    process.stdout.write(`${path.relative(process.cwd(), out) || '.'}\n`)
  }
}
