#!/usr/bin/env node
// Builds one self-contained, `kn func`-deployable directory per function: dist/kn/<name>/.
// Knative Functions builds one function per directory and the Node buildpack runs `npm run build` then
// `npm start` in it, so each directory gets:
//   - cli.js + cli-chunk-*.js: the whole CLI bundled by esbuild WITH its npm dependencies (issue 9: a
//     function that scales from zero should not resolve and read hundreds of files at start-up), split at
//     every dynamic import so `serve classify` never parses persist's, alert's or the Kubernetes client's code;
//   - index.js + chunk-*.js: what `npm start` runs. `serve <name>` — the one command this directory exists
//     for — runs from a second bundle of the same CLI in which the other functions and commands are not
//     reachable (see leanServe below): far fewer, larger chunks on the start-up path. Any other command line
//     (`serve all`, `dev`, `validate`, …) is handed to cli.js, so the directory still runs the whole CLI;
//   - the run-time assets the code finds beside itself (import.meta.url of a chunk is the directory root):
//     rules/ (classify's default rules, pre-parsed JSON included), migrations/ and dashboard/ (persist);
//   - a minimal package.json whose `start` is `serve <name>`, listing only what cannot be bundled
//     (PGlite's WebAssembly files, the YAML library loaded on demand for user rules, uPlot's files
//     served by the dashboard), and the function's func.yaml.
// Needs `npm run build` first (the pre-parsed rules come from dist/). Usage:
//   npm run bundle:functions [-- [--out=DIR] name ...]   (default: all four into dist/kn/)
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

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
    if (!file.endsWith('.js')) continue
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
// stay out of its chunk graph; index.js only takes that path for exactly `serve <name> [options]`
// (the same positional rule as cli/commands/serve.ts), which never reaches them.
const SERVE_OPTIONS_WITH_VALUE = new Set(['-p', '--port', '--host'])
const COMMANDS_ELSEWHERE = ['classify', 'dev', 'validate', 'replay']

function leanEntry(name) {
  return `#!/usr/bin/env node
// dist/kn/${name}/index.js: \`serve ${name}\` from the lean bundle, anything else from the full CLI (cli.js).
const args = process.argv.slice(2)
const positionals = []
for (let i = 1; i < args.length; i++) {
  const a = args[i]
  if (${JSON.stringify([...SERVE_OPTIONS_WITH_VALUE])}.includes(a)) i++
  else if (a === '--') { positionals.push(...args.slice(i + 1)); break }
  else if (!a.startsWith('-')) positionals.push(a)
}
if (args[0] === 'serve' && positionals.length === 1 && positionals[0] === ${JSON.stringify(name)}) await import('./cli/bin.ts')
else await import('./cli.js')
`
}

function leanServe(name) {
  const gone = (what) => `Promise.reject(new Error('${what} is not in the lean bundle of dist/kn/${name} (index.js sends other command lines to cli.js)'))`
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
      b.onResolve({ filter: /^kr-lean-entry$/ }, () => ({ path: name, namespace: 'kr-lean-entry' }))
      b.onLoad({ filter: /.*/, namespace: 'kr-lean-entry' }, () => ({ contents: leanEntry(name), resolveDir: repoRoot, loader: 'js' }))
      b.onResolve({ filter: /^\.\/cli\.js$/ }, (args) => (args.namespace === 'kr-lean-entry' ? { path: './cli.js', external: true } : undefined))
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

async function bundleOne(name, rootPackage, outRoot) {
  const out = path.join(outRoot, name)
  await rm(out, { recursive: true, force: true })
  await mkdir(out, { recursive: true })
  const common = {
    outdir: out,
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'linked',
    sourcemap: 'linked',
    banner: { js: REQUIRE_BANNER },
    metafile: true,
    logLevel: 'warning',
  }
  const builds = [
    { ...common, entryPoints: { cli: path.join(repoRoot, 'cli', 'bin.ts') }, chunkNames: 'cli-chunk-[hash]', plugins: [pgNodeStream, promClientSync] },
    { ...common, entryPoints: { index: 'kr-lean-entry' }, chunkNames: 'chunk-[hash]', plugins: [leanServe(name), pgNodeStream, promClientSync] },
  ]
  for (const options of builds) {
    const result = await build(options)
    await stripUnusedBanners(Object.keys(result.metafile.outputs).map((f) => path.resolve(f)))
  }
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
    type: 'module',
    engines: rootPackage.engines,
    scripts: {
      // The buildpack runs `build` when BP_NODE_RUN_SCRIPTS asks for it; the bundle is prebuilt,
      // so it only checks that index.js parses.
      build: 'node --check index.js',
      start: `node index.js serve ${name}`,
    },
    dependencies,
  }
  await writeFile(path.join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  await cp(path.join(repoRoot, 'functions', name, 'func.yaml'), path.join(out, 'func.yaml'))
  return out
}

const args = process.argv.slice(2)
const outArg = args.find((a) => a.startsWith('--out='))
const outRoot = outArg === undefined ? path.join(repoRoot, 'dist', 'kn') : path.resolve(outArg.slice('--out='.length))
const requested = args.filter((a) => !a.startsWith('--out='))
const unknown = requested.filter((n) => !FUNCTIONS.includes(n))
if (unknown.length > 0) {
  process.stderr.write(`bundle-functions: unknown function(s): ${unknown.join(', ')} (known: ${FUNCTIONS.join(', ')})\n`)
  process.exitCode = 2
} else {
  const rootPackage = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'))
  for (const name of requested.length > 0 ? requested : FUNCTIONS) {
    const out = await bundleOne(name, rootPackage, outRoot)
    process.stdout.write(`${path.relative(process.cwd(), out) || '.'}\n`)
  }
}
