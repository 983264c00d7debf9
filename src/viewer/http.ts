/**
 * HTTP plumbing shared by the viewer and the team server: JSON answers, error answers that never
 * show the server's file-system paths, and listening (127.0.0.1 unless told otherwise) and
 * closing (ending live streams and open connections).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { realpathSync } from 'node:fs'
import { StorageUnavailableError, VaultError } from '../errors'
import { HttpError } from './paths'

/** A JSON answer that is never cached nor sniffed as another type. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  })
  res.end(text)
}

/** The status an error is answered with. */
export function errorStatus(e: unknown): number {
  if (e instanceof HttpError) return e.status
  if (e instanceof StorageUnavailableError) return 503
  if (e instanceof VaultError) return e.code === 'NOT_FOUND' ? 404 : e.code === 'INVALID_ARGUMENT' ? 400 : e.code === 'CLOSED' ? 409 : 500
  return 500
}

/** An absolute path of two segments or more (URL paths under /api/ are left alone). */
const ABSOLUTE_PATH = /(?<=^|[\s'"(=,])(?:[A-Za-z]:)?[\\/](?!api\/)[^\s'"(),;\\/]+(?:[\\/][^\s'"(),;\\/]*)+/g

/**
 * What a client is told of an error. A 5xx says only what kind of failure it was (the details go
 * to the server's log); a 4xx keeps its message with the folders under `roots` (the base or data
 * dir) shown relative to them and any other absolute path replaced by `<path>`.
 */
export function publicMessage(e: unknown, status: number, roots: string[]): string {
  if (e instanceof StorageUnavailableError) return 'storage unavailable: retry shortly'
  if (status >= 500) return `internal error${e instanceof VaultError ? ` (${e.code})` : ''}: see the server's log`
  let text = String((e as Error)?.message ?? e)
  for (const root of roots) {
    const r = root.replace(/[\\/]+$/, '')
    if (r) text = text.split(`${r}/`).join('').split(`${r}\\`).join('').split(r).join('.')
  }
  return text.replace(ABSOLUTE_PATH, '<path>')
}

/** `dir` and, when it differs, the folder it really is (symlinks followed): what publicMessage hides. */
export function pathRoots(dir: string): string[] {
  try {
    const real = realpathSync(dir)
    return real === dir ? [dir] : [dir, real]
  } catch {
    return [dir]
  }
}

/**
 * Answer a failed request (`who` names the server in its log). A refused upload may still be
 * arriving: a 413 is answered, then the connection is dropped.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown, roots: string[], who: string, headers: Record<string, string> = {}): void {
  const status = errorStatus(e)
  // An unavailable storage is expected now and then (a restart): one line, not a stack per retry.
  const detail = e instanceof StorageUnavailableError ? e.message : ((e as Error)?.stack ?? e)
  if (status >= 500) process.stderr.write(`${who}: ${req.method} ${(req.url ?? '').split('?')[0]}: ${detail}\n`)
  if (status === 413) headers = { ...headers, connection: 'close' }
  if (e instanceof StorageUnavailableError) headers = { ...headers, 'retry-after': String(e.retryAfterSeconds) }
  if (!res.headersSent) sendJson(res, status, { error: publicMessage(e, status, roots) }, headers)
  else res.end()
  if (status === 413) res.on('finish', () => req.socket.destroy())
}

export interface Listening {
  url: string
  host: string
  port: number
  /** Ends the live streams, closes every connection, then runs `release` once the server is closed. */
  close(): Promise<void>
}

export function listen(
  server: Server,
  opts: { host?: string; port?: number },
  live: Set<ServerResponse>,
  release: () => void,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const addr = server.address() as AddressInfo
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
      resolve({
        url: `http://${shownHost}:${addr.port}/`,
        host: addr.address,
        port: addr.port,
        close: () =>
          new Promise<void>((closed) => {
            for (const r of live) r.end()
            server.close(() => {
              release()
              closed()
            })
            server.closeAllConnections()
          }),
      })
    })
  })
}
