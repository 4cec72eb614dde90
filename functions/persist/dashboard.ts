// GET / — the dashboard: static HTML/JS/CSS from ./dashboard (copied into dist by scripts/copy-assets.mjs)
// and uPlot served from node_modules. The page reads the query API with paths relative to where it is
// mounted, so it works at / (own Service) and under /persist (`serve all`).
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { Router } from 'express'

interface Asset {
  readonly body: Buffer
  readonly type: string
}

const FILES: Record<string, { from: URL | string; type: string }> = {}

function assets(): Record<string, { from: URL | string; type: string }> {
  if (Object.keys(FILES).length > 0) return FILES
  const dir = new URL('./dashboard/', import.meta.url)
  const require = createRequire(import.meta.url)
  FILES['/'] = { from: new URL('index.html', dir), type: 'text/html; charset=utf-8' }
  FILES['/dashboard/app.js'] = { from: new URL('app.js', dir), type: 'text/javascript; charset=utf-8' }
  FILES['/dashboard/style.css'] = { from: new URL('style.css', dir), type: 'text/css; charset=utf-8' }
  FILES['/dashboard/vendor/uplot.js'] = { from: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' }
  FILES['/dashboard/vendor/uplot.css'] = { from: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' }
  return FILES
}

/** Reads every asset once at start-up: a missing file fails fast instead of on the first page view. */
export async function loadDashboard(): Promise<Map<string, Asset>> {
  const out = new Map<string, Asset>()
  for (const [route, { from, type }] of Object.entries(assets())) out.set(route, { body: await readFile(from), type })
  return out
}

export function mountDashboard(router: Router, files: Map<string, Asset>): void {
  for (const [route, asset] of files) {
    router.get(route, (req, res) => {
      res.setHeader('Content-Type', asset.type)
      // The HTML may change with a release; vendored and app assets are small, revalidate cheaply.
      res.setHeader('Cache-Control', 'no-cache')
      res.setHeader('X-Content-Type-Options', 'nosniff')
      if (route === '/') {
        res.setHeader('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'")
        // Asset and API paths follow the mount point: '' for the function's own Service, '/persist' in `serve all`.
        res.end(asset.body.toString('utf8').replaceAll('{{BASE}}', req.baseUrl))
        return
      }
      res.end(asset.body)
    })
  }
}
