// Test helper: connection info for a real service. If the environment already names one
// (DATABASE_URL / KAFKA_BROKERS / KUBECONFIG — set by `eval "$(npm run -s services -- start)"`,
// by CI, or by a user pointing at their own Postgres/Kafka/cluster), that is used. Otherwise
// the service is started for this test process and stopped when the tap run of this file ends,
// so `npx tap test/some/file.test.ts` works on its own.
import t from 'tap'
import { rmSync } from 'node:fs'
import { ENV_VARS, startServices } from '../../scripts/test-services/index.mjs'
import type { ServiceName, StartedServices } from '../../scripts/test-services/index.mjs'

export type { ServiceName } from '../../scripts/test-services/index.mjs'

const started = new Map<ServiceName, Promise<StartedServices>>()
const groups = new Set<number>()
const sessionDirs = new Set<string>()

// Last resort if the process dies without running tap teardown: the services are detached
// (own process groups), so kill them synchronously rather than leave orphans.
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  const killAll = (): void => {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    groups.clear()
    for (const dir of sessionDirs) rmSync(dir, { recursive: true, force: true })
  }
  process.on('exit', killAll)
  // tap ends a test process that exceeds its timeout with SIGTERM, which skips 'exit' handlers.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll()
      // If nobody else (tap's signal-exit) handles it, restore the default: die by the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

/**
 * Returns the connection string for `name`: DATABASE_URL, KAFKA_BROKERS (host:port[,host:port])
 * or KUBECONFIG (a file path), from the environment or from a service started for this process.
 */
export async function serviceEnv(name: ServiceName): Promise<string> {
  const variable = ENV_VARS[name]
  const given = process.env[variable]
  if (given !== undefined && given !== '') return given
  let pending = started.get(name)
  if (pending === undefined) {
    pending = startServices([name], { reuseEnv: false, log: (line) => t.comment(line) })
    started.set(name, pending)
    installExitHook()
    const running = await pending
    const { postgres, kafka, kubernetes } = running.services
    for (const handle of [postgres, kafka, kubernetes]) {
      for (const p of handle?.toState().processes ?? []) groups.add(p.pid)
    }
    sessionDirs.add(running.sessionDir)
    t.teardown(async () => {
      await running.stop()
      started.delete(name)
      sessionDirs.delete(running.sessionDir)
    })
  }
  const value = (await pending).env[variable]
  if (value === undefined) throw new Error(`${name} started but did not report ${variable}`)
  return value
}
