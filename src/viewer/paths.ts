/**
 * Validation of every name or path that arrives in a URL. The viewer must never read outside the
 * base dir, so a project or run folder name is one plain path segment (no separators, no `..`, no
 * leading dot, no NUL) and the resolved folder is checked again after symlinks are followed.
 */
import { realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve } from 'node:path'
import { nameProblem, showName } from '../board/names'

/** An HTTP error with a status the router sends as-is. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.\-+=@,]{0,254}$/

/** A project or run folder name: one segment, nothing that could climb or hide. */
export function checkSegment(kind: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new HttpError(400, `missing ${kind}`)
  if (!SEGMENT.test(value) || value.includes('..')) throw new HttpError(400, `invalid ${kind}: ${JSON.stringify(value)}`)
  return value
}

/**
 * A metric / histogram / media / table name from a URL: the rule every name follows (names.ts),
 * so the viewer shows every name Board.log() takes ('..', '\\', 'a/./b' included). Names are
 * looked up as data in the run's store, never used as paths.
 */
export function checkMetricName(value: string | null | undefined): string {
  if (value === null || value === undefined || value === '') throw new HttpError(400, 'missing name')
  const problem = nameProblem(value)
  if (problem !== null) throw new HttpError(400, `invalid name ${showName(value)}: it ${problem}`)
  return value
}

/** True when `child` is `parent` or lies below it. */
export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

/**
 * The real folder of `{baseDir}/{project}/{run}`, or a 4xx. Symlinks are resolved so a link that
 * points out of the base dir is refused, not followed.
 */
export function resolveRunDir(baseDir: string, project: string, run: string): string {
  checkSegment('project', project)
  checkSegment('run', run)
  const realBase = realpathSync(baseDir)
  let real: string
  try {
    real = realpathSync(resolve(realBase, project, run))
  } catch {
    throw new HttpError(404, `run not found: ${project}/${run}`)
  }
  if (!isInside(realBase, real) || real === realBase) throw new HttpError(403, `outside the base dir: ${project}/${run}`)
  return real
}
