// The package version, read once from package.json next to the build output.
import { readFileSync } from 'node:fs'

function readVersion(): string {
  for (const rel of ['../../package.json', '../package.json', './package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown }
      // kube-reflex itself, or a function bundle (kube-reflex-<name>, scripts/bundle-functions.mjs).
      if (typeof pkg.name === 'string' && (pkg.name === 'kube-reflex' || pkg.name.startsWith('kube-reflex-')) && typeof pkg.version === 'string') return pkg.version
    } catch {
      // try the next candidate: the layout differs between dist/ and a bundle
    }
  }
  return '0.0.0-unknown'
}

export const version: string = readVersion()
