// Building blocks for each function's `loadConfig(env)`: every option has an env name, a default and a
// validator; bad values fail fast with a message naming the variable (STYLE.md practice 2).
import { statSync } from 'node:fs'

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
  }
}

export type Env = Readonly<Record<string, string | undefined>>

/** Collects problems across all options so the user sees every mistake at once. */
export class EnvReader {
  readonly problems: string[] = []
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback
  }

  optionalString(name: string): string | undefined {
    return this.raw(name)
  }

  /**
   * An optional path to a file the function reads at start (rules, routes, policy, kubeconfig): checked
   * here so a missing file or a directory is a ConfigError naming the variable and the path, not a bare
   * ENOENT/EISDIR from the reader later.
   */
  file(name: string): string | undefined {
    const path = this.raw(name)
    if (path === undefined) return undefined
    let stat
    try {
      stat = statSync(path)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      this.problems.push(code === 'ENOENT' ? `${name} names a file that does not exist: ${path}` : `${name} names a file that cannot be read (${code ?? 'error'}): ${path}`)
      return path
    }
    if (!stat.isFile()) this.problems.push(`${name} names a ${stat.isDirectory() ? 'directory' : 'special file'}, not a regular file: ${path}`)
    return path
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name)
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got '${v}')`)
      return fallback
    }
    return n
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)
    if (v === undefined) return fallback
    if (/^(1|true|yes|on)$/i.test(v)) return true
    if (/^(0|false|no|off)$/i.test(v)) return false
    this.problems.push(`${name} must be true or false (got '${v}')`)
    return fallback
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name)
    if (v === undefined) return fallback
    if ((allowed as readonly string[]).includes(v)) return v as T
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got '${v}')`)
    return fallback
  }

  url(name: string, protocols: readonly string[] = ['http:', 'https:']): URL | undefined {
    const v = this.raw(name)
    if (v === undefined) return undefined
    try {
      const u = new URL(v)
      if (!protocols.includes(u.protocol)) throw new Error('protocol')
      return u
    } catch {
      // The value may be a secret (webhook URLs carry tokens): name the variable, never echo the value.
      this.problems.push(`${name} must be a ${protocols.map((p) => p.replace(':', '')).join(' or ')} URL`)
      return undefined
    }
  }

  /** Throws ConfigError when any option was invalid; returns the frozen result otherwise. */
  done<T extends object>(config: T): Readonly<T> {
    if (this.problems.length > 0) throw new ConfigError(this.problems)
    return Object.freeze(config)
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface HostConfig {
  readonly port: number
  readonly host: string
  readonly logLevel: LogLevel
  readonly bodyLimitBytes: number
  readonly shutdownGraceMs: number
  readonly clusterName: string
}

/** Options every function host shares (DESIGN.md "Configuration names"). */
export function readHostConfig(r: EnvReader): HostConfig {
  return {
    port: r.int('PORT', 8080, 0, 65535),
    // Knative needs the container to listen on all interfaces; tests and `dev` pass 127.0.0.1.
    host: r.string('HOST', '0.0.0.0'),
    logLevel: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: r.int('KUBE_REFLEX_BODY_LIMIT_BYTES', 1024 * 1024, 64 * 1024, 64 * 1024 * 1024),
    shutdownGraceMs: r.int('KUBE_REFLEX_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    clusterName: r.string('CLUSTER_NAME', 'default'),
  }
}
