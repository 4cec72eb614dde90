// classify's configuration (STYLE.md practice 2): env names, defaults, validation; frozen; called from main.
import { EnvReader, readHostConfig, type Env, type HostConfig } from '../../shared/config.js'

export interface ClassifyConfig extends HostConfig {
  /** Extra/overriding rules (CLASSIFY_RULES_FILE), merged before the defaults. */
  readonly rulesFile: string | undefined
  /** Broker ingress for sweep findings (K_SINK, injected by a SinkBinding). */
  readonly sink: URL | undefined
  readonly kubeconfig: string | undefined
  /** Namespaces the sweep lists; all when empty. */
  readonly sweepNamespaces: readonly string[]
}

export function loadConfig(env: Env = process.env): Readonly<ClassifyConfig> {
  const r = new EnvReader(env)
  const host = readHostConfig(r)
  const namespaces = sweepNamespaces(r)
  return r.done({
    ...host,
    rulesFile: r.file('CLASSIFY_RULES_FILE'),
    sink: r.url('K_SINK'),
    kubeconfig: r.file('KUBECONFIG'),
    sweepNamespaces: namespaces,
  })
}

/** A namespace's name is a DNS-1123 label (apimachinery's ValidateNamespaceName). */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/

/**
 * CLASSIFY_SWEEP_NAMESPACES, checked here: a name no namespace can have would otherwise fail every sweep
 * tick (and be retried) instead of refusing the configuration. Repeats are listed once.
 */
function sweepNamespaces(r: EnvReader): string[] {
  const names = (r.optionalString('CLASSIFY_SWEEP_NAMESPACES') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  const bad = names.filter((n) => !NAMESPACE.test(n))
  if (bad.length > 0) {
    r.problems.push(`CLASSIFY_SWEEP_NAMESPACES must list namespace names (lower-case letters, digits and '-', at most 63 characters), comma-separated (not a name: ${bad.map((n) => `'${n}'`).join(', ')})`)
  }
  return [...new Set(names)]
}
