// The four functions, loaded on demand: `serve classify` never pays for persist's database driver.
import type { Logger } from 'pino'
import type { ReflexFunction } from '../shared/host.js'

export const FUNCTION_NAMES = ['classify', 'alert', 'auto-recover', 'persist'] as const
export type FunctionName = (typeof FUNCTION_NAMES)[number]

export function isFunctionName(v: string): v is FunctionName {
  return (FUNCTION_NAMES as readonly string[]).includes(v)
}

type Env = Readonly<Record<string, string | undefined>>
type Factory = (env: Env, log: Logger) => Promise<ReflexFunction>

const LOADERS: Record<FunctionName, () => Promise<Factory | undefined>> = {
  classify: async () => (await import('../functions/classify/index.js')).fromEnv,
  alert: async () => (await import('../functions/alert/index.js')).fromEnv,
  'auto-recover': async () => (await import('../functions/auto-recover/index.js')).fromEnv,
  persist: async () => (await import('../functions/persist/index.js')).fromEnv,
}

export async function createFunction(name: FunctionName, env: Env, log: Logger): Promise<ReflexFunction> {
  const factory = await LOADERS[name]()
  if (factory === undefined) throw new Error(`function '${name}' is not implemented yet`)
  return factory(env, log)
}
