/**
 * The run metadata a client uploads (`PUT /api/sync/runs/:project/:folder` with `{ metadata }`),
 * checked field by field before anything is written. The server mirrors these fields into the
 * run's metadata.json, where `amber runs`, `listRuns` and the viewer expect the types the Board
 * writes: a `name` sent as an object is a 400, never a stored run that breaks a listing.
 */
import { HttpError } from '../viewer/paths'

/** The fields the server keeps (MIRRORED in ./ingest), with the types a Board writes; null is accepted for each. */
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
