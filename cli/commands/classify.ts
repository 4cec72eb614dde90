// `kube-reflex classify [FILE…]`: classify recorded events offline and print what kube-reflex makes of
// them — for trying rules files, and the first taste of the product on the bundled demo scenario.
import { parseArgs } from 'node:util'
import type { Command, CommandIO } from '../io.js'
import { UsageError, cannotRead } from '../io.js'
import { readNdjson } from '../ndjson.js'
import { demoScenarioPath } from '../../shared/paths.js'
import { silentLogger } from '../../shared/logger.js'
import type { ClassifiedData } from '../../shared/contracts.js'
import { ReflexError } from '../../shared/errors.js'

export const CLASSIFY_HELP = `Usage: kube-reflex classify [options] [FILE...]

Classifies recorded events offline and prints the result. A FILE is NDJSON: a
line is a CloudEvent (JSON format) or a bare Kubernetes object (wrapped as
ApiServerSource would). Without FILE, the bundled demo scenario is used.

Options:
      --rules <file>   extra/overriding classification rules (as CLASSIFY_RULES_FILE)
      --json           print the classified CloudEvents as NDJSON instead of a table
      --all            include info events in the table (default: warnings and worse)
  -h, --help           show this help
`

export interface ClassifyCliOptions {
  readonly files: readonly string[]
  readonly rulesFile: string | undefined
  readonly json: boolean
  readonly all: boolean
}

export function parseOptions(argv: string[]): ClassifyCliOptions | 'help' {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { rules: { type: 'string' }, json: { type: 'boolean' }, all: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (values.help === true) return 'help'
  return { files: positionals.length > 0 ? positionals : [demoScenarioPath()], rulesFile: values.rules, json: values.json === true, all: values.all === true }
}

const MARK: Record<string, string> = { critical: 'CRIT', warning: 'WARN', info: 'info' }

function cut(s: string, n: number): string {
  return s.length <= n ? s.padEnd(n) : `${s.slice(0, n - 1)}…`
}

export const classify: Command = async (argv: string[], io: CommandIO) => {
  const options = parseOptions(argv)
  if (options === 'help') {
    io.stdout.write(CLASSIFY_HELP)
    return 0
  }
  const { createDeps, handle } = await import('../../functions/classify/index.js')
  const { loadConfig } = await import('../../functions/classify/config.js')
  let deps
  try {
    deps = createDeps(loadConfig({ ...io.env, ...(options.rulesFile === undefined ? {} : { CLASSIFY_RULES_FILE: options.rulesFile }) }), {
      // Offline: Reference-mode events cannot be resolved and sweeps have no cluster to list.
      kube: () => Promise.reject(new ReflexError('DOWNSTREAM_UNAVAILABLE', 'no cluster: classify FILE works offline')),
    })
  } catch (err) {
    io.stderr.write(`kube-reflex classify: ${(err as Error).message}\n`)
    return 2
  }
  const counts = { read: 0, invalid: 0, critical: 0, warning: 0, info: 0, none: 0, duplicates: 0 }
  const seen = new Map<string, string>()
  const width = { time: 20, sev: 4, cat: 11, target: 40, reason: 22, action: 15 }
  if (!options.json) {
    io.stdout.write(`${'TIME'.padEnd(width.time)} ${'SEV'.padEnd(width.sev)} ${'CATEGORY'.padEnd(width.cat)} ${'WORKLOAD / OBJECT'.padEnd(width.target)} ${'REASON'.padEnd(width.reason)} ${'ACTION'.padEnd(width.action)} MESSAGE\n`)
  }
  for (const file of options.files) {
    try {
      for await (const item of readNdjson(file)) {
        counts.read++
        if ('error' in item) {
          counts.invalid++
          io.stderr.write(`${file}:${item.line}: ${item.error}\n`)
          continue
        }
        let reply
        try {
          reply = await handle(item.event, { deps, log: silentLogger, traceparent: '', signal: io.stopSignal, receivedAt: Date.now() })
        } catch (err) {
          counts.invalid++
          io.stderr.write(`${file}:${item.line}: ${err instanceof ReflexError ? `${err.code}: ${err.message}` : String(err)}\n`)
          continue
        }
        if (reply === undefined) {
          counts.none++
          continue
        }
        const where = seen.get(reply.id)
        if (where !== undefined) {
          counts.duplicates++
          if (!options.json) io.stdout.write(`${' '.repeat(width.time)} ---- redelivery of ${where}: same classified id ${reply.id}, deduplicated downstream\n`)
          continue
        }
        seen.set(reply.id, `${file.split('/').pop() ?? file}:${item.line}`)
        const data = reply.data as ClassifiedData
        counts[data.severity]++
        if (options.json) {
          io.stdout.write(`${JSON.stringify(reply)}\n`)
          continue
        }
        if (data.severity === 'info' && !options.all) continue
        const target = data.workload === null ? `${data.object.kind}/${data.object.name}` : `${data.workload.kind}/${data.workload.name}`
        const ns = data.namespace === null ? '' : `${data.namespace}/`
        io.stdout.write(
          `${cut((reply.time ?? '').replace('.000Z', 'Z'), width.time)} ${cut(MARK[data.severity] ?? data.severity, width.sev)} ${cut(data.category, width.cat)} ${cut(ns + target, width.target)} ${cut(data.reason, width.reason)} ${cut(data.action, width.action)} ${cut(data.message.replace(/\s+/g, ' '), 70).trimEnd()}\n`,
        )
      }
    } catch (err) {
      io.stderr.write(`kube-reflex classify: ${cannotRead(file, err)}\n`)
      return 1
    }
  }
  const summary = `${counts.read} events read: ${counts.critical} critical, ${counts.warning} warning, ${counts.info} info, ${counts.none} without a finding, ${counts.duplicates} redelivered, ${counts.invalid} invalid`
  io.stderr.write(`\n${summary}\n`)
  return counts.invalid > 0 ? 1 : 0
}
