/**
 * Validation of every name or path that arrives in a URL. The viewer must never read outside the
 * base dir, so a project or run folder name is one plain path segment (no separators, no `..`, no
 * leading dot, no NUL) and the resolved folder is checked again after symlinks are followed.
 */
import { realpathSync } from 'node:fs'
import { isAbsolute, relative, resolve } from 'node:path'

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
 * A metric / media / table name as the Board writes them: slash-separated namespaces of printable
 * characters. It is never used as a file path by the viewer, but reject what could be one anyway.
 */
export function checkMetricName(value: string | null | undefined): string {
  if (!value) throw new HttpError(400, 'missing name')
  if (value.length > 512 || /[\x00-\x1f\\]/.test(value) || value.split('/').some((p) => p === '..' || p === '.')) {
    throw new HttpError(400, `invalid name: ${JSON.stringify(value)}`)
  }
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
