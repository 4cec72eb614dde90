// `kube-reflex serve <function|all>`: one function over HTTP, as the container runs it on Knative.
import { parseArgs } from 'node:util'
import type { Command, CommandIO } from '../io.js'
import { UsageError, portFlag } from '../io.js'
import { ConfigError, EnvReader, readHostConfig, type HostConfig } from '../../shared/config.js'
import { FUNCTION_NAMES, createFunction, isFunctionName, type FunctionName } from '../registry.js'

export const SERVE_HELP = `Usage: kube-reflex serve <${FUNCTION_NAMES.join('|')}|all> [options]

Runs a function's CloudEvents endpoint (POST /), with GET /health/liveness,
GET /health/readiness and GET /metrics. 'all' serves every function in one
process at POST /classify, /alert, /auto-recover and /persist.

Options:
  -p, --port <port>   port to listen on (default: $PORT or 8080)
      --host <addr>   address to listen on (default: $HOST or 0.0.0.0)
  -h, --help          show this help

Configuration comes from the environment (see README "Configuration").
`

export interface ServeOptions {
  readonly functions: readonly FunctionName[]
  readonly all: boolean
  readonly host: HostConfig
}

/** Pure: argv + env → options, or a UsageError/ConfigError naming what is wrong. */
export function parseOptions(argv: string[], env: Readonly<Record<string, string | undefined>>): ServeOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { port: { type: 'string', short: 'p' }, host: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help === true) return 'help'
  const [target, ...extra] = positionals
  if (target === undefined) throw new UsageError(`which function? one of ${FUNCTION_NAMES.join(', ')}, or all`)
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0] ?? ''}'`)
  if (target !== 'all' && !isFunctionName(target)) throw new UsageError(`unknown function '${target}' (one of ${FUNCTION_NAMES.join(', ')}, all)`)
  // The flags are checked as flags (the environment's PORT and HOST by the host configuration below).
  if (values.port !== undefined) portFlag(values.port)
  if (values.host === '') throw new UsageError('--host needs a value')
  const r = new EnvReader({ ...env, ...(values.port === undefined ? {} : { PORT: values.port }), ...(values.host === undefined ? {} : { HOST: values.host }) })
  const host = r.done(readHostConfig(r))
  return { functions: target === 'all' ? [...FUNCTION_NAMES] : [target], all: target === 'all', host }
}

export const serve: Command = async (argv: string[], io: CommandIO) => {
  let options: ServeOptions | 'help'
  try {
    options = parseOptions(argv, io.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      io.stderr.write(`kube-reflex serve: ${err.message}\n`)
      return 2
    }
    if (err instanceof TypeError) throw new UsageError(err.message) // parseArgs: unknown option
    throw err
  }
  if (options === 'help') {
    io.stdout.write(SERVE_HELP)
    return 0
  }
  const [{ createLogger }, { createHost }, { startTracing, stopTracing }] = await Promise.all([
    import('../../shared/logger.js'),
    import('../../shared/host.js'),
    import('../../shared/tracing.js'),
  ])
  const name = options.all ? 'all' : (options.functions[0] ?? 'all')
  const log = createLogger({ level: options.host.logLevel, name })
  let mounts
  try {
    mounts = await Promise.all(options.functions.map(async (fn) => ({ fn: await createFunction(fn, io.env, log), path: options.all ? `/${fn}` : '' })))
  } catch (err) {
    if (err instanceof ConfigError || (err instanceof Error && err.name === 'RulesError')) {
      io.stderr.write(`kube-reflex serve: ${err.message}\n`)
      return 2
    }
    throw err
  }
  await startTracing(io.env, name, log)
  let configureApp: ((app: import('express').Express) => void) | undefined
  if (options.all) {
    // In `serve all` nothing answers POST /, so persist's dashboard is also served at the root.
    const { loadDashboard, mountDashboard } = await import('../../functions/persist/index.js')
    const dashboard = await loadDashboard()
    configureApp = (app) => mountDashboard(app, dashboard, { apiPath: '/persist/api/v1' })
  }
  const host = createHost({ config: options.host, log, mounts, ...(configureApp === undefined ? {} : { configureApp }) })
  const addr = await host.listen()
  log.info({ port: addr.port, address: addr.address, functions: options.functions }, 'listening')
  if (!io.stopSignal.aborted) await new Promise<void>((resolve) => io.stopSignal.addEventListener('abort', () => resolve(), { once: true }))
  log.info('stopping: finishing in-flight events')
  await host.close()
  await stopTracing()
  log.flush()
  return 0
}
