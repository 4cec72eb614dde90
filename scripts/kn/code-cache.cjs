#!/usr/bin/env node
'use strict'
// dist/kn/<name>/code-cache.js, written by scripts/bundle-functions.mjs from scripts/kn/code-cache.cjs: the
// directory's `npm run build`, which Knative's Node buildpack runs in the image (BP_NODE_RUN_SCRIPTS=build in
// the function's func.yaml) and `npm run bundle:functions` runs here. It writes the V8 code cache index.js
// reads for `serve <name>`, made by the Node that runs this script: the image's own. It starts the function
// on 127.0.0.1 with a throwaway data directory and no configuration from the environment, sends it the
// sample event beside it (code-cache-sample.json) so the event path is compiled too, stops it, and removes
// the caches of earlier builds. A function that does not start fails the build; a sample event that is not
// accepted only warns (the cache still covers start-up).
const { spawn } = require('node:child_process')
const { request } = require('node:http')
const { mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs')
const { tmpdir } = require('node:os')
const path = require('node:path')

const NAME = JSON.parse(readFileSync(path.join(__dirname, 'package.json'), 'utf8')).name.replace(/^kube-reflex-/, '')
const TIMEOUT_MS = Number(process.env.KUBE_REFLEX_CODE_CACHE_TIMEOUT_MS ?? 120_000)

let child
function fail(message) {
  process.stderr.write(`code-cache (${NAME}): ${message}\n`)
  // Never leave the function running behind a failed build.
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  process.exit(1)
}

async function main() {
  const sample = JSON.parse(readFileSync(path.join(__dirname, 'code-cache-sample.json'), 'utf8'))
  const dataDir = mkdtempSync(path.join(tmpdir(), `kube-reflex-code-cache-${NAME}-`))
  // NODE_OPTIONS passes through: V8 refuses a cache made under other V8 flags (--jitless; on Node 20 and 22
  // --max-old-space-size too), so a function run with NODE_OPTIONS needs the same value in its buildEnvs
  // (docs/DEPLOY.md).
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dataDir, NODE_ENV: 'production', LOG_LEVEL: 'info', KUBE_REFLEX_DATA_DIR: dataDir, KUBE_REFLEX_CODE_CACHE: 'write' }
  if (process.env.NODE_OPTIONS !== undefined) env.NODE_OPTIONS = process.env.NODE_OPTIONS
  child = spawn(process.execPath, [path.join(__dirname, 'index.js'), 'serve', NAME, '--port', '0', '--host', '127.0.0.1'], { cwd: __dirname, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const timer = setTimeout(() => {
    child.kill('SIGKILL')
    fail(`no answer within ${TIMEOUT_MS} ms\n${out.slice(-2000)}`)
  }, TIMEOUT_MS)
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  // The log (where the listening line says the port) and the loader's own lines, from either stream.
  let listening = false
  const port = await new Promise((resolve) => {
    const onData = (d) => {
      out += d.toString()
      const m = /"port":(\d+)/.exec(out)
      if (m !== null && !listening) {
        listening = true
        resolve(Number(m[1]))
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    void exited.then(({ code, signal }) => {
      if (!listening) fail(`serve ${NAME} exited (${signal ?? code}) before listening\n${out.slice(-2000)}`)
    })
  })
  // node:http, not fetch: fetch needs WebAssembly, which some V8 flags in NODE_OPTIONS (--jitless) turn off.
  const status = await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', headers: sample.headers }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(sample.body)
  })
  if (status >= 300) process.stderr.write(`code-cache (${NAME}): warning: the sample event was answered ${status}; the cache covers start-up only\n`)
  child.kill('SIGTERM')
  const { code, signal } = await exited
  clearTimeout(timer)
  const written = [...out.matchAll(/code cache written: (.+)$/gm)].map((m) => path.basename(m[1].trim()))
  if (written.length === 0) fail(`serve ${NAME} stopped (${signal ?? code}) without writing the cache\n${out.slice(-2000)}`)
  const cacheDir = path.join(__dirname, 'code-cache')
  for (const f of readdirSync(cacheDir)) if (!written.includes(f)) rmSync(path.join(cacheDir, f))
  rmSync(dataDir, { recursive: true, force: true })
  process.stdout.write(`code-cache (${NAME}): ${written.join(', ')}\n`)
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e)))
