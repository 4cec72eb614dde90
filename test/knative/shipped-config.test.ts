// Each function starts with the configuration we ship: the environment and ConfigMap volumes of its
// Knative Service (knative/base/services/) and of its func.yaml, with the ConfigMaps' contents as
// knative/base/config/ has them, and no optional Secret created (what `kubectl apply -k knative` gives a
// new cluster). The function runs from its kn func bundle (scripts/bundle-functions.mjs) and must answer
// readiness.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { serveFrom } from './serve-bundle.js'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const built = existsSync(path.join(repoRoot, 'dist/functions/classify/rules/default-rules.json'))
t.setTimeout(180_000)

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)

const configMaps = new Map<string, Record<string, string>>()
for (const file of readdirSync(path.join(repoRoot, 'knative/base/config'))) {
  for (const doc of parseAllDocuments(readFileSync(path.join(repoRoot, 'knative/base/config', file), 'utf8'))) {
    const o = doc.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> }
    if (o.kind === 'ConfigMap' && o.metadata?.name !== undefined) configMaps.set(o.metadata.name, o.data ?? {})
  }
}

interface Shipped {
  readonly env: Record<string, string>
  /** mount path → files in it */
  readonly mounts: Map<string, Record<string, string>>
}

function configMap(name: string): Record<string, string> {
  const data = configMaps.get(name)
  if (data === undefined) throw new Error(`ConfigMap ${name} is not in knative/base/config`)
  return data
}

/** What a Knative Service's container gets: plain values, ConfigMap keys, and no optional Secret. */
function fromService(file: string): { name: string; shipped: Shipped } {
  const svc = parse(readFileSync(file, 'utf8')) as { spec: { template: { spec: { containers: Obj[]; volumes?: Obj[] } } } }
  const pod = svc.spec.template.spec
  const container = pod.containers[0] ?? {}
  const env: Record<string, string> = {}
  for (const e of (container['env'] ?? []) as Obj[]) {
    const name = String(e['name'])
    if (typeof e['value'] === 'string') env[name] = e['value']
    const from = isObj(e['valueFrom']) ? e['valueFrom'] : undefined
    if (isObj(from?.['configMapKeyRef'])) {
      const ref = from['configMapKeyRef'] as { name: string; key: string }
      const value = configMap(ref.name)[ref.key]
      if (value === undefined) throw new Error(`${file}: ${name} names key ${ref.key}, which ConfigMap ${ref.name} does not have`)
      env[name] = value
    }
    if (isObj(from?.['secretKeyRef']) && from['secretKeyRef']['optional'] !== true) throw new Error(`${file}: ${name} needs a Secret that a new cluster does not have`)
  }
  for (const f of (container['envFrom'] ?? []) as Obj[]) {
    if (isObj(f['secretRef']) && f['secretRef']['optional'] !== true) throw new Error(`${file}: envFrom needs a Secret that a new cluster does not have`)
  }
  const volumes = new Map(((pod.volumes ?? [])).map((v) => [String(v['name']), v]))
  const mounts = new Map<string, Record<string, string>>()
  for (const m of (container['volumeMounts'] ?? []) as Obj[]) {
    const volume = volumes.get(String(m['name']))
    const cm = isObj(volume?.['configMap']) ? (volume['configMap'] as { name: string; items?: { key: string; path: string }[] }) : undefined
    if (cm === undefined) continue
    const data = configMap(cm.name)
    const files = cm.items === undefined ? { ...data } : Object.fromEntries(cm.items.map((i) => [i.path, data[i.key] ?? '']))
    mounts.set(String(m['mountPath']), files)
  }
  return { name: env['KUBE_REFLEX_FUNCTION'] ?? '', shipped: { env, mounts } }
}

/** What `kn func deploy` gives the function: run.envs and run.volumes (a ConfigMap's keys as files). */
function fromFuncYaml(name: string): Shipped {
  const f = parse(readFileSync(path.join(repoRoot, 'functions', name, 'func.yaml'), 'utf8')) as { run?: { envs?: { name: string; value: string }[]; volumes?: { configMap?: string; path: string }[] } }
  const env: Record<string, string> = {}
  for (const e of f.run?.envs ?? []) {
    // `{{ configMap:name:key }}` is read from the shipped ConfigMap; a Secret reference would need an object
    // a new cluster does not have.
    const ref = /^\{\{\s*configMap:([^:\s]+):([^\s}]+)\s*\}\}$/.exec(e.value)
    if (ref !== null) {
      const value = configMap(ref[1] ?? '')[ref[2] ?? '']
      if (value === undefined) throw new Error(`func.yaml of ${name}: ${e.name} names key ${ref[2]}, which ConfigMap ${ref[1]} does not have`)
      env[e.name] = value
    } else if (/^\{\{/.test(e.value)) throw new Error(`func.yaml of ${name}: ${e.name} is a reference this test cannot resolve (${e.value})`)
    else env[e.name] = e.value
  }
  const mounts = new Map<string, Record<string, string>>()
  for (const v of f.run?.volumes ?? []) if (v.configMap !== undefined) mounts.set(v.path, { ...configMap(v.configMap) })
  return { env, mounts }
}

/** The shipped configuration on this machine: mounts under `root`, the data directory at `dataDir`. */
function materialize(shipped: Shipped, root: string, dataDir: string): Record<string, string> {
  const env = { ...shipped.env }
  const moved = new Map<string, string>()
  for (const [mountPath, files] of shipped.mounts) {
    const dir = path.join(root, 'mounts', mountPath)
    mkdirSync(dir, { recursive: true })
    for (const [file, text] of Object.entries(files)) writeFileSync(path.join(dir, file), text)
    moved.set(mountPath, dir)
  }
  for (const [k, v] of Object.entries(env)) {
    for (const [from, to] of moved) if (v === from || v.startsWith(`${from}/`)) env[k] = to + v.slice(from.length)
  }
  if (env['KUBE_REFLEX_DATA_DIR'] !== undefined) env['KUBE_REFLEX_DATA_DIR'] = dataDir
  return env
}

const serviceFiles = readdirSync(path.join(repoRoot, 'knative/base/services')).map((f) => path.join(repoRoot, 'knative/base/services', f))

t.test('every function starts with the configuration we ship, and nothing else', { skip: built ? false : 'dist/ not built: run `npm run build` first (npm test does)' }, async (t) => {
  const root = t.testdir() // one per test: a second call would empty it
  const bundles = path.join(root, 'bundles')
  const bundled = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-functions.mjs'), `--out=${bundles}`, '--no-code-cache', 'classify', 'alert', 'auto-recover', 'persist'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(bundled.status, 0, `bundled: ${bundled.stderr}`)
  const seen = new Set<string>()
  for (const file of serviceFiles) {
    const { name, shipped } = fromService(file)
    t.ok(['classify', 'alert', 'auto-recover', 'persist'].includes(name), `${path.basename(file)} runs ${name}`)
    seen.add(name)
    // One embedded database per function for both starts: the second does not create it again.
    const dataDir = path.join(root, 'data', name)
    for (const [how, config] of [
      ['Knative Service', shipped],
      ['func.yaml', fromFuncYaml(name)],
    ] as const) {
      await t.test(`${name} from its ${how}`, async (t) => {
        const env = materialize(config, t.testdir(), dataDir)
        const served = await serveFrom(t, path.join(bundles, name), name, env)
        const ready = await fetch(`${served.url}/health/readiness`)
        t.equal(ready.status, 200, `${name} is ready (${Object.keys(config.env).join(', ')}; mounts ${[...config.mounts.keys()].join(', ') || 'none'})`)
        t.notMatch(served.output(), /"level":(50|60)/, 'no error logged at start')
      })
    }
  }
  t.same([...seen].sort(), ['alert', 'auto-recover', 'classify', 'persist'])
})
