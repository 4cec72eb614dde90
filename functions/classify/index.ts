// classify's public surface: the pure handler, its config, and the function the host runs.
import { createKubeAccess } from '../../shared/kube-access.js'
import { lazyRetrying } from '../../shared/lazy.js'
import type { ReflexFunction } from '../../shared/host.js'
import { httpSink } from '../../shared/sink.js'
import type { ClassifyConfig } from './config.js'
import { handle, type ClassifyDeps } from './handler.js'
import { defaultRules, loadRulesFile, mergeRules } from './rules.js'

export { handle } from './handler.js'
export { toClassifiedEvent } from './classified-event.js'
export { loadConfig } from './config.js'
export { classifyOccurrence, feasibleAction } from './classify.js'
export { parseRules, loadRulesFile, defaultRules, mergeRules, RulesError } from './rules.js'
export type { ClassifyConfig } from './config.js'
export type { ClassifyDeps, ClassifyContext } from './handler.js'
export type { Rule } from './rules.js'

/** Builds classify's dependencies from its config; rule files are read and validated here (fail fast). */
export function createDeps(config: Readonly<ClassifyConfig>, overrides: Partial<ClassifyDeps> = {}): ClassifyDeps {
  const rules = config.rulesFile === undefined ? defaultRules() : mergeRules(loadRulesFile(config.rulesFile), defaultRules())
  return {
    rules,
    cluster: config.clusterName,
    // A creation that failed (a kubeconfig unreadable at that moment) is tried again at the next use.
    kube: lazyRetrying(() => createKubeAccess({ kubeconfig: config.kubeconfig })),
    send: config.sink === undefined ? undefined : httpSink(config.sink),
    sweepNamespaces: config.sweepNamespaces,
    now: Date.now,
    ...overrides,
  }
}

export function createClassify(config: Readonly<ClassifyConfig>, overrides: Partial<ClassifyDeps> = {}): ReflexFunction {
  const deps = createDeps(config, overrides)
  return {
    name: 'classify',
    // A literal of the context's own fields rather than a spread: this runs for every event.
    handle: (event, ctx) => handle(event, { log: ctx.log, traceparent: ctx.traceparent, signal: ctx.signal, receivedAt: ctx.receivedAt, deps }),
  }
}

/** What `kube-reflex serve classify` runs: config from the environment, validated up front. */
export async function fromEnv(env: Readonly<Record<string, string | undefined>>): Promise<ReflexFunction> {
  const { loadConfig } = await import('./config.js')
  return createClassify(loadConfig(env))
}
