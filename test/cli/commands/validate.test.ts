import path from 'node:path'
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { captureIO } from '../../helpers/io.js'
import { parseOptions, validate } from '../../../cli/commands/validate.js'
import { UsageError, type CommandIO } from '../../../cli/io.js'
import { main } from '../../../cli/main.js'
import { copyBundle, edit, repoRoot } from '../validate/helpers.js'

// The validate tests read `c.io` (what the command gets) and `c.out()`/`c.err()` (what it printed).
function io(cwd: string, env: NodeJS.ProcessEnv = {}): { io: CommandIO; out: () => string; err: () => string } {
  const c = captureIO(env, cwd)
  return { io: c, out: () => c.out(), err: () => c.err() }
}

void t.test('parseOptions', (t) => {
  t.match(parseOptions([], {}, '/repo'), { root: '/repo', paths: [], crds: undefined, kubeconfig: undefined, json: false, help: false })
  t.match(parseOptions(['--crds', 'specs', 'triggers'], {}, '/repo'), { crds: '/repo/specs', paths: ['/repo/triggers'] })
  t.match(parseOptions(['--root', '/x', '--json'], {}, '/repo'), { root: '/x', json: true })
  t.equal(parseOptions([], { KUBECONFIG: '/k', KUBE_REFLEX_VALIDATE_CLUSTER: '1' }, '/repo').kubeconfig, '/k')
  t.equal(parseOptions([], { KUBECONFIG: '/k' }, '/repo').kubeconfig, undefined, 'KUBECONFIG alone does not reach for a cluster')
  t.throws(() => parseOptions(['--nope'], {}, '/repo'), UsageError)
  t.throws(() => parseOptions(['--crds', 'a', '--kubeconfig', 'b'], {}, '/repo'), { name: 'UsageError', message: /either --crds or --kubeconfig/ })
  t.throws(() => parseOptions(['--crds='], {}, '/repo'), { message: /--crds needs a value/ })
  t.end()
})

void t.test('--help explains the checks and exits 0', async (t) => {
  const c = io(repoRoot)
  t.equal(await validate(['--help'], c.io), 0)
  t.match(c.out(), /Usage: kube-reflex validate/)
  t.match(c.out(), /--crds DIR/)
})

void t.test('the shipped bundle: exit 0 through the dispatcher', async (t) => {
  const c = io(repoRoot)
  t.equal(await main(['validate'], c.io), 0)
  t.equal(c.out(), '')
  t.match(c.err(), /documents in \d+ files are valid/)
})

void t.test('a broken bundle: file:line errors and exit 1', async (t) => {
  const dir = t.testdir()
  await copyBundle(dir)
  await edit(dir, 'triggers/alert.yaml', 'backoffDelay: PT1S', 'backoffDelay: 1s')
  const line = (await readFile(path.join(dir, 'triggers/alert.yaml'), 'utf8')).split('\n').findIndex((l) => l.includes('backoffDelay: 1s')) + 1
  t.ok(line > 0)
  const c = io(dir)
  t.equal(await validate([], c.io), 1)
  t.match(c.out(), new RegExp(`^triggers/alert\\.yaml:${line}:5: error: backoffDelay "1s" is not an ISO-8601 duration .*\\[duration\\]$`, 'm'))
  t.match(c.err(), /1 problem\(s\) in 1 file\(s\)/)
  const j = io(dir)
  t.equal(await validate(['--json'], j.io), 1)
  const parsed = JSON.parse(j.out()) as { problems: Array<{ file: string; line: number; rule: string }> }
  t.match(parsed.problems, [{ file: 'triggers/alert.yaml', line, rule: 'duration' }])
})

void t.test('nothing to validate is an error, and a bad option is a usage error', async (t) => {
  const c = io(t.testdir())
  t.equal(await validate([], c.io), 1)
  t.match(c.err(), /no manifests found/)
  const u = io(repoRoot)
  t.equal(await main(['validate', '--bogus'], u.io), 2)
  t.match(u.err(), /Unknown option '--bogus'/)
})

void t.test('a path that is not there is named, in text and JSON mode, and nothing is validated', async (t) => {
  const c = io(repoRoot)
  t.equal(await validate(['triggers/alert.yaml', 'triggers/nope.yaml'], c.io), 1)
  t.equal(c.err(), 'kube-reflex validate: no such file or directory: triggers/nope.yaml\n')
  t.equal(c.out(), '')
  const j = io(repoRoot)
  t.equal(await validate(['--json', 'nope'], j.io), 1)
  t.match(j.err(), /no such file or directory: nope/)
})

void t.test('given paths without manifests are named as such', async (t) => {
  const dir = t.testdir({ notes: { 'README.txt': 'nothing here' } })
  const c = io(dir)
  t.equal(await validate(['--root', repoRoot, 'notes'], c.io), 1)
  t.match(c.err(), /no manifests found in notes \(YAML under knative\/ or triggers\/, or a func\.yaml\)/)
})

void t.test('unreadable --crds directory is reported', async (t) => {
  const c = io(repoRoot)
  t.equal(await validate(['--crds', path.join(t.testdir(), 'missing')], c.io), 1)
  t.match(c.err(), /cannot read CRDs from/)
})
