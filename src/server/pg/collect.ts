/**
 * Housekeeping any replica may do, one at a time (a session advisory lock decides who):
 * - collecting orphans: registered objects no row refers to (a crash between an object's write
 *   and its transaction, a deleted run's chunks and files), once older than a grace period so an
 *   object written for a transaction still under way is never taken;
 * - sealing tails that no ingest will seal: full chunks left by a failed seal, finished runs
 *   whose final seal failed.
 * Deleting an object holds its registration row locked, so a new write of the same key (a media
 * file logged again) waits and then writes it afresh instead of referring to a vanishing object.
 */
import type { Bucket } from './bucket'
import { dbError } from './db'
import type { Db } from './db'
import type { Objects } from './objects'
import { LOCKS } from './schema'
import type { Sealer } from './seal'

/** A registered object no chunk, record or run file refers to. */
const UNREFERENCED = `
  NOT EXISTS (SELECT 1 FROM amber_chunks c WHERE c.object = o.key)
  AND NOT EXISTS (SELECT 1 FROM amber_records r WHERE r.object = o.key)
  AND NOT EXISTS (SELECT 1 FROM amber_output p WHERE p.object = o.key)
  AND NOT (o.key LIKE 'media/%' AND EXISTS (SELECT 1 FROM amber_run_files f WHERE f.key = substr(o.key, 7)))`

export class Collector {
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly db: Db,
    private readonly bucket: Bucket,
    private readonly objects: Objects,
    private readonly sealer: Sealer,
  ) {}

  /** Run `pass` every `everyMs` (default 10 min) on whichever replica gets the lock first. */
  start(everyMs = 600_000): void {
    this.timer = setInterval(() => {
      this.pass().catch((e: unknown) => process.stderr.write(`amber serve: housekeeping: ${(e as Error)?.message ?? e}\n`))
    }, everyMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /**
   * One pass, if no other replica is in one: seal what ingest left, then delete orphans older than
   * `graceMs` (default 1 h). Returns what it did, or null when another replica holds the lock.
   */
  async pass(graceMs = 3_600_000): Promise<{ sealed: number; deleted: number } | null> {
    let lock
    try {
      lock = await this.db.pool.connect()
    } catch (e) {
      throw dbError(e)
    }
    // A session lock lives on its connection: one that broke goes back to the pool destroyed.
    let broken: Error | undefined
    try {
      const got = (await lock.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCKS.collect])).rows[0].ok
      if (!got) return null
      try {
        const runs = await this.db.query<{ run: number; done: boolean }>(
          `SELECT DISTINCT s.run, (r.metadata->>'status') IS DISTINCT FROM 'running' AS done FROM amber_series s JOIN amber_runs r ON r.id = s.run
           WHERE s.count - s.sealed >= $1 OR (s.count > s.sealed AND (r.metadata->>'status') IS DISTINCT FROM 'running')
           UNION SELECT o.run, true FROM amber_output o JOIN amber_runs r ON r.id = o.run WHERE o.data IS NOT NULL AND (r.metadata->>'status') IS DISTINCT FROM 'running'`,
          [this.sealer.chunkPoints],
        )
        for (const r of runs) await this.sealer.sealRun(r.run, r.done)
        return { sealed: runs.length, deleted: await this.orphans(graceMs) }
      } finally {
        await lock.query('SELECT pg_advisory_unlock($1)', [LOCKS.collect])
      }
    } catch (e) {
      broken = e as Error
      throw dbError(e)
    } finally {
      lock.release(broken)
    }
  }

  /**
   * Delete these objects now if no row refers to them (a deleted run's chunks, which no other run
   * can refer to); whatever is still referred to, or fails, is left for a later pass.
   */
  async drop(keys: string[]): Promise<number> {
    let deleted = 0
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500)
      const gone = await this.db.tx(async (c) => {
        const rows = (await c.query<{ key: string }>(`DELETE FROM amber_objects o WHERE key = ANY($1) AND ${UNREFERENCED} RETURNING key`, [batch])).rows.map((r) => r.key)
        if (rows.length) await this.bucket.delete(rows)
        return rows
      })
      this.objects.forget(gone)
      deleted += gone.length
    }
    return deleted
  }

  /** Delete registered objects no row refers to, written more than `graceMs` ago. */
  private async orphans(graceMs: number): Promise<number> {
    let deleted = 0
    for (;;) {
      const keys = await this.db.query<{ key: string }>(`SELECT key FROM amber_objects o WHERE written_at < now() - $1 * interval '1 millisecond' AND ${UNREFERENCED} LIMIT 500`, [graceMs])
      if (!keys.length) return deleted
      for (const { key } of keys) {
        const gone = await this.db.tx(async (c) => {
          const still = await c.query(`SELECT 1 FROM amber_objects o WHERE key = $1 AND written_at < now() - $2 * interval '1 millisecond' AND ${UNREFERENCED} FOR UPDATE`, [key, graceMs])
          if (!still.rows.length) return false
          await this.bucket.delete([key])
          await c.query('DELETE FROM amber_objects WHERE key = $1', [key])
          return true
        })
        if (gone) {
          this.objects.forget([key])
          deleted++
        }
      }
    }
  }
}
