/**
 * Tokens in the database, hashed as in the data dir's tokens.json (../tokens). Every check asks
 * the database, so a token revoked through any replica (or `amber token revoke --db`) is refused
 * by all of them at once.
 */
import { Db, dbError } from './db'
import { migrate } from './schema'
import { NotFoundError } from '../../errors'
import type { TokenOptions, Tokens } from '../storage'
import { hashToken, newToken } from '../tokens'
import type { TokenRecord } from '../tokens'

interface Row {
  id: string
  name: string
  hash: string
  projects: string[] | '*'
  read_only: boolean
  created_at: string
}

const record = (r: Row): TokenRecord => ({ id: r.id, name: r.name, hash: r.hash, projects: r.projects, readOnly: r.read_only, createdAt: r.created_at })

export class PgTokens implements Tokens {
  constructor(private readonly db: Db) {}

  async create(opts: TokenOptions): Promise<{ token: string; record: TokenRecord }> {
    const made = newToken(opts)
    await this.add(made.record)
    return made
  }

  /** Store a record made elsewhere (`amber migrate` brings a data dir's tokens); false if its id is taken. */
  async add(t: TokenRecord): Promise<boolean> {
    const r = await this.db.query('INSERT INTO amber_tokens (id, name, hash, projects, read_only, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id', [t.id, t.name, t.hash, JSON.stringify(t.projects), t.readOnly, t.createdAt])
    return r.length === 1
  }

  async list(): Promise<TokenRecord[]> {
    return (await this.db.query<Row>('SELECT * FROM amber_tokens ORDER BY created_at, id')).map(record)
  }

  async revoke(id: string): Promise<void> {
    const r = await this.db.query('DELETE FROM amber_tokens WHERE id = $1 RETURNING id', [id])
    if (r.length === 0) throw new NotFoundError(`no token with id ${JSON.stringify(id)} in the database`)
  }

  async verify(token: string | null | undefined): Promise<TokenRecord | null> {
    if (!token) return null
    const r = await this.db.query<Row>('SELECT * FROM amber_tokens WHERE hash = $1', [hashToken(token)])
    return r.length ? record(r[0]) : null
  }

  async isValid(hash: string): Promise<boolean> {
    return (await this.db.query('SELECT 1 FROM amber_tokens WHERE hash = $1', [hash])).length > 0
  }
}

/** The tokens of a database for one command (`amber token … --db`): the schema is brought up to date first. */
export async function openPgTokens(url: string): Promise<{ tokens: PgTokens; close: () => Promise<void> }> {
  const db = new Db(url, { max: 2 })
  try {
    await migrate(db.pool)
  } catch (e) {
    await db.close().catch(() => undefined)
    throw dbError(e)
  }
  return { tokens: new PgTokens(db), close: () => db.close() }
}
