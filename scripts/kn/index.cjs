#!/usr/bin/env node
'use strict'
// dist/kn/<name>/index.js, written by scripts/bundle-functions.mjs from scripts/kn/index.cjs (the two
// placeholders below are filled in there). `serve <name> [options]`, the one command line the directory
// exists for, runs serve.js: the lean bundle, one CommonJS file (no ES module loader, no chunk graph to
// resolve at start-up), compiled from the V8 code cache that `npm run build` (code-cache.js) wrote with this
// very Node when there is one (code-cache/), so the functions that start-up and the first event run are not
// compiled again at every cold start (issue 9); the same for the vendor/ files serve.js requires. A cache
// from another build or another V8 is never read (the file name carries both) and V8 itself refuses one
// whose version, flags or source length differ: then the file is compiled from source as usual. Any other
// command line goes to the full CLI (cli.mjs).
// KUBE_REFLEX_CODE_CACHE: unset = use the cache when it matches; `off` = never; `report` = say on stderr
// whether it was used; `write` = (code-cache.js) write it when the process exits.
const NAME = '__KR_NAME__'
const BUILD = '__KR_BUILD__'
const SERVE_OPTIONS_WITH_VALUE = ['-p', '--port', '--host']

/** The same positional rule as cli/commands/serve.ts: exactly `serve <NAME>`, options anywhere. */
function isLeanServe(args) {
  if (args[0] !== 'serve') return false
  const positionals = []
  for (let i = 1; i < args.length; i++) {
    const a = args[i]
    if (SERVE_OPTIONS_WITH_VALUE.includes(a)) i++
    else if (a === '--') {
      positionals.push(...args.slice(i + 1))
      break
    } else if (!a.startsWith('-')) positionals.push(a)
  }
  return positionals.length === 1 && positionals[0] === NAME
}

function runServe() {
  const fs = require('node:fs')
  const path = require('node:path')
  const vm = require('node:vm')
  const { wrap } = require('node:module')
  const mode = process.env.KUBE_REFLEX_CODE_CACHE ?? ''
  if (!['', 'off', 'report', 'write'].includes(mode)) {
    process.stderr.write(`kube-reflex: KUBE_REFLEX_CODE_CACHE must be unset, off, report or write (got ${JSON.stringify(mode)})\n`)
    process.exit(2)
  }
  const cacheDir = path.join(__dirname, 'code-cache')
  const compiled = []
  const modules = new Map()
  // serve.js, and the vendor/ files it requires on first use (express, pg, …: loaded at start-up by some
  // functions), each from its own cache file.
  const load = (file) => {
    const cacheFile = path.join(cacheDir, `${path.relative(__dirname, file).replace(/[\\/]/g, '_')}-${BUILD}-v8-${process.versions.v8}-${process.arch}.cache`)
    let cachedData
    if (mode === '' || mode === 'report') {
      try {
        cachedData = fs.readFileSync(cacheFile)
      } catch {
        // no cache for this build and this V8: compile from source
      }
    }
    const script = new vm.Script(wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData })
    if (mode === 'report') process.stderr.write(`kube-reflex: code cache ${cachedData === undefined ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'used'}: ${cacheFile}\n`)
    compiled.push({ script, cacheFile })
    const mod = { exports: {}, id: file, filename: file, loaded: false }
    modules.set(file, mod)
    script.runInThisContext().call(mod.exports, mod.exports, requireHere, mod, file, path.dirname(file))
    mod.loaded = true
    return mod.exports
  }
  const requireHere = Object.assign(
    (id) => {
      if (!id.startsWith('./vendor/')) return require(id)
      const file = path.join(__dirname, id)
      return modules.has(file) ? modules.get(file).exports : load(file)
    },
    { resolve: require.resolve, cache: require.cache, main: require.main },
  )
  if (mode === 'write') {
    // At exit, after start-up and whatever events came in: each cache then holds every function compiled so far.
    process.once('exit', () => {
      // The vendor/ files this run did not need are loaded here, so that they get a cache too: the build has
      // no database and no cluster, so pg (with DATABASE_URL) and the Kubernetes client (auto-recover's first
      // event with a cluster: ≈ 5 MB of JavaScript) would otherwise be compiled from source at every cold
      // start. Their cache holds what loading them compiles (not the calls made later).
      const vendorDir = path.join(__dirname, 'vendor')
      const vendor = fs.existsSync(vendorDir) ? fs.readdirSync(vendorDir).filter((f) => f.endsWith('.js')).sort() : []
      for (const f of vendor) {
        const file = path.join(vendorDir, f)
        if (modules.has(file)) continue
        try {
          load(file)
        } catch (err) {
          process.stderr.write(`kube-reflex: no code cache for ${file}: ${err instanceof Error ? err.message : String(err)}\n`)
        }
      }
      fs.mkdirSync(cacheDir, { recursive: true })
      for (const { script, cacheFile } of compiled) {
        fs.writeFileSync(cacheFile, script.createCachedData())
        process.stderr.write(`kube-reflex: code cache written: ${cacheFile}\n`)
      }
    })
  }
  load(path.join(__dirname, 'serve.js'))
}

if (isLeanServe(process.argv.slice(2))) runServe()
else import('./cli.mjs')
