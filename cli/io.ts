// What a command may touch of the outside world, injected so tests run commands in-process.
import type { Writable } from 'node:stream'

export interface CommandIO {
  readonly stdout: Writable
  readonly stderr: Writable
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  readonly stopSignal: AbortSignal
}

/** A command resolves to its exit code; it never calls process.exit itself. */
export type Command = (argv: string[], io: CommandIO) => Promise<number>

export class UsageError extends Error {
  override readonly name = 'UsageError'
}
