// Runs `kube-reflex dev` as a child process the way a pod runs its container: kill -9 on demand, restart
// after a short pause, and restart also after an exit nobody asked for (counted: that is a finding).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, type WriteStream } from 'node:fs'
import path from 'node:path'

export interface SupervisorOptions {
  readonly repo: string
  readonly args: readonly string[]
  readonly env: NodeJS.ProcessEnv
  readonly logFile: string
  /** Pause before a restart (a kubelet restarts a crashed container after a back-off too). */
  readonly restartDelayMs: number
}

export interface UnplannedExit {
  readonly code: number | null
  readonly signal: string | null
  readonly at: number
  /** Last lines of stderr before the exit. */
  readonly tail: string
}

export class DevSupervisor {
  private child: ChildProcess | undefined
  private stopping = false
  private expectingKill = false
  private readonly log: WriteStream
  private tail = ''
  readonly unplanned: UnplannedExit[] = []
  starts = 0
  kills = 0

  constructor(private readonly o: SupervisorOptions) {
    this.log = createWriteStream(o.logFile, { flags: 'a' })
  }

  start(): void {
    this.starts++
    this.tail = ''
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(this.o.repo, 'cli', 'bin.ts'), 'dev', ...this.o.args], {
      cwd: this.o.repo,
      env: this.o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    this.log.write(`\n=== start #${this.starts} pid ${child.pid ?? '?'} at ${new Date().toISOString()}\n`)
    const onData = (c: Buffer): void => {
      this.log.write(c)
      this.tail = (this.tail + c.toString('utf8')).slice(-3000)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code, signal) => {
      this.log.write(`=== exit code ${String(code)} signal ${String(signal)} at ${new Date().toISOString()}\n`)
      if (this.child === child) this.child = undefined
      if (this.stopping) return
      if (this.expectingKill && signal === 'SIGKILL') {
        this.expectingKill = false
      } else {
        this.unplanned.push({ code, signal, at: Date.now(), tail: this.tail })
      }
      setTimeout(() => {
        if (!this.stopping && this.child === undefined) this.start()
      }, this.o.restartDelayMs).unref()
    })
  }

  get running(): boolean {
    return this.child !== undefined
  }

  /** kill -9 the running process; the exit handler restarts it. */
  kill9(): boolean {
    const child = this.child
    if (child === undefined) return false
    this.kills++
    this.expectingKill = true
    child.kill('SIGKILL')
    return true
  }

  /** Graceful stop (SIGTERM), then SIGKILL after graceMs. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true
    const child = this.child
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    }
    await new Promise<void>((resolve) => this.log.end(() => resolve()))
  }
}
