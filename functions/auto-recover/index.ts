// auto-recover's public surface: the pure handler, its config and policy, and the function the host runs.
import type { Logger } from 'pino'
import { lazyDatabase } from '../../shared/db.js'
import { lazyRetrying } from '../../shared/lazy.js'
import { ConfigError, type Env } from '../../shared/config.js'
import type { ReflexFunction } from '../../shared/host.js'
import { createRecoveryCluster } from './cluster.js'
import type { AutoRecoverConfig } from './config.js'
import { handle, type AutoRecoverDeps } from './handler.js'
import { recoveryMetrics } from './metrics.js'
import { loadPolicyFile, PolicyError, type RecoveryPolicy } from './policy.js'
import { prepareRecoveryState, recoveryState, type RecoveryState } from './state.js'

export { handle } from './handler.js'
export { loadConfig, inCluster, RECOVERY_MODES } from './config.js'
export { parsePolicy, loadPolicyFile, namespaceGate, actionGate, optInOf, isProtectedNamespace, DEFAULT_POLICY, OPT_IN_KEY, PolicyError } from './policy.js'
export { planRollback, REVISION_ANNOTATION } from './rollback.js'
export { podProblem, deploymentProblem } from './live-state.js'
export { createRecoveryCluster, RESTARTED_AT } from './cluster.js'
export { openRecoveryState, prepareRecoveryState, recoveryState, MIGRATIONS } from './state.js'
export { recoveryMetrics } from './metrics.js'
export { toRecoveryEvent, replyId } from './recovery-event.js'
export { REASONS } from './errors.js'
export type { AutoRecoverConfig, RecoveryMode, KubeSource } from './config.js'
export type { AutoRecoverDeps, AutoRecoverContext } from './handler.js'
export type { RecoveryPolicy, Budget } from './policy.js'
export type { RecoveryCluster } from './cluster.js'
export type { RecoveryState } from './state.js'
export type { RecoveryMetrics } from './metrics.js'
export type { ReasonCode } from './errors.js'

/** Builds the function from finished dependencies (tests inject their own cluster, state and clock). */
export function createAutoRecover(deps: AutoRecoverDeps): ReflexFunction {
  return {
    name: 'auto-recover',
    handle: (event, ctx) => handle(event, { ...ctx, deps }),
    // Only the metrics registry is needed from the host: no routes, so no express at start.
    attach: (host) => deps.metrics.register(host.metrics.registry),
    async ready() {
      await deps.state.countGlobal(deps.mode, new Date())
      return true
    },
    close: () => deps.state.close(),
  }
}

/**
 * auto-recover's state over a database opened on first use and warmed in the background: start-up waits
 * for neither the driver nor the migrations (readiness does), and a database that is down answers 503.
 */
function openState(config: Readonly<AutoRecoverConfig>): RecoveryState {
  const db = lazyDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }, (opened) => prepareRecoveryState(opened))
  db.warm()
  return recoveryState(db)
}

/** Opens the database, loads the policy and (when a cluster is configured) prepares the client. */
export function createDeps(config: Readonly<AutoRecoverConfig>, overrides: Partial<AutoRecoverDeps> = {}): AutoRecoverDeps {
  const policy = overrides.policy ?? loadPolicyFile(config.policyFile)
  const state = overrides.state ?? openState(config)
  const source = config.kube
  return {
    mode: config.mode,
    policy,
    // Created on first use (the first event that reaches the handler asks for it): a replay never needs it.
    // A creation that failed (a kubeconfig unreadable at that moment) is tried again by the next event.
    cluster: source === undefined ? undefined : lazyRetrying(() => createRecoveryCluster(source)),
    state,
    metrics: recoveryMetrics(),
    now: Date.now,
    ...overrides,
  }
}

/** What `kube-reflex serve auto-recover` runs: config and policy from the environment, validated up front. */
export async function fromEnv(env: Env, log: Logger): Promise<ReflexFunction> {
  // Only what this function runs is imported: client-node waits for the first event that acts on the cluster.
  const { loadConfig } = await import('./config.js')
  const config = loadConfig(env)
  let policy: RecoveryPolicy
  try {
    policy = loadPolicyFile(config.policyFile)
  } catch (err) {
    // A bad policy is bad configuration: the CLI reports ConfigErrors as such, naming the variable.
    if (err instanceof PolicyError) throw new ConfigError(err.problems.map((p) => `RECOVERY_POLICY_FILE: ${p}`))
    throw err
  }
  const deps = createDeps(config, { policy })
  log.info({ mode: config.mode, cluster: config.kube?.kind ?? 'none (offline planning)', policy: config.policyFile ?? 'built-in defaults' }, 'auto-recover configured')
  return createAutoRecover(deps)
}
