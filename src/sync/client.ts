/**
 * The HTTP side of sync: one small client over `fetch` (keep-alive connections, a timeout per
 * request). It sorts failures into the two kinds the sync loop cares about: `TransientError`
 * (no connection, reset, timeout, 5xx: retry later, the server keeps no half state) and typed
 * `VaultError`s for answers that retrying cannot fix (bad token, no access, bad request).
 */
import { InvalidArgumentError, NotFoundError, VaultIoError } from '../errors'

export interface RemoteOptions {
  /** Server URL, e.g. `http://127.0.0.1:8470`. */
  url: string
  token: string
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number
}

/** A failure worth retrying: the network or the server is (for now) not there. */
export class TransientError extends VaultIoError {}

export interface Reply {
  status: number
  body: Record<string, unknown>
}

export class SyncClient {
  readonly base: URL
  private readonly token: string
  private readonly timeoutMs: number

  constructor(opts: RemoteOptions) {
    if (!opts || typeof opts.url !== 'string') throw new InvalidArgumentError('remote.url must be a URL string')
    if (typeof opts.token !== 'string' || opts.token === '') throw new InvalidArgumentError(`remote.token for ${opts.url} must be a non-empty string`)
    try {
      this.base = new URL(opts.url)
    } catch {
      throw new InvalidArgumentError(`remote.url ${JSON.stringify(opts.url)} is not a URL`)
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new InvalidArgumentError(`remote.url ${opts.url} must be http(s)`)
    this.token = opts.token
    this.timeoutMs = opts.timeoutMs ?? 30_000
  }

  /**
   * One request. Resolves with 2xx and 409 replies (409 carries the server's counts, which the
   * caller resumes from); throws TransientError or a typed error for the rest.
   */
  async request(method: string, path: string, body?: Buffer | Record<string, unknown>): Promise<Reply> {
    const url = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base : `${this.base.href}/`)
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` }
    let payload: Buffer | string | undefined
    if (Buffer.isBuffer(body)) {
      headers['content-type'] = 'application/octet-stream'
      payload = body
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json'
      payload = JSON.stringify(body)
    }
    let res: Response
    try {
      res = await fetch(url, { method, headers, body: payload as unknown as string, signal: AbortSignal.timeout(this.timeoutMs) })
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause
      throw new TransientError(`${method} ${url.href}: ${cause?.code ?? (e as Error).message}`, { cause: e })
    }
    let text: string
    try {
      text = await res.text()
    } catch (e) {
      throw new TransientError(`${method} ${url.href}: connection lost while reading the reply (${(e as Error).message})`, { cause: e })
    }
    let json: Record<string, unknown> = {}
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      if (res.status < 500) throw new TransientError(`${method} ${url.href}: reply is not JSON (${res.status})`)
    }
    if (res.ok || res.status === 409) return { status: res.status, body: json }
    const why = `${method} ${url.href}: ${res.status} ${String(json.error ?? res.statusText)}`
    if (res.status >= 500 || res.status === 408 || res.status === 429) throw new TransientError(why)
    if (res.status === 404) throw new NotFoundError(why)
    throw new InvalidArgumentError(why)
  }
}
