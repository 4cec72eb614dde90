// Does a function exist in the built code? Asks cli/registry's createFunction, the way `serve` does, and
// prints one JSON line: {present:true} or {present:false, reason}. "not implemented" means the function
// is not merged yet; any other error is reported as it is.
const name = process.argv[2]
const { createFunction } = await import('../dist/cli/registry.js')
const { silentLogger } = await import('../dist/shared/logger.js')
try {
  const fn = await createFunction(name, process.env, silentLogger)
  await fn.close?.()
  process.stdout.write(JSON.stringify({ present: true }) + '\n')
} catch (err) {
  const message = err instanceof Error ? err.message : String(err)
  process.stdout.write(JSON.stringify({ present: false, missing: /not implemented/.test(message), reason: message }) + '\n')
}
