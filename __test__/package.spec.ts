import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { tempDir } from './temp-dirs'

// The `npm i` path: both tarballs install into an empty project with no Rust toolchain on PATH
// and the smoke script opens a KVault, a ColumnVault and a Board there (scripts/pack-smoke.js).
test('packed tarballs install and run without cargo', (t) => {
  const script = path.join(__dirname, '..', 'scripts', 'pack-smoke.js')
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 240_000 })
  t.is(r.status, 0, `${r.stdout}\n${r.stderr}`)
  t.regex(r.stdout, /smoke \(require\): KVault, ColumnVault and Board work/)
  t.regex(r.stdout, /smoke \(import\): native module/)
  t.regex(r.stdout, /pack-smoke: ok/)
})

// `ambervault/tfjs` is a subpath of the package (package.json `exports`, and `typesVersions` for
// TypeScript's older `node` resolution): the built dist answers require and import by the
// package's own name, shares the main entry's error classes, and its types resolve under every
// moduleResolution while the main entry's types never reach it.
test('the tfjs subpath resolves from the built package for require, import and TypeScript', (t) => {
  const root = path.join(__dirname, '..')
  const dist = path.join(root, 'dist')
  t.true(fs.existsSync(path.join(dist, 'tfjs.js')), 'dist/tfjs.js is missing: run npm run build:ts')
  const probe = "try { amberCallback(null) } catch (e) { console.log(typeof amberCallback, e instanceof InvalidArgumentError) }"
  const cjs = spawnSync(process.execPath, ['-e', `const { amberCallback } = require('ambervault/tfjs'); const { InvalidArgumentError } = require('ambervault'); ${probe}`], { cwd: root, encoding: 'utf8' })
  t.is(cjs.stdout.trim(), 'function true', cjs.stderr)
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', `import { amberCallback } from 'ambervault/tfjs'; import { InvalidArgumentError } from 'ambervault'; ${probe}`], { cwd: root, encoding: 'utf8' })
  t.is(esm.stdout.trim(), 'function true', esm.stderr)

  t.notRegex(fs.readFileSync(path.join(dist, 'index.d.ts'), 'utf8'), /tfjs/)
  // The subpath's types are structural: they compile for a user without @tensorflow/tfjs installed.
  t.notRegex(fs.readFileSync(path.join(dist, 'tfjs.d.ts'), 'utf8'), /(from|import\()\s*['"]@tensorflow/)

  const project = tempDir('ambervault-subpath-')
  fs.mkdirSync(path.join(project, 'node_modules'))
  fs.symlinkSync(root, path.join(project, 'node_modules', 'ambervault'), 'dir')
  fs.writeFileSync(path.join(project, 'use.ts'), [
    "import { amberCallback, type AmberCallback } from 'ambervault/tfjs'",
    "import { Board } from 'ambervault'",
    "export const cb: AmberCallback = amberCallback(new Board(), { every: 'batch' })",
    '',
  ].join('\n'))
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  for (const [moduleKind, resolution] of [['commonjs', 'node10'], ['node16', 'node16']]) {
    const r = spawnSync(process.execPath, [
      tsc, '--noEmit', '--strict', '--skipLibCheck', '--module', moduleKind, '--moduleResolution', resolution,
      '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'use.ts',
    ], { cwd: project, encoding: 'utf8' })
    t.is(r.status, 0, `moduleResolution ${resolution}: ${r.stdout}${r.stderr}`)
  }
})
