// Whether a process group is gone: no live (non-zombie) process has it as its group id.
import { readdirSync, readFileSync } from 'node:fs'

export function groupMembers(pgid: number): number[] {
  const members: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    // "pid (comm) state ppid pgrp ..." — comm may contain spaces, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') members.push(Number(name))
  }
  return members
}

/** Polls briefly (stop() already waited; this only absorbs /proc lag) and reports emptiness. */
export async function processGone(pgid: number, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (groupMembers(pgid).length === 0) return true
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return groupMembers(pgid).length === 0
}
