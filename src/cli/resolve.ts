/**
 * How the CLI names a run: a path to a run folder (one holding metadata.json), or
 * `project/folder`, a run id or a run name looked up under the base dir (`--dir`).
 */
import { existsSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { listRuns } from '../board'
import type { RunInfo } from '../board'
import { CliError, EXIT } from './errors'

export const DEFAULT_BASE_DIR = './amberboard'

export function resolveBaseDir(dir: string | undefined): string {
  const base = resolve(dir ?? DEFAULT_BASE_DIR)
  if (!existsSync(base) || !statSync(base).isDirectory()) throw new CliError(`no such folder: ${base}`, EXIT.notFound)
  return base
}

export function resolveRun(ref: string, baseDir: string | undefined): string {
  const asPath = resolve(ref)
  if (existsSync(join(asPath, 'metadata.json'))) return asPath
  const base = resolveBaseDir(baseDir)
  const runs: RunInfo[] = listRuns(base)
  const folderOf = (r: RunInfo) => r.runDir.split(/[\\/]/).pop() as string
  const matches = runs.filter((r) => `${r.project}/${folderOf(r)}` === ref || r.runId === ref || folderOf(r) === ref || r.name === ref)
  if (matches.length === 1) return matches[0].runDir
  if (matches.length > 1) {
    throw new CliError(`"${ref}" names ${matches.length} runs in ${base}; use project/folder: ${matches.map((r) => `${r.project}/${folderOf(r)}`).join(', ')}`, EXIT.usage)
  }
  throw new CliError(`no run "${ref}" (neither a run folder nor a run in ${base})`, EXIT.notFound)
}
