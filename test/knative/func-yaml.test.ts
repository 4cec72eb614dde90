// Every func.yaml validates against knative/func's own schema (draft-04), read in place.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import Ajv04Module from 'ajv-draft-04'
import addFormatsModule from 'ajv-formats'
import t from 'tap'
import { parse } from 'yaml'
import { repoRoot, specsDir } from '../cli/validate/helpers.js'

const FILES = ['func.yaml', ...['classify', 'alert', 'auto-recover', 'persist'].map((f) => `functions/${f}/func.yaml`)]

const schemaPath = path.join(specsDir, 'func_yaml-schema.json')
const noSchema = existsSync(schemaPath)
  ? false
  : `${schemaPath} not present (../shared/specs is only there in CI/dev checkouts); kube-reflex validate still checks func.yaml with the project schema`

void t.test('func.yaml files validate against ../shared/specs/func_yaml-schema.json', { skip: noSchema }, async (t) => {
  // ajv-draft-04 is CommonJS with `exports.default`, like ajv itself.
  const ajv = new Ajv04Module.default({ allErrors: true, strict: false })
  addFormatsModule.default(ajv)
  const validateFunc = ajv.compile(JSON.parse(await readFile(schemaPath, 'utf8')) as object)
  for (const file of FILES) {
    const value: unknown = parse(await readFile(path.join(repoRoot, file), 'utf8'))
    t.ok(validateFunc(value), `${file}: ${JSON.stringify(validateFunc.errors ?? [])}`)
  }
  // The schema is strict enough to fail a wrong field: the check above can fail.
  t.notOk(validateFunc({ specVersion: '0.36.0', created: '2026-11-28T00:00:00Z', deploy: { options: { scale: { minimum: 0 } } } }))
})

void t.test('func.yaml names match the Knative Service names of the contract', async (t) => {
  const names = await Promise.all(FILES.map(async (f) => (parse(await readFile(path.join(repoRoot, f), 'utf8')) as { name: string }).name))
  t.same(names, ['kube-reflex', 'kube-reflex-classify', 'kube-reflex-alert', 'kube-reflex-auto-recover', 'kube-reflex-persist'])
})
