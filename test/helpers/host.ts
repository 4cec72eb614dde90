// Builds a function host in-process on 127.0.0.1 for HTTP tests, closed in teardown.
import type { Test } from 'tap'
import { createHost, type Host, type ReflexFunction } from '../../shared/host.js'
import { silentLogger, type Logger } from '../../shared/logger.js'
import { hostMetrics } from '../../shared/metrics.js'
import { Registry } from 'prom-client'

export async function startHost(t: Test, fns: ReflexFunction | { fn: ReflexFunction; path: string }[], opts: { bodyLimitBytes?: number; log?: Logger; shutdownGraceMs?: number } = {}): Promise<Host> {
  const mounts = Array.isArray(fns) ? fns : [{ fn: fns, path: '' }]
  const host = createHost({
    config: { port: 0, host: '127.0.0.1', bodyLimitBytes: opts.bodyLimitBytes ?? 1024 * 1024, shutdownGraceMs: opts.shutdownGraceMs ?? 2000 },
    log: opts.log ?? silentLogger,
    mounts,
    metrics: hostMetrics(new Registry(), false),
  })
  await host.listen()
  t.teardown(() => host.close())
  return host
}

export function binaryHeaders(attrs: Record<string, string>, contentType = 'application/json'): Record<string, string> {
  const h: Record<string, string> = { 'content-type': contentType }
  for (const [k, v] of Object.entries(attrs)) h[`ce-${k}`] = v
  return h
}
