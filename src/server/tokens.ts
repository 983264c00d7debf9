/**
 * The server's token store: `{dataDir}/.amber/tokens.json` (mode 0600). Only the SHA-256 of a
 * token is kept; the token itself is shown once, by `amber token create`. Tokens carry 256 random
 * bits, so an unsalted hash is enough (nothing to brute-force) and lookups are one hash + map get.
 * The file is re-read when it changes, so tokens created or revoked while the server runs apply
 * at once. The `.amber` folder holds no metadata.json, so run listings never mistake it for a run.
 */
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { InvalidArgumentError, NotFoundError, VaultIoError } from '../errors'
import type { TokenOptions, Tokens } from './storage'

export interface TokenRecord {
  id: string
  name: string
  /** sha256 hex of the token. */
  hash: string
  /** Projects the token may use; '*' for all. */
  projects: string[] | '*'
  readOnly: boolean
  createdAt: string
}

const PROJECT = /^[A-Za-z0-9._-]+$/

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

export function tokenAllows(t: TokenRecord, project: string): boolean {
  return t.projects === '*' || t.projects.includes(project)
}

/** A new token and its record (kept hashed, whichever store keeps it). */
export function newToken(opts: TokenOptions): { token: string; record: TokenRecord } {
  const projects = opts.projects
  if (projects !== '*') {
    if (!Array.isArray(projects) || projects.length === 0) throw new InvalidArgumentError('a token needs at least one project (or "*")')
    for (const p of projects) if (!PROJECT.test(p) || p === '.' || p === '..') throw new InvalidArgumentError(`token project ${JSON.stringify(p)} must be letters, digits, '.', '_' or '-'`)
  }
  const token = `amb_${randomBytes(32).toString('base64url')}`
  const record: TokenRecord = {
    id: randomBytes(6).toString('hex'),
    name: opts.name ?? '',
    hash: hashToken(token),
    projects,
    readOnly: opts.readOnly ?? false,
    createdAt: new Date().toISOString(),
  }
  return { token, record }
}

export class TokenStore implements Tokens {
  readonly file: string
  /** @internal */
  private byHash = new Map<string, TokenRecord>()
  /** @internal inode, size and mtime of the file last read: a rename-replaced file always differs. */
  private loaded = ''

  constructor(readonly dataDir: string) {
    this.file = path.join(path.resolve(dataDir), '.amber', 'tokens.json')
  }

  /** @internal */
  private read(): TokenRecord[] {
    let text: string
    try {
      text = fs.readFileSync(this.file, 'utf8')
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new VaultIoError(`token store ${this.file}: ${(e as Error).message}`, { cause: e })
    }
    try {
      const list = JSON.parse(text) as TokenRecord[]
      if (!Array.isArray(list)) throw new Error('not a list')
      return list
    } catch (e) {
      throw new VaultIoError(`token store ${this.file} is not a JSON list of tokens: ${(e as Error).message}`)
    }
  }

  /** @internal */
  private write(list: TokenRecord[]): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(list, null, 2), { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  list(): TokenRecord[] {
    return this.read()
  }

  /** Create a token; the returned `token` is the only time it exists in clear. */
  create(opts: TokenOptions): { token: string; record: TokenRecord } {
    const made = newToken(opts)
    this.write([...this.read(), made.record])
    return made
  }

  revoke(id: string): void {
    const list = this.read()
    const rest = list.filter((t) => t.id !== id)
    if (rest.length === list.length) throw new NotFoundError(`no token with id ${JSON.stringify(id)} in ${this.file}`)
    this.write(rest)
  }

  /** The record of a presented token, or null. */
  verify(token: string | null | undefined): TokenRecord | null {
    if (!token) return null
    this.reload()
    return this.byHash.get(hashToken(token)) ?? null
  }

  /** True while the token with this hash is not revoked (what ends a live stream opened with it). */
  isValid(hash: string): boolean {
    this.reload()
    return this.byHash.has(hash)
  }

  /** @internal */
  private reload(): void {
    let stamp = 'none'
    try {
      const st = fs.statSync(this.file)
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
    } catch {
      stamp = 'none'
    }
    if (stamp === this.loaded) return
    this.byHash = new Map(this.read().map((t) => [t.hash, t]))
    this.loaded = stamp
  }
}
