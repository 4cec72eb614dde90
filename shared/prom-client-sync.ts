// prom-client loaded on first use rather than at import (issue 9: classify's cold start). It is CommonJS,
// so a synchronous require keeps HostMetrics' `registry` a plain property for the functions that register
// their own metrics. scripts/bundle-functions.mjs replaces this module with a plain `require('prom-client')`
// that esbuild bundles (createRequire would look for node_modules beside a deployed bundle, which has none).
import { createRequire } from 'node:module'

type PromClient = typeof import('prom-client')

const load = createRequire(import.meta.url)

export function promClient(): PromClient {
  return load('prom-client') as PromClient
}
