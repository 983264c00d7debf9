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
/** The venv's Python (every interop spec runs its fixture scripts with it). */
export const PYTHON = path.join(VENV, 'bin', 'python')
const SCRIPT = path.join(__dirname, 'fixtures', 'values_interop.py')

const importable = () => spawnSync(PYTHON, ['-c', 'import kohakuvault'], { encoding: 'utf8' }).status === 0

/**
 * Make the venv once per machine; null when it is ready, else why not. Spec files load in
 * parallel workers, so the venv is built in a folder of this process's own and renamed into
 * place: a worker that loses the race drops its copy and uses the winner's.
 */
function install(): string | null {
  if (fs.existsSync(PYTHON) && importable()) return null
  const tmp = `${VENV}.building-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  try {
    const venv = spawnSync('python3', ['-m', 'venv', tmp], { encoding: 'utf8' })
    if (venv.status !== 0) return `python3 -m venv failed: ${venv.stderr}`
    const pip = spawnSync(path.join(tmp, 'bin', 'python'), ['-m', 'pip', 'install', '-q', 'kohakuvault<0.9'], { encoding: 'utf8', timeout: 300_000 })
    if (pip.status !== 0) return `pip install "kohakuvault<0.9" failed: ${pip.stderr || pip.error}`
    if (!(fs.existsSync(PYTHON) && importable())) {
      fs.rmSync(VENV, { recursive: true, force: true })
      try {
        fs.renameSync(tmp, VENV)
      } catch {
        // Another worker renamed its venv in first: use that one.
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return importable() ? null : 'the kohakuvault venv is not usable after installing it'
}

const installError = install()

/** `test`, or `test.skip` with a warning naming the spec when the package is not there. */
export function pythonTest(spec: string): typeof test {
  if (installError === null) return test
  console.warn(`${spec}: skipped, ${installError}`)
  return test.skip as unknown as typeof test
}

/** Run values_interop.py `mode` on `file` (more arguments after it) and parse what it prints. */
export function py(mode: string, file: string, ...args: string[]): any {
  const r = spawnSync(PYTHON, [SCRIPT, mode, file, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python ${mode} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}
