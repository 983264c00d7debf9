/**
 * `amber migrate`: a data dir server's runs and tokens into a database and bucket (docs/server-storage.md,
 * "Migrating a data dir").
 *
 * Runs travel through the sync protocol, not a second writer: an in-process team server on
 * 127.0.0.1 over the PostgreSQL storage takes each run folder from `syncRun`, exactly as a client
 * would upload it. So the database gets what any client's upload gives (same checks, same
 * idempotency), and the migration resumes the way a sync does: the server's counts say where
 * each run's copy ends, so a migration killed anywhere and started again stores every point,
 * media item, record and output byte once, and one run again over a complete copy stores nothing.
 *
 * That server accepts one token only, made for the migration and kept in memory (never in the
 * database): nothing is left to revoke when the process is killed, and nobody else on the
 * machine can use the server while it listens.
 *
 * Statuses: a run is read as the data dir server's viewer reads it (a `running` run whose writer
 * is gone is replayed and reads `killed`), and a finished, crashed or killed run is finished with
 * that status, exit code and end time. A run still `running` (its data dir server is still
 * writing it) stays `running` in the database: its client, pointed at the new server, continues
 * it there, and a migration run again after the old server stopped brings its rest and status.
 */
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { basename, resolve } from 'node:path'
import { listRuns } from '../board'
import { InvalidArgumentError, NotFoundError } from '../errors'
import { syncRun } from '../sync/sync'
import { startServer } from './server'
import type { ServerStorage, Tokens } from './storage'
import { TokenStore, hashToken } from './tokens'
import type { TokenRecord } from './tokens'

export interface MigrateOptions {
  /** The data dir of an `amber serve --data-dir` server (run folders under `<project>/<folder>`). */
  from: string
  /** The PostgreSQL database (`postgres://user@host:5432/db`). */
  db: string
  /** `s3://bucket/prefix`. */
  bucket: string
  s3Endpoint?: string
  s3Region?: string
  /** Runs migrated at once (default 2). */
  jobs?: number
  /** Keep retrying a run whose storage is unreachable this long before it counts as failed (default 60 s). */
  retryForMs?: number
  /** Called once the tokens are copied, and after each run (migrated or failed). */
  onProgress?: (e: MigrateEvent) => void
}

export type MigrateEvent =
  | { kind: 'tokens'; tokens: TokensCopied }
  | { kind: 'run'; done: number; total: number; run: MigratedRun }

export interface TokensCopied {
  /** Records in the data dir's tokens.json. */
  total: number
  /** Records added to the database by this call. */
  copied: number
  /** Records whose id (or hash) the database held already: left as they are. */
  present: number
}

export interface MigratedRun {
  project: string
  folder: string
  runDir: string
  /** 1 for a 0.1 run folder (a file per metric), 2 for the current layout. */
  layout: number
  /** The status the database copy ends with (the source's). */
  status: string
  /** What this call stored: 0 everywhere for a run the database held completely already. */
  points: number
  media: number
  /** Histogram, table, tensor and kernel density occurrences. */
  records: number
  outputBytes: number
  ms: number
  /** Why the run did not migrate (the others go on). */
  error?: string
  /** Names the server refuses (`<kind> <name> <why>`), so not copied: only runs of old versions hold any. */
  skipped: string[]
}

export interface MigrateResult {
  runs: MigratedRun[]
  failed: MigratedRun[]
  tokens: TokensCopied
  points: number
  media: number
  records: number
  outputBytes: number
  ms: number
}

/**
 * The migration's server: everything of the database storage but its tokens, which are the
 * migration's one token (every other member, present or future, is the database storage's own,
 * its methods bound to it).
 */
function migrationStorage(pg: ServerStorage, record: TokenRecord): ServerStorage {
  const tokens: Tokens = {
    create: () => Promise.reject(new InvalidArgumentError('the migration server creates no tokens')),
    list: () => [record],
    revoke: () => Promise.reject(new InvalidArgumentError('the migration server revokes no tokens')),
    verify: (token) => (token && hashToken(token) === record.hash ? record : null),
    isValid: (hash) => hash === record.hash,
  }
  return new Proxy(pg, {
    get(target, key) {
      if (key === 'tokens') return tokens
      const v: unknown = Reflect.get(target, key, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })
}

/** Move a data dir's tokens and runs into a database and bucket; see the file comment. */
export async function migrateDataDir(opts: MigrateOptions): Promise<MigrateResult> {
  const started = Date.now()
  const from = resolve(opts.from)
  let st
  try {
    st = statSync(from)
  } catch {
    throw new NotFoundError(`--from ${opts.from}: no such folder`)
  }
  if (!st.isDirectory()) throw new InvalidArgumentError(`--from ${opts.from} is not a folder (give the data dir of \`amber serve --data-dir\`)`)
  const jobs = opts.jobs ?? 2
  if (!Number.isSafeInteger(jobs) || jobs < 1) throw new InvalidArgumentError(`jobs must be a positive integer (got ${jobs})`)
  // Read everything of the source before touching the database, so a broken tokens.json fails
  // the migration before it starts.
  const sourceTokens = new TokenStore(from).list()
  const runs = listRuns(from)

  const { openPgStorage } = await import('./pg')
  const pg = await openPgStorage({ db: opts.db, bucket: opts.bucket, s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region, housekeepingMs: 0 })
  let server: Awaited<ReturnType<typeof startServer>> | null = null
  try {
    const tokens: TokensCopied = { total: sourceTokens.length, copied: 0, present: 0 }
    // As they are (same id, hash, scope and date): their users keep their tokens.
    for (const t of sourceTokens) {
      if (await pg.tokens.add(t)) tokens.copied++
      else tokens.present++
    }
    opts.onProgress?.({ kind: 'tokens', tokens })

    const token = `amb_${randomBytes(32).toString('base64url')}`
    const record: TokenRecord = { id: 'migrate', name: 'amber migrate', hash: hashToken(token), projects: '*', readOnly: false, createdAt: new Date().toISOString() }
    server = await startServer({ storage: migrationStorage(pg, record), host: '127.0.0.1', port: 0 })
    const url = server.url

    const out: MigratedRun[] = new Array(runs.length)
    let next = 0
    let done = 0
    const worker = async (): Promise<void> => {
      while (next < runs.length) {
        const i = next++
        const info = runs[i]
        const t0 = Date.now()
        const layout = typeof info.metadata.layoutVersion === 'number' ? info.metadata.layoutVersion : 1
        const base = { project: info.project, folder: basename(info.runDir), runDir: info.runDir, layout }
        let m: MigratedRun
        try {
          const r = await syncRun(info.runDir, { url, token, project: info.project, retryForMs: opts.retryForMs ?? 60_000 })
          m = { ...base, status: r.status, points: r.sentPoints, media: r.sentMedia, records: r.sentRecords, outputBytes: r.sentOutputBytes, ms: Date.now() - t0, skipped: r.skipped }
        } catch (e) {
          m = { ...base, status: String(info.status), points: 0, media: 0, records: 0, outputBytes: 0, ms: Date.now() - t0, error: (e as Error)?.message ?? String(e), skipped: [] }
        }
        out[i] = m
        opts.onProgress?.({ kind: 'run', done: ++done, total: runs.length, run: m })
      }
    }
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, runs.length)) }, worker))
    const sum = (k: 'points' | 'media' | 'records' | 'outputBytes') => out.reduce((a, r) => a + r[k], 0)
    return { runs: out, failed: out.filter((r) => r.error !== undefined), tokens, points: sum('points'), media: sum('media'), records: sum('records'), outputBytes: sum('outputBytes'), ms: Date.now() - started }
  } finally {
    // Closing the server closes the storage (after the sealer is idle); without one, close it here.
    if (server) await server.close()
    else await pg.close()
  }
}
