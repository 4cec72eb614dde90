// Files that ship with the package (scenarios, triggers, knative manifests), found from the code's location
// whether it runs from the source tree (tests) or from dist/.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

let root: string | undefined

/** The package root: the nearest ancestor of this file holding package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir)
    if (up === dir) throw new Error('kube-reflex: package root not found')
    dir = up
  }
  root = dir
  return dir
}

export const demoScenarioPath = (): string => join(packageRoot(), 'scenarios', 'demo.ndjson')
