// What the harness's stand-alone commands (bench/dev-profile.ts, bench/snapshot-startup.ts) share: a usage
// error that exits 2, and running main() only when the file is the process's entry — not when a test imports
// its renderer — with everything it spawned killed and its scratch directory removed at the end or on Ctrl-C.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { killAll } from './process.js'
import { removeScratch } from './scratch.js'

/** Prints `<command>: <message>` and exits 2 (a usage error). */
export function usageError(command: string, message: string): never {
  process.stderr.write(`${command}: ${message}\n`)
  process.exit(2)
}

/** Runs `main` when `moduleUrl` (the caller's import.meta.url) is the entry script; exit 1 on a failure. */
export function runAsCommand(moduleUrl: string, command: string, main: () => Promise<void>): void {
  if (process.argv[1] === undefined || resolve(process.argv[1]) !== fileURLToPath(moduleUrl)) return
  const cleanup = (): void => {
    killAll()
    removeScratch()
  }
  process.on('SIGINT', () => {
    cleanup()
    process.exit(130)
  })
  main()
    .catch((err: unknown) => {
      process.stderr.write(`${command}: ${(err as Error).message}\n`)
      process.exitCode = 1
    })
    .finally(cleanup)
}

/** Runs the command's parseArgs call; an unknown or malformed option is a usage error. */
export function parseOptions<T>(command: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    return usageError(command, `${(err as Error).message} (see --help)`)
  }
}
