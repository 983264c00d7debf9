/**
 * The real Python `kohakuvault` 0.8 package, in the venv the interop specs share (in the dev
 * cache, dev-cache.ts: installed on first use and reused across runs), and
 * `__test__/fixtures/values_interop.py` run with it. When the package cannot be installed (no
 * PyPI), `pyTest` skips and says why.
 */
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { devCache } from './dev-cache'

const VENV = devCache('venv-kohakuvault')
const PY = path.join(VENV, 'bin', 'python')
const SCRIPT = path.join(__dirname, 'fixtures', 'values_interop.py')

function install(): string | null {
  const ok = () => spawnSync(PY, ['-c', 'import kohakuvault'], { encoding: 'utf8' }).status === 0
  if (fs.existsSync(PY) && ok()) return null
  const venv = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' })
  if (venv.status !== 0) return `python3 -m venv failed: ${venv.stderr}`
  const pip = spawnSync(PY, ['-m', 'pip', 'install', '-q', 'kohakuvault<0.9'], { encoding: 'utf8', timeout: 300_000 })
  if (pip.status !== 0 || !ok()) return `pip install "kohakuvault<0.9" failed: ${pip.stderr || pip.error}`
  return null
}

/** `test`, or `test.skip` with a warning naming the spec when the package is not there. */
export function pythonTest(spec: string): typeof test {
  const why = install()
  if (why === null) return test
  console.warn(`${spec}: skipped, ${why}`)
  return test.skip as unknown as typeof test
}

/** Run values_interop.py `mode` on `file` (more arguments after it) and parse what it prints. */
export function py(mode: string, file: string, ...args: string[]): any {
  const r = spawnSync(PY, [SCRIPT, mode, file, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python ${mode} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}
