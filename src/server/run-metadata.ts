/**
 * The run metadata a client uploads (`PUT /api/sync/runs/:project/:folder` with `{ metadata }`),
 * checked field by field before anything is written. The server mirrors these fields into the
 * run's metadata.json, where `amber runs`, `listRuns` and the viewer expect the types the Board
 * writes: a `name` sent as an object is a 400, never a stored run that breaks a listing.
 */
import { HttpError } from '../viewer/paths'

/** The fields the server keeps (MIRRORED), with the types a Board writes; null is accepted for each. */
const TYPES: Record<string, (v: unknown) => boolean> = {
  name: (v) => typeof v === 'string',
  project: (v) => typeof v === 'string',
  runId: (v) => typeof v === 'string',
  annotation: (v) => typeof v === 'string',
  createdAt: (v) => typeof v === 'string',
  host: (v) => typeof v === 'string',
  version: (v) => typeof v === 'string',
  pid: (v) => Number.isSafeInteger(v),
  argv: (v) => Array.isArray(v) && v.every((a) => typeof a === 'string'),
  config: (v) => typeof v === 'object' && !Array.isArray(v),
}

const EXPECTED: Record<string, string> = { pid: 'an integer', argv: 'a list of strings', config: 'an object' }

/** Throw a 400 naming the first field whose value has the wrong type. */
export function checkRunMetadata(metadata: Record<string, unknown>): void {
  for (const [field, ok] of Object.entries(TYPES)) {
    const v = metadata[field]
    if (v === undefined || v === null || ok(v)) continue
    const got = Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`
    throw new HttpError(400, `metadata.${field} must be ${EXPECTED[field] ?? 'a string'} or null, got ${got}`)
  }
}

/** The client's metadata fields the server's copy keeps as they are. */
const MIRRORED = ['name', 'project', 'runId', 'annotation', 'config', 'createdAt', 'host', 'pid', 'argv', 'version']

/** The mirrored fields of the client's metadata (own keys only). */
export function mirroredFields(metadata: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of MIRRORED) if (Object.hasOwn(metadata, k)) out[k] = metadata[k]
  return out
}

/**
 * Counts keyed by names the client chose, as a reply body: own keys only, so a name such as
 * `__proto__` is a key like any other (an assignment `out[name] = n` would set the prototype).
 */
export function countsObject(entries: Iterable<readonly [string, number]>): Record<string, number> {
  return Object.fromEntries(entries) as Record<string, number>
}
