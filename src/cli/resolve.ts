/**
 * How the CLI names a run: a path to a run folder (one holding metadata.json), or
 * `project/folder`, a run id or a run name looked up under the base dir (`--dir`).
 */
import { existsSync, statSync } from 'node:fs'
import { isAbsolute, join, resolve } from 'node:path'
import { listRuns } from '../board'
import type { RunInfo } from '../board'
import { CliError, EXIT } from './errors'

export const DEFAULT_BASE_DIR = './amberboard'

export function resolveBaseDir(dir: string | undefined): string {
  const base = resolve(dir ?? DEFAULT_BASE_DIR)
  if (!existsSync(base) || !statSync(base).isDirectory()) throw new CliError(`no such folder: ${base}`, EXIT.notFound)
  return base
}

/** True when `ref` can only be meant as a path: absolute, `./…`, `../…`, `~…`. */
function isPathLike(ref: string): boolean {
  return isAbsolute(ref) || /^(\.{1,2}|~)([\\/]|$)/.test(ref)
}

export function resolveRun(ref: string, baseDir: string | undefined): string {
  const asPath = resolve(ref)
  if (existsSync(join(asPath, 'metadata.json'))) return asPath
  // A path names the folder the user typed: say that one is missing (or not a run), not the base dir.
  if (isPathLike(ref)) throw new CliError(existsSync(asPath) ? `not a run folder (no metadata.json): ${ref}` : `no such run folder: ${ref}`, EXIT.notFound)
  const base = resolve(baseDir ?? DEFAULT_BASE_DIR)
  if (!existsSync(base) || !statSync(base).isDirectory()) {
    throw new CliError(`no run "${ref}": not a run folder, and no base dir ${base} to look it up in (give one with --dir)`, EXIT.notFound)
  }
  const runs: RunInfo[] = listRuns(base)
  const folderOf = (r: RunInfo) => r.runDir.split(/[\\/]/).pop() as string
  const matches = runs.filter((r) => `${r.project}/${folderOf(r)}` === ref || r.runId === ref || folderOf(r) === ref || r.name === ref)
  if (matches.length === 1) return matches[0].runDir
  if (matches.length > 1) {
    throw new CliError(`"${ref}" names ${matches.length} runs in ${base}; use project/folder: ${matches.map((r) => `${r.project}/${folderOf(r)}`).join(', ')}`, EXIT.usage)
  }
  throw new CliError(`no run "${ref}" (neither a run folder nor a run in ${base})`, EXIT.notFound)
}
