/**
 * The connection pool and the two ways the backend talks to PostgreSQL: one statement, or a
 * transaction. A database that cannot be reached, is restarting or dropped the connection is a
 * StorageUnavailableError (the server answers 503 + Retry-After and the client retries); what
 * the database refuses for cause stays the error it is.
 */
import type { Pool, PoolClient, QueryResultRow } from 'pg'
import { StorageUnavailableError } from '../../errors'
import { loadPg } from './deps'

/** Node's error codes for a peer that cannot be reached or went away. */
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN'])

/**
 * SQLSTATE classes and codes that mean "not now": connection exceptions (08), operator
 * intervention such as a shutdown or restart (57P0x), too many connections, serialization
 * failures and deadlocks (retryable by definition).
 */
function transient(code: string): boolean {
  return code.startsWith('08') || /^57P0[1-4]$/.test(code) || code === '53300' || code === '40001' || code === '40P01'
}

/** The error a failed database call is reported as. */
export function dbError(e: unknown): unknown {
  const err = e as { code?: unknown; message?: unknown }
  const code = typeof err?.code === 'string' ? err.code : ''
  const msg = String(err?.message ?? e)
  if (NETWORK.has(code) || transient(code) || /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(msg)) {
    return new StorageUnavailableError(`the database is unavailable: ${msg}`, { cause: e, retryAfterSeconds: 1 })
  }
  return e
}

export interface DbOptions {
  /** Connections this replica opens at most (default 10). */
  max?: number
  /** How long to wait for a connection (default 10 s). */
  connectTimeoutMs?: number
  /** Longest one statement may run (default 60 s). */
  statementTimeoutMs?: number
}

export class Db {
  readonly pool: Pool

  constructor(url: string, opts: DbOptions = {}) {
    const pg = loadPg()
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      statement_timeout: opts.statementTimeoutMs ?? 60_000,
      idleTimeoutMillis: 30_000,
      application_name: 'amber serve',
      // Counts and ids are bigint columns: numbers here (they stay far below 2^53), not strings.
      types: { getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
    })
    // A connection the server drops (a restart) is an error event: on the pool for an idle client
    // (which the pool then discards), on the client itself for one checked out between two
    // queries. Without listeners Node would treat either as uncaught and end the process; the
    // query under way, or the next one, fails as StorageUnavailableError instead.
    this.pool.on('error', () => undefined)
    this.pool.on('connect', (client) => client.on('error', () => undefined))
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows
    } catch (e) {
      throw dbError(e)
    }
  }

  /** Run `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    let client: PoolClient
    try {
      client = await this.pool.connect()
    } catch (e) {
      throw dbError(e)
    }
    let broken = false
    try {
      await client.query('BEGIN')
      const out = await fn(client)
      await client.query('COMMIT')
      return out
    } catch (e) {
      try {
        await client.query('ROLLBACK')
      } catch {
        broken = true // the connection is gone: the server rolled back for us
      }
      throw dbError(e)
    } finally {
      client.release(broken)
    }
  }

  async close(): Promise<void> {
    await this.pool.end()
  }
}

/** A float8 parameter that keeps -0 (node-postgres would send it as "0"). */
export function f8(v: number | null): string | number | null {
  return v !== null && Object.is(v, -0) ? '-0' : v
}

/** Bind parameters one statement may carry (PostgreSQL's limit is 65,535). */
const MAX_PARAMS = 60_000

/**
 * INSERT `rows` (each the values of `columns`) in as few statements as the parameter limit
 * allows. Each value is its own parameter, so a Buffer goes as binary bytea, where an array
 * parameter (unnest) would send it as hex text, twice the bytes for the server to parse.
 */
export async function insertRows(c: PoolClient, table: string, columns: readonly string[], rows: unknown[][], suffix = ''): Promise<void> {
  const per = Math.max(1, Math.floor(MAX_PARAMS / columns.length))
  for (let at = 0; at < rows.length; at += per) {
    const part = rows.slice(at, at + per)
    const values: unknown[] = []
    const tuples = part.map((row) => `(${row.map((v) => `$${values.push(v)}`).join(', ')})`)
    await c.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')} ${suffix}`, values)
  }
}
