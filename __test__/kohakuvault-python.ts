/**
 * Python venvs that specs install on first use and reuse across runs (in the dev cache,
 * dev-cache.ts): `pythonVenv(name, packages, probe)` makes one; the real Python `kohakuvault` 0.8
 * package's venv, which the interop specs share, is one of them, with
 * `__test__/fixtures/values_interop.py` run in it. When a package cannot be installed (no PyPI),
 * `pythonTest` skips and says why.
 */
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { devCache } from './dev-cache'

export interface PythonVenv {
  /** The venv's Python. */
  python: string
  /** Null when the venv is ready, else why not. */
  error: string | null
}

/**
 * The venv `<dev cache>/<name>` with `packages` pip-installed, made once per machine: ready when
 * `probe` (Python code, e.g. 'import kohakuvault') runs in it. Spec files load in parallel
 * workers, so the venv is built in a folder of this process's own and renamed into place: a
 * worker that loses the race drops its copy and uses the winner's.
 */
export function pythonVenv(name: string, packages: string[], probe: string): PythonVenv {
  const venv = devCache(name)
  const python = path.join(venv, 'bin', 'python')
  const ready = () => spawnSync(python, ['-c', probe], { encoding: 'utf8' }).status === 0
  if (fs.existsSync(python) && ready()) return { python, error: null }
  const tmp = `${venv}.building-${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  const wanted = packages.map((p) => JSON.stringify(p)).join(' ')
  try {
    const made = spawnSync('python3', ['-m', 'venv', tmp], { encoding: 'utf8' })
    if (made.status !== 0) return { python, error: `python3 -m venv failed: ${made.stderr}` }
    const pip = spawnSync(path.join(tmp, 'bin', 'python'), ['-m', 'pip', 'install', '-q', ...packages], { encoding: 'utf8', timeout: 300_000 })
    if (pip.status !== 0) return { python, error: `pip install ${wanted} failed: ${pip.stderr || pip.error}` }
    if (!(fs.existsSync(python) && ready())) {
      fs.rmSync(venv, { recursive: true, force: true })
      try {
        fs.renameSync(tmp, venv)
      } catch {
        // Another worker renamed its venv in first: use that one.
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return { python, error: ready() ? null : `the ${name} venv (${wanted}) is not usable after installing it` }
}

/** `test`, or `test.skip` with a warning naming the spec when `venv` could not be made. */
export function testWithVenv(spec: string, venv: PythonVenv): typeof test {
  if (venv.error === null) return test
  console.warn(`${spec}: skipped, ${venv.error}`)
  return test.skip as unknown as typeof test
}

const KOHAKU_VENV = 'venv-kohakuvault'
/** The kohakuvault venv's Python (every interop spec runs its fixture scripts with it). */
export const PYTHON = path.join(devCache(KOHAKU_VENV), 'bin', 'python')
const SCRIPT = path.join(__dirname, 'fixtures', 'values_interop.py')

let kohakuvault: PythonVenv | null = null

/** `test`, or `test.skip` with a warning naming the spec when kohakuvault is not there. */
export function pythonTest(spec: string): typeof test {
  // Installed on the first call (each interop spec calls this as it loads), not on import, so a
  // spec that only wants `pythonVenv` does not install kohakuvault.
  kohakuvault ??= pythonVenv(KOHAKU_VENV, ['kohakuvault<0.9'], 'import kohakuvault')
  return testWithVenv(spec, kohakuvault)
}

/** Run values_interop.py `mode` on `file` (more arguments after it) and parse what it prints. */
export function py(mode: string, file: string, ...args: string[]): any {
  const r = spawnSync(PYTHON, [SCRIPT, mode, file, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python ${mode} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}
