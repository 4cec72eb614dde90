#!/usr/bin/env node
// Process entry point: wires the real process to main(); everything else is testable in-process.
import { main } from './main.js'

const controller = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort())

main(process.argv.slice(2), {
  // Getters: process.stdout/stderr are created on first read (≈ 3 ms of start-up for a pipe or file), and
  // `serve` logs through its own destination and never writes to them unless something goes wrong.
  get stdout() {
    return process.stdout
  },
  get stderr() {
    return process.stderr
  },
  env: process.env,
  cwd: process.cwd(),
  stopSignal: controller.signal,
}).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`kube-reflex: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)
