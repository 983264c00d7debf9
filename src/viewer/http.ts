/**
 * HTTP plumbing shared by the viewer and the team server: JSON answers, and listening (127.0.0.1
 * unless told otherwise) and closing (ending live streams and open connections).
 */
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

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
