// The `kube-reflex` command: a thin dispatcher. Each subcommand lives in cli/commands/<name>.ts,
// is loaded only when used (start-up cost matters for `serve`), and returns its exit code.
import type { Command, CommandIO } from './io.js'
import { UsageError } from './io.js'

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  classify: { summary: 'classify recorded events offline and print the findings (try rules files)', load: async () => (await import('./commands/classify.js')).classify },
  dev: { summary: 'run the whole pipeline locally behind a Knative-style broker', load: async () => (await import('./commands/dev.js')).dev },
  serve: { summary: 'run one function over HTTP (what the container runs on Knative)', load: async () => (await import('./commands/serve.js')).serve },
  replay: { summary: 're-send stored (--from-db) or recorded (--from FILE) events to a broker or function', load: async () => (await import('./commands/replay.js')).replayCommand },
}

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length))
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  return [
    'Usage: kube-reflex <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    "Run 'kube-reflex <command> --help' for a command's options.",
    '',
  ].join('\n')
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('../shared/version.js')
    io.stdout.write(`${version}\n`)
    return 0
  }
  const entry = COMMANDS[name]
  if (entry === undefined) {
    io.stderr.write(`kube-reflex: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  const command = await entry.load()
  try {
    return await command(rest, io)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`kube-reflex ${name}: ${err.message}\nRun 'kube-reflex ${name} --help' for usage.\n`)
      return 2
    }
    throw err
  }
}
