import test from 'ava'
import { spawnSync } from 'node:child_process'
import path from 'node:path'

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
