// Copies the non-TypeScript files the functions read at run time into dist/, beside the compiled code.
import { cpSync, existsSync } from 'node:fs'

const ASSETS = [
  ['functions/classify/rules', 'dist/functions/classify/rules'],
  ['functions/persist/migrations', 'dist/functions/persist/migrations'],
  ['functions/persist/dashboard', 'dist/functions/persist/dashboard'],
]
for (const [from, to] of ASSETS) {
  if (existsSync(from)) cpSync(from, to, { recursive: true })
}
