// auto-recover's configuration (STYLE.md practice 2): env names, defaults, validation; frozen; called from main.
import { existsSync } from 'node:fs'
import { EnvReader, readHostConfig, type Env, type HostConfig } from '../../shared/config.js'

export const RECOVERY_MODES = ['dry-run', 'enforce'] as const
export type RecoveryMode = (typeof RECOVERY_MODES)[number]

/** Where Kubernetes access comes from; `undefined` = no cluster: plan offline from the event alone. */
export type KubeSource = { readonly kind: 'kubeconfig'; readonly path: string } | { readonly kind: 'in-cluster' }

export interface AutoRecoverConfig extends HostConfig {
  /** RECOVERY_MODE: dry-run (default) sends every change with dryRun=All; enforce applies it. */
  readonly mode: RecoveryMode
  /** RECOVERY_POLICY_FILE: YAML guardrails (docs/AUTO-RECOVER.md); built-in safe defaults when unset. */
  readonly policyFile: string | undefined
  readonly kube: KubeSource | undefined
  readonly databaseUrl: string | undefined
  readonly dataDir: string
}

// The files the kubelet mounts for a Pod's ServiceAccount (client-go's rest.InClusterConfig checks the same).
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token'

/** In-cluster only when the API server env vars are injected and a ServiceAccount token is mounted. */
export function inCluster(env: Env, tokenFile = SERVICE_ACCOUNT_TOKEN): boolean {
  return (env.KUBERNETES_SERVICE_HOST ?? '') !== '' && (env.KUBERNETES_SERVICE_PORT ?? '') !== '' && existsSync(tokenFile)
}

export function loadConfig(env: Env = process.env, options: { readonly tokenFile?: string } = {}): Readonly<AutoRecoverConfig> {
  const r = new EnvReader(env)
  const host = readHostConfig(r)
  const kubeconfig = r.file('KUBECONFIG')
  const policyFile = r.file('RECOVERY_POLICY_FILE')
  const kube: KubeSource | undefined =
    kubeconfig !== undefined ? { kind: 'kubeconfig', path: kubeconfig } : inCluster(env, options.tokenFile) ? { kind: 'in-cluster' } : undefined
  return r.done({
    ...host,
    mode: r.oneOf('RECOVERY_MODE', RECOVERY_MODES, 'dry-run'),
    policyFile,
    kube,
    databaseUrl: r.optionalString('DATABASE_URL'),
    dataDir: r.string('KUBE_REFLEX_DATA_DIR', '.kube-reflex'),
  })
}
