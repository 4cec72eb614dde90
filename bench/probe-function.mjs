// Does a function exist in the built code? Asks cli/registry's createFunction, the way `serve` does, and
// prints one JSON line (argv: name [distDir]): {present:true} or {present:false, reason}. "not implemented" means the function
// is not merged yet; any other error is reported as it is.
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

const name = process.argv[2]
const dist = process.argv[3] ?? new URL('../dist', import.meta.url).pathname
const { createFunction } = await import(pathToFileURL(join(dist, 'cli', 'registry.js')).href)
const { silentLogger } = await import(pathToFileURL(join(dist, 'shared', 'logger.js')).href)
try {
  const fn = await createFunction(name, process.env, silentLogger)
  await fn.close?.()
  process.stdout.write(JSON.stringify({ present: true }) + '\n')
} catch (err) {
  const message = err instanceof Error ? err.message : String(err)
  process.stdout.write(JSON.stringify({ present: false, missing: /not implemented/.test(message), reason: message }) + '\n')
}
