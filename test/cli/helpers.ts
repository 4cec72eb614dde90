// Running `kube-reflex` commands in-process with captured output.
import { PassThrough } from 'node:stream'
import { main } from '../../cli/main.js'

export interface RunResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}, cwd = process.cwd(), stop = new AbortController().signal, onStdout?: (soFar: string) => void): Promise<RunResult> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => {
    out += c.toString()
    onStdout?.(out)
  })
  stderr.on('data', (c: Buffer) => (err += c.toString()))
  const code = await main(argv, { stdout, stderr, env: { LOG_LEVEL: 'silent', ...env }, cwd, stopSignal: stop })
  return { code, stdout: out, stderr: err }
}
