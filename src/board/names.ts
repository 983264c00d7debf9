/**
 * The one rule for metric names (docs/api.md, Board): scalars, histograms, media, tables, tensors and
 * kernel densities. Shared by `Board.log()` (checked once per new name: names are interned), the
 * sync client and the team server's ingest, so a name the Board accepts is one the server stores.
 *
 * A name is non-empty, has no lone surrogates and no control characters (U+0000–U+001F, U+007F),
 * and is at most 4,096 UTF-8 bytes. Everything else is a name, kept exactly as given: case, '/',
 * '__', '.', '..', '\', spaces, any unicode, `:*?"<>|%`, `CON`, 'a/./b', leading or trailing '/'.
 * ('/' only groups names in the viewer; names are never used as file paths.)
 */
import { InvalidArgumentError } from '../errors'

/** Longest name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 4096

/**
 * Why `name` is not a valid metric name (a phrase such as "is empty"), or null when it is one.
 * One pass over the UTF-16 units, no allocation.
 */
export function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return `is ${name === null ? 'null' : typeof name}, not a string`
  const n = name.length
  if (n === 0) return 'is empty'
  let bytes = 0
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i)
    if (c < 0x80) {
      if (c < 0x20 || c === 0x7f) return `has a control character (U+${c.toString(16).toUpperCase().padStart(4, '0')}) at index ${i}`
      bytes += 1
    } else if (c < 0x800) {
      bytes += 2
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? name.charCodeAt(i + 1) : 0
      if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) return `has a lone surrogate (U+${c.toString(16).toUpperCase()}) at index ${i}`
      bytes += 4
      i++
    } else {
      bytes += 3
    }
  }
  if (bytes > MAX_NAME_BYTES) return `is ${bytes} UTF-8 bytes long (at most ${MAX_NAME_BYTES})`
  return null
}

/** A name as shown in an error message: quoted, escaped, and cut when long. */
export function showName(name: unknown): string {
  if (typeof name !== 'string') return String(name)
  const shown = JSON.stringify(name.length > 80 ? name.slice(0, 80) : name)
  return name.length > 80 ? `${shown.slice(0, -1)}…" (${name.length} characters)` : shown
}

/**
 * Throw `InvalidArgumentError` unless `name` is a valid metric name. `what` says what the name
 * is for in the message ("metric name", "media name", "scalar batch: metric name", ...).
 */
export function checkName(name: unknown, what = 'metric name'): string {
  const problem = nameProblem(name)
  if (problem !== null) throw new InvalidArgumentError(`${what} ${showName(name)} ${problem}`)
  return name as string
}

/** True when `name` is a valid metric name. */
export function isValidName(name: unknown): name is string {
  return nameProblem(name) === null
}
