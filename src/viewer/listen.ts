/**
 * Listening and closing for the viewer and the team server: bind (127.0.0.1 unless told
 * otherwise), report the URL to show, and close by ending live streams and open connections.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'

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
