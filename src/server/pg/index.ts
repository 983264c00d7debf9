/**
 * The team server on PostgreSQL and an S3 bucket (`amber serve --db URL --bucket s3://…`):
 * PostgreSQL holds the index, the bucket the bulk, and the replica nothing but a memory cache of
 * immutable objects, so any number of replicas serve the same runs (docs/server-storage.md).
 * `pg` and `@aws-sdk/client-s3` are loaded only here (./deps names them when missing).
 */
import type { ServerStorage } from '../storage'
import { Bucket } from './bucket'
import { Changes } from './changes'
import { Collector } from './collect'
import { Db } from './db'
import { mimeOf } from '../../viewer/mime'
import { HttpError } from '../../viewer/paths'
import { CHANGES, PgIngest } from './ingest'
import { KEYS, Objects } from './objects'
import { PgReads } from './reads'
import { migrate } from './schema'
import { Sealer } from './seal'
import { PgTokens } from './tokens'

export interface PgStorageOptions {
  /** `postgres://user@host:5432/db` (password and TLS settings as node-postgres reads them, PG* variables included). */
  db: string
  /** `s3://bucket/prefix`. */
  bucket: string
  /** An S3-compatible endpoint (MinIO, moto); AWS when absent. */
  s3Endpoint?: string
  s3Region?: string
  /** Points per sealed chunk (default 32,768). */
  chunkPoints?: number
  /** Bytes of immutable objects a replica keeps in memory (default 64 MiB). */
  cacheBytes?: number
  /** Housekeeping period (sealing leftovers, collecting orphans); 0 turns it off. Default 10 min. */
  housekeepingMs?: number
}

export class PgStorage implements ServerStorage {
  readonly tokens: PgTokens
  readonly ingest: PgIngest
  readonly reads: PgReads
  readonly sealer: Sealer
  readonly collector: Collector

  private constructor(
    readonly db: Db,
    readonly bucket: Bucket,
    private readonly changes: Changes,
    opts: PgStorageOptions,
  ) {
    const objects = new Objects(db, bucket, opts.cacheBytes)
    this.sealer = new Sealer(db, objects, opts.chunkPoints)
    this.tokens = new PgTokens(db)
    this.ingest = new PgIngest(db, objects, this.sealer)
    this.reads = new PgReads(db, objects)
    this.collector = new Collector(db, bucket, objects, this.sealer)
  }

  /** Connect, bring the schema up to date (one replica at a time), start listening for changes. */
  static async open(opts: PgStorageOptions): Promise<PgStorage> {
    const db = new Db(opts.db)
    let bucket: Bucket | null = null
    try {
      await migrate(db.pool)
      bucket = new Bucket(opts.bucket, { endpoint: opts.s3Endpoint, region: opts.s3Region })
      const changes = new Changes(opts.db)
      await changes.start()
      const s = new PgStorage(db, bucket, changes, opts)
      if (opts.housekeepingMs !== 0) s.collector.start(opts.housekeepingMs)
      return s
    } catch (e) {
      bucket?.close()
      await db.close().catch(() => undefined)
      throw e
    }
  }

  get description(): string {
    const url = new URL(this.db.pool.options.connectionString ?? 'postgres://')
    url.password = ''
    return `${url.toString()} + ${this.bucket.url}`
  }

  /**
   * Delete the run's rows in one transaction, then its chunk and output objects; media files go with the
   * collector's next pass once no other run refers to them (they are shared by content).
   */
  async deleteRun(project: string, folder: string): Promise<void> {
    const chunks = await this.db.tx(async (c) => {
      const run = (await c.query<{ id: number }>('SELECT id FROM amber_runs WHERE project = $1 AND folder = $2 FOR UPDATE', [project, folder])).rows[0]
      if (!run) throw new HttpError(404, `not a run: ${project}/${folder}`)
      const keys = (await c.query<{ object: string }>('SELECT object FROM amber_chunks WHERE run = $1 UNION ALL SELECT object FROM amber_output WHERE run = $1 AND object IS NOT NULL', [run.id])).rows.map((r) => r.object)
      await c.query('DELETE FROM amber_runs WHERE id = $1', [run.id])
      await c.query('SELECT pg_notify($1, $2)', [CHANGES, `${project}/${folder}`])
      return keys
    })
    await this.collector.drop(chunks).catch((e: unknown) => process.stderr.write(`amber serve: deleting ${project}/${folder}'s chunks (left for housekeeping): ${(e as Error)?.message ?? e}\n`))
  }

  async mediaUrl(project: string, folder: string, hash: string, expiresIn: number): Promise<string> {
    const key = await this.reads.mediaKey(project, folder, hash)
    return this.bucket.presignGet(KEYS.media(key), { expiresIn, contentType: mimeOf(key.slice(65)) })
  }

  async mediaOrigin(): Promise<string> {
    return new URL(await this.bucket.presignGet(KEYS.media('origin'), { expiresIn: 60 })).origin
  }

  async check(): Promise<Record<string, unknown>> {
    await this.db.query('SELECT 1')
    await this.bucket.check()
    return { database: 'ok', bucket: 'ok' }
  }

  watch(project: string, folder: string, onChange: () => void): () => void {
    return this.changes.watch(project, folder, onChange)
  }

  async close(): Promise<void> {
    this.collector.stop()
    await this.sealer.idle()
    await this.changes.close()
    this.bucket.close()
    await this.db.close()
  }
}

export function openPgStorage(opts: PgStorageOptions): Promise<PgStorage> {
  return PgStorage.open(opts)
}
