// Types for process.mjs (the parts tests use).
export function cacheRoot(env?: NodeJS.ProcessEnv): string
export function runRoot(env?: NodeJS.ProcessEnv): string
export function freePorts(count?: number): Promise<number[]>
export function spawnDetached(
  command: string,
  args: string[],
  options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number },
): number
export function isAlive(pid: number): boolean
export function stopRunning(signal?: NodeJS.Signals): number
export function groupAlive(pgid: number): boolean
export function stopGroup(pgid: number, options?: { signal?: NodeJS.Signals; graceMs?: number; leaderOnly?: boolean }): Promise<void>
export function tailFile(file: string, lines?: number): string
export function waitReady(options: {
  name: string
  probe: () => Promise<boolean>
  pid: number
  logFile: string
  timeoutMs: number
  intervalMs?: number
}): Promise<void>
