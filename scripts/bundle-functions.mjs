#!/usr/bin/env node
// Builds one self-contained, `kn func`-deployable directory per function: dist/functions/<name>/.
// Knative Functions builds one function per directory and the Node buildpack runs `npm run build`
// then `npm start` in it, so each directory gets: index.js (the CLI bundled by esbuild, npm
// dependencies left external and installed by the buildpack), a minimal package.json whose `start`
// is `serve <name>`, the function's func.yaml, and its rules folder when there is one.
// Usage: npm run bundle:functions [-- name ...]   (default: all four)
import { build } from 'esbuild'
import { cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const FUNCTIONS = ['classify', 'alert', 'auto-recover', 'persist']
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

async function exists(p) {
  try {
    await stat(p)
    return true
  } catch {
    return false
  }
}

async function bundleOne(name, rootPackage) {
  const out = path.join(repoRoot, 'dist', 'functions', name)
  await rm(out, { recursive: true, force: true })
  await mkdir(out, { recursive: true })
  await build({
    entryPoints: [path.join(repoRoot, 'cli', 'bin.ts')],
    outfile: path.join(out, 'index.js'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  })
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
    dependencies: rootPackage.dependencies,
  }
  await writeFile(path.join(out, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
  await cp(path.join(repoRoot, 'functions', name, 'func.yaml'), path.join(out, 'func.yaml'))
  const rules = path.join(repoRoot, 'functions', name, 'rules')
  if (await exists(rules)) await cp(rules, path.join(out, 'functions', name, 'rules'), { recursive: true })
  return out
}

const requested = process.argv.slice(2)
const unknown = requested.filter((n) => !FUNCTIONS.includes(n))
if (unknown.length > 0) {
  process.stderr.write(`bundle-functions: unknown function(s): ${unknown.join(', ')} (known: ${FUNCTIONS.join(', ')})\n`)
  process.exitCode = 2
} else {
  const rootPackage = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'))
  for (const name of requested.length > 0 ? requested : FUNCTIONS) {
    const out = await bundleOne(name, rootPackage)
    process.stdout.write(`${path.relative(repoRoot, out)}\n`)
  }
}
