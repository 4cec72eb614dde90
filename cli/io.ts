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

/** The value of a --port flag: an integer 0..65535 (read as the host configuration reads PORT), else a usage error. */
export function portFlag(text: string): number {
  const port = Number(text)
  if (text.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535 (got '${text}')`)
  return port
}

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
}

/** "cannot read FILE: no such file or directory", from a file system error (its message otherwise). */
export function cannotRead(file: string, err: unknown): string {
  const code = err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined
  const reason = code !== undefined && code in FILE_ERRORS ? FILE_ERRORS[code] : err instanceof Error ? err.message : String(err)
  return `cannot read ${file}: ${reason}`
}
