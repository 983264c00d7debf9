/**
 * The published type declarations show the documented API only (issue #19): `__test__/types/
 * public-api.ts` compiles documented uses against `dist/*.d.ts` and expects an error on each
 * internal name, so an internal that becomes public fails the compile.
 */
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

const root = path.join(__dirname, '..')
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const typesDir = path.join(__dirname, 'types')

function compile(project: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, encoding: 'utf8' })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

test('documented uses compile against dist/*.d.ts and no internal name is public', (t) => {
  t.true(fs.existsSync(path.join(root, 'dist', 'index.d.ts')), 'dist/index.d.ts is missing: run npm run build:ts first')
  const r = compile(path.join(typesDir, 'tsconfig.json'))
  t.is(r.status, 0, r.out)
})

test('the check can fail: an expected error on a public name is reported', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'amber-types-'))
  try {
    fs.writeFileSync(path.join(dir, 'uses.ts'), "import { KVault } from 'ambervault'\nexport function f(kv: KVault): void {\n  // @ts-expect-error\n  kv.get('a')\n}\n")
    const base = JSON.parse(fs.readFileSync(path.join(typesDir, 'tsconfig.json'), 'utf8'))
    base.compilerOptions.baseUrl = dir
    base.compilerOptions.paths = { ambervault: [path.join(root, 'dist', 'index.d.ts')] }
    base.compilerOptions.typeRoots = [path.join(root, 'node_modules', '@types')]
    base.files = ['uses.ts']
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(base))
    const r = compile(path.join(dir, 'tsconfig.json'))
    t.not(r.status, 0)
    t.regex(r.out, /TS2578: Unused '@ts-expect-error' directive/)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
