/**
 * Objects in the bucket, as the rest of the backend sees them: every object is registered in
 * `amber_objects` and then written (create-only) before any row refers to it, so a crash between
 * the two leaves an orphan the collector (./collect) finds, never a row without its object.
 * Objects are immutable, so a replica may keep the ones it read in memory (a bounded LRU, the
 * only thing a replica keeps); deleting it loses nothing.
 */
import type { Bucket } from './bucket'
import type { Db } from './db'

/** Where each kind of object lives in the bucket (under its prefix). */
export const KEYS = {
  /** A sealed chunk of one metric: written once, never rewritten. */
  chunk: (run: number, series: number, start: number) => `chunks/${run}/${series}/${start}`,
  /** A media file by content: `<sha256>.<format>`, shared by every run that logged it. */
  media: (key: string) => `media/${key}`,
  /** A finished run's captured output from byte `start` on, sealed: written once. */
  output: (run: number, start: number) => `output/${run}/${start}`,
  /** A large record's data part by content (sha256 hex). */
  blob: (hash: string) => `blobs/${hash}`,
} as const

class Lru {
  private readonly map = new Map<string, Buffer>()
  private bytes = 0
  constructor(private readonly capacity: number) {}

  get(key: string): Buffer | undefined {
    const hit = this.map.get(key)
    if (hit) {
      this.map.delete(key)
      this.map.set(key, hit)
    }
    return hit
  }

  set(key: string, value: Buffer): void {
    if (value.length > this.capacity / 4) return // one big object must not empty the cache
    const old = this.map.get(key)
    if (old) this.bytes -= old.length
    this.map.set(key, value)
    this.bytes += value.length
    for (const [k, v] of this.map) {
      if (this.bytes <= this.capacity) break
      this.map.delete(k)
      this.bytes -= v.length
    }
  }

  delete(key: string): void {
    const old = this.map.get(key)
    if (old) {
      this.map.delete(key)
      this.bytes -= old.length
    }
  }
}

export class Objects {
  private readonly cache: Lru

  constructor(private readonly db: Db, readonly bucket: Bucket, cacheBytes = 64 << 20) {
    this.cache = new Lru(cacheBytes)
  }

  /**
   * Register `key` (or refresh its time, which keeps the collector off it) and write it unless it
   * is there already. The registration waits while the collector is deleting that key, so a
   * media file logged again is written again rather than referred to while it goes away.
   */
  async write(key: string, body: Buffer): Promise<void> {
    await this.db.query('INSERT INTO amber_objects (key) VALUES ($1) ON CONFLICT (key) DO UPDATE SET written_at = now()', [key])
    await this.bucket.put(key, body, { createOnly: true })
  }

  async read(key: string): Promise<Buffer> {
    const hit = this.cache.get(key)
    if (hit) return hit
    const data = await this.bucket.get(key)
    this.cache.set(key, data)
    return data
  }

  /** Forget cached copies (objects being deleted). */
  forget(keys: Iterable<string>): void {
    for (const k of keys) this.cache.delete(k)
  }
}
