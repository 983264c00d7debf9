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
  /**
   * A sealed chunk of one metric: points start to start + n, which never change once stored, so
   * a key names one content (a seal that lost a race and a later one agree on it).
   */
  chunk: (run: number, series: number, start: number, n: number) => `chunks/${run}/${series}/${start}-${n}`,
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

/** Uploads in flight at once for one batch of objects. */
const UPLOADS = 8

export class Objects {
  private readonly cache: Lru

  constructor(private readonly db: Db, readonly bucket: Bucket, cacheBytes = 64 << 20) {
    this.cache = new Lru(cacheBytes)
  }

  /**
   * Register the keys (or refresh their time, which keeps the collector off them) and write each
   * object unless it is there already. The registration waits while the collector is deleting that key, so a
   * media file logged again is written again rather than referred to while it goes away.
   */
  async writeMany(objects: ReadonlyArray<readonly [string, Buffer]>): Promise<void> {
    if (!objects.length) return
    await this.db.query('INSERT INTO amber_objects (key) SELECT DISTINCT unnest($1::text[]) ON CONFLICT (key) DO UPDATE SET written_at = now()', [objects.map(([key]) => key)])
    // A few uploads at a time: each is mostly waiting on the bucket.
    let next = 0
    const worker = async () => {
      while (next < objects.length) {
        const [key, body] = objects[next++]
        await this.bucket.put(key, body, { createOnly: true })
      }
    }
    await Promise.all(Array.from({ length: Math.min(UPLOADS, objects.length) }, worker))
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
