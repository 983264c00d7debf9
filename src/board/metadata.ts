/**
 * Changing a run's metadata.json from TypeScript the way the native side does it (see
 * crates/ambervault-core/src/board/run.rs, `update_metadata`): read, merge the top-level keys,
 * write a temp file next to it and rename it over, so a reader (the viewer, a sync pass, another
 * process) never sees half a file. Used by `Board.updateConfig` and by the team server's copies.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { CorruptDataError, VaultIoError } from '../errors'

export type Metadata = Record<string, unknown>

/** metadata.json of `runDir` as an object. */
export function readMetadata(runDir: string): Metadata {
  const file = path.join(runDir, 'metadata.json')
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    throw new VaultIoError(`${file}: ${(e as Error).message}`, { cause: e })
  }
  let meta: unknown
  try {
    meta = JSON.parse(text)
  } catch (e) {
    throw new CorruptDataError(`${file}: not JSON (${(e as Error).message})`, { cause: e })
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new CorruptDataError(`${file}: not a JSON object`)
  return meta as Metadata
}

/**
 * Merge `patch` (or what `patch(current)` returns) into metadata.json's top-level keys and
 * write it atomically (temp file, then rename). Returns the new metadata.
 */
export function patchMetadata(runDir: string, patch: Metadata | ((current: Metadata) => Metadata)): Metadata {
  const file = path.join(runDir, 'metadata.json')
  const current = readMetadata(runDir)
  // Spread, not Object.assign: a key such as '__proto__' stays an own key.
  const next = { ...current, ...(typeof patch === 'function' ? patch(current) : patch) }
  const tmp = path.join(runDir, `.metadata.json.${process.pid}-${randomBytes(4).toString('hex')}.tmp`)
  try {
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2))
    fs.renameSync(tmp, file)
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true })
    } catch {
      // best effort
    }
    throw new VaultIoError(`${file}: ${(e as Error).message}`, { cause: e })
  }
  return next
}
