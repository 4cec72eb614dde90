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
  const namespaces = (r.optionalString('CLASSIFY_SWEEP_NAMESPACES') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  return r.done({
    ...host,
    rulesFile: r.file('CLASSIFY_RULES_FILE'),
    sink: r.url('K_SINK'),
    kubeconfig: r.file('KUBECONFIG'),
    sweepNamespaces: namespaces,
  })
}
