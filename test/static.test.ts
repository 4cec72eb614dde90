// The static checks are part of the suite: the whole tree type-checks under the strict tsconfig
// (tests included) and lints clean (no floating promises, no `any`), so CI fails on either.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
t.setTimeout(600_000)

function run(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

t.test('tsc --noEmit over the whole tree', async (t) => {
  const r = run('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'])
  t.equal(r.status, 0, r.output.slice(0, 8000))
})

t.test('eslint over the whole tree', async (t) => {
  const r = run('npx', ['eslint', '--max-warnings', '0', '.'])
  t.equal(r.status, 0, r.output.slice(0, 8000))
})
