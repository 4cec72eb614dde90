// `kube-reflex validate [--crds DIR] [--kubeconfig PATH] [--root DIR] [--json] [paths…]`
// Checks every manifest of the bundle (knative/, triggers/, func.yaml files) against kube-reflex's
// own schema, optionally against CRDs, and against the semantic rules Knative's webhooks enforce.
// Exit codes: 0 valid, 1 problems found, 2 usage error.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { CommandIO } from '../io.js'
import { UsageError } from '../io.js'
import { formatProblem, loadCrdsFromCluster, loadCrdsFromDirectory, validateBundle, type CrdIndex } from '../validate/index.js'

export interface ValidateCommandOptions {
  readonly root: string
  readonly paths: readonly string[]
  readonly crds: string | undefined
  readonly kubeconfig: string | undefined
  readonly json: boolean
  readonly help: boolean
}

export const VALIDATE_HELP = `Usage: kube-reflex validate [options] [paths...]

Checks kube-reflex's deployment manifests: every YAML under knative/ and triggers/, func.yaml and
functions/*/func.yaml (or only the given files/directories; references still resolve against the
whole bundle). Each document is checked against kube-reflex's own schema of the Kubernetes and
Knative fields it uses, then against the rules Knative's webhooks apply that a schema cannot:
Trigger filter dialects, ISO-8601 delivery durations, references that must resolve to something
shipped (Broker, Service, ServiceAccount, ConfigMap, Role), RBAC without wildcards or secrets,
cron schedules, that every Trigger can receive an event and every function is subscribed, that
alerts and dashboards use metric names the functions export and every alert has a promtool test.

Options:
  --crds DIR         also validate custom resources against the CRDs (openAPIV3Schema) in DIR
  --kubeconfig PATH  also validate against the CRDs installed in that cluster
                     (defaults to $KUBECONFIG when --crds is not given and KUBE_REFLEX_VALIDATE_CLUSTER=1)
  --root DIR         the repository root (default: the current directory)
  --json             print {"problems": [...], "files", "documents"} as JSON on stdout
  -h, --help         show this help

Problems are printed as file:line:column: error: message [rule]. Exit code 1 when there is any.
`

/** Pure option parsing: argv and environment in, options out; throws UsageError on bad input. */
export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): ValidateCommandOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        crds: { type: 'string' },
        kubeconfig: { type: 'string' },
        root: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    })
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const { values, positionals } = parsed
  for (const name of ['crds', 'kubeconfig', 'root'] as const) {
    if (values[name] === '') throw new UsageError(`--${name} needs a value`)
  }
  const kubeconfig = values.kubeconfig ?? (values.crds === undefined && env['KUBE_REFLEX_VALIDATE_CLUSTER'] === '1' ? env['KUBECONFIG'] : undefined)
  if (values.crds !== undefined && kubeconfig !== undefined) throw new UsageError('use either --crds or --kubeconfig, not both')
  const root = path.resolve(cwd, values.root ?? '.')
  return {
    root,
    paths: positionals.map((p) => path.resolve(cwd, p)),
    crds: values.crds === undefined ? undefined : path.resolve(cwd, values.crds),
    kubeconfig: kubeconfig === undefined || kubeconfig === '' ? undefined : path.resolve(cwd, kubeconfig),
    json: values.json ?? false,
    help: values.help ?? false,
  }
}

export async function validate(argv: string[], io: CommandIO): Promise<number> {
  const options = parseOptions(argv, io.env, io.cwd)
  if (options.help) {
    io.stdout.write(VALIDATE_HELP)
    return 0
  }
  // A path that is not there would otherwise only show as "no manifests found" (or, beside others that
  // are, not at all): name it.
  const missing = options.paths.filter((p) => !existsSync(p))
  if (missing.length > 0) {
    for (const p of missing) io.stderr.write(`kube-reflex validate: no such file or directory: ${path.relative(io.cwd, p) || p}\n`)
    return 1
  }
  let crds: CrdIndex | undefined
  try {
    if (options.crds !== undefined) crds = await loadCrdsFromDirectory(options.crds)
    else if (options.kubeconfig !== undefined) crds = await loadCrdsFromCluster(options.kubeconfig)
  } catch (err) {
    const source = options.crds ?? options.kubeconfig ?? ''
    io.stderr.write(`kube-reflex validate: cannot read CRDs from ${source}: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
  const result = await validateBundle({ root: options.root, paths: options.paths, ...(crds === undefined ? {} : { crds }) })
  if (options.json) {
    io.stdout.write(`${JSON.stringify({ problems: result.problems, files: result.files, documents: result.documents, crdChecked: result.crdChecked })}\n`)
  } else {
    for (const problem of result.problems) io.stdout.write(`${formatProblem(problem)}\n`)
    if (result.files === 0) {
      io.stderr.write(
        options.paths.length > 0
          ? `kube-reflex validate: no manifests found in ${options.paths.map((p) => path.relative(io.cwd, p) || p).join(', ')} (YAML under knative/ or triggers/, or a func.yaml)\n`
          : `kube-reflex validate: no manifests found under ${options.root} (expected knative/, triggers/, func.yaml)\n`,
      )
      return 1
    }
    const crdNote = crds === undefined ? '' : `, ${result.crdChecked} checked against CRDs`
    io.stderr.write(
      result.problems.length === 0
        ? `kube-reflex validate: ${result.documents} documents in ${result.files} files are valid${crdNote}\n`
        : `kube-reflex validate: ${result.problems.length} problem(s) in ${new Set(result.problems.map((p) => p.file)).size} file(s)${crdNote}\n`,
    )
  }
  return result.problems.length === 0 && result.files > 0 ? 0 : 1
}
