/**
 * The one folder where tests and benches keep what they install on purpose and reuse from run to
 * run (Python venvs with kohakuvault or the tracker peers): $AMBERVAULT_DEV_CACHE, else
 * $XDG_CACHE_HOME/ambervault-dev, else ~/.cache/ambervault-dev. Removing it only costs the next
 * run the installs. Scratch data never goes here: it goes to temp folders that are removed.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export function devCacheRoot(): string {
  if (process.env.AMBERVAULT_DEV_CACHE) return path.resolve(process.env.AMBERVAULT_DEV_CACHE)
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache')
  return path.join(base, 'ambervault-dev')
}

/** `<cache root>/<name>`, with the cache root created; the entry itself is the caller's to make. */
export function devCache(name: string): string {
  const root = devCacheRoot()
  fs.mkdirSync(root, { recursive: true })
  return path.join(root, name)
}
