// In-process CommandIO for CLI tests: captured stdout/stderr and a stop signal the test controls.
import { PassThrough } from 'node:stream'
import type { CommandIO } from '../../cli/io.js'

export interface CapturedIO extends CommandIO {
  out(): string
  err(): string
  stop(): void
}

export function captureIO(env: NodeJS.ProcessEnv = {}, cwd = process.cwd()): CapturedIO {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => (out += c.toString()))
  stderr.on('data', (c: Buffer) => (err += c.toString()))
  const controller = new AbortController()
  return { stdout, stderr, env, cwd, stopSignal: controller.signal, out: () => out, err: () => err, stop: () => controller.abort() }
}
