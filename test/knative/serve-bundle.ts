// Test helper: runs a function bundle directory (dist/kn/<name>/) the way `npm start` does — `node index.js
// serve <name>` — on 127.0.0.1 and a free port, with none of the test's environment but PATH (and `env`).
import type { Test } from 'tap'
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import type { Readable } from 'node:stream'

export interface Served {
  readonly name: string
  readonly url: string
  readonly child: ChildProcessByStdio<null, Readable, Readable>
  /** Everything the process wrote so far, both streams. */
  output(): string
}

/** Resolves once the function listens; stopped with SIGTERM in teardown if it still runs then. */
export function serveFrom(t: Test, dir: string, name: string, env: Record<string, string> = {}): Promise<Served> {
  const child = spawn(process.execPath, ['index.js', 'serve', name, '--port', '0', '--host', '127.0.0.1'], { cwd: dir, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
  })
  let out = ''
  return new Promise<Served>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      out += d.toString()
      const m = /"port":(\d+)/.exec(out)
      if (m !== null) resolve({ name, url: `http://127.0.0.1:${m[1] ?? ''}`, child, output: () => out })
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`serve ${name} in ${dir} exited ${String(code)} before listening: ${out}`)))
  })
}
