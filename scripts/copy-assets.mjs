// Copies the non-TypeScript files the functions read at run time into dist/, beside the compiled code, and
// writes classify's default rules pre-parsed (dist/functions/classify/rules/default-rules.json) with the very
// parser and validator that read user rules, so a function starts without loading the YAML library.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs'

const ASSETS = [
  ['functions/classify/rules', 'dist/functions/classify/rules'],
  ['functions/persist/migrations', 'dist/functions/persist/migrations'],
  ['functions/persist/dashboard', 'dist/functions/persist/dashboard'],
]
for (const [from, to] of ASSETS) {
  if (existsSync(from)) cpSync(from, to, { recursive: true })
}

const { parseRules, rulesToJson } = await import('../dist/functions/classify/rules.js')
const yamlFile = 'functions/classify/rules/default-rules.yaml'
const rules = parseRules(readFileSync(yamlFile, 'utf8'), 'default-rules.yaml')
writeFileSync('dist/functions/classify/rules/default-rules.json', `${JSON.stringify(rulesToJson(rules))}\n`)
