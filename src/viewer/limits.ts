/**
 * Bounds on what one client can make a server hold, shared by the viewer and the team server:
 * - `headersTimeoutMs` (30 s): a request's headers must be complete by then; half-sent headers,
 *   and a connection that sends nothing at all, get a 408 and are closed (checked every second).
 *   Not much shorter: a client whose own event loop stalls between connecting and writing (a
 *   busy test worker, a laptop waking up) would get a 408 for a request it did send;
 * - `requestTimeoutMs` (60 s): the whole request, body included (an 8 MiB sync batch needs about
 *   1.1 Mbit/s); a live stream's response is not bounded by it;
 * - `keepAliveTimeoutMs` (10 s): an idle keep-alive connection is closed after this;
 * - `connectionsPerClient` (32): a client address (the socket's peer) holds at most this many
 *   connections. Another one first closes that client's oldest connection with no request in
 *   progress (idle keep-alive, or headers still arriving); when all are busy (live streams,
 *   uploads) the new connection is closed at once. Other clients are never affected. With
 *   `trustProxy` every connection comes from the proxy, so the cap applies instead to requests in
 *   progress per `X-Forwarded-For` address (one more gets 503);
 * - request bodies are read with a byte limit (`readBody`): 413 as soon as the declared length,
 *   or the bytes received so far, pass it, without buffering the rest.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { clientAddress } from './hosts'
import { sendJson } from './http'
import { HttpError } from './paths'

export interface Limits {
  headersTimeoutMs: number
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  connectionsPerClient: number
}

export const LIMITS: Readonly<Limits> = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 10_000,
  connectionsPerClient: 32,
}

export interface LimitOptions {
  trustProxy?: boolean
  limits?: Partial<Limits>
}

/** An HTTP server with the timeouts and per-client caps above around `handler`. */
export function createLimitedServer(handler: (req: IncomingMessage, res: ServerResponse) => void, opts: LimitOptions = {}): Server {
  const l: Limits = { ...LIMITS, ...opts.limits }
  const trustProxy = opts.trustProxy ?? false
  /** Requests in progress per socket (a socket without one may be closed for a newer one). */
  const busy = new WeakMap<Socket, number>()
  /** Open connections per peer address, oldest first (without trustProxy). */
  const sockets = new Map<string, Set<Socket>>()
  /** Requests in progress per forwarded client address (with trustProxy). */
  const requests = new Map<string, number>()

  const server = createServer(
    {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, l.headersTimeoutMs),
    },
    (req, res) => {
      const socket = req.socket
      busy.set(socket, (busy.get(socket) ?? 0) + 1)
      let client: string | null = null
      res.once('close', () => {
        busy.set(socket, (busy.get(socket) ?? 1) - 1)
        if (client !== null) {
          const n = (requests.get(client) ?? 1) - 1
          if (n > 0) requests.set(client, n)
          else requests.delete(client)
        }
      })
      if (trustProxy) {
        const who = clientAddress(req, true)
        const n = (requests.get(who) ?? 0) + 1
        requests.set(who, n)
        client = who
        if (n > l.connectionsPerClient) {
          return sendJson(res, 503, { error: `too many requests in progress from one client (at most ${l.connectionsPerClient})` }, { 'retry-after': '1', connection: 'close' })
        }
      }
      handler(req, res)
    },
  )
  server.keepAliveTimeout = l.keepAliveTimeoutMs

  server.on('connection', (socket: Socket) => {
    if (trustProxy) return
    const peer = socket.remoteAddress ?? 'unknown'
    let mine = sockets.get(peer)
    if (!mine) {
      mine = new Set()
      sockets.set(peer, mine)
    }
    if (mine.size >= l.connectionsPerClient) {
      let idle: Socket | undefined
      for (const s of mine) {
        if (!busy.get(s)) {
          idle = s
          break
        }
      }
      if (!idle) {
        socket.destroy()
        return
      }
      mine.delete(idle)
      idle.destroy()
    }
    const set = mine
    set.add(socket)
    socket.once('close', () => {
      set.delete(socket)
      if (set.size === 0 && sockets.get(peer) === set) sockets.delete(peer)
    })
  })
  return server
}

/** The request body, refused with 413 as soon as it is known to be over `max` bytes. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (declared > max) return Promise.reject(new HttpError(413, `request body of ${declared} bytes is over the ${max} byte limit`))
  return new Promise((done, fail) => {
    // A declared length: the bytes go straight into one buffer of that size (held once, not as
    // chunks plus their concatenation), 8-byte aligned for the batch decoders.
    const into = Number.isSafeInteger(declared) && declared > 0 ? Buffer.allocUnsafeSlow(declared) : null
    const parts: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      if (size + c.length > max || (into && size + c.length > into.length)) {
        size += c.length
        fail(new HttpError(size > max ? 413 : 400, size > max ? `request body is over the ${max} byte limit` : 'request body is longer than its Content-Length'))
        req.removeAllListeners('data')
        req.resume()
        return
      }
      if (into) c.copy(into, size)
      else parts.push(c)
      size += c.length
    })
    req.on('end', () => done(into ? into.subarray(0, size) : Buffer.concat(parts)))
    req.on('error', fail)
    req.on('aborted', () => fail(new HttpError(400, 'request aborted')))
    // Closed before the end (after it, the promise is settled already): never left pending.
    req.on('close', () => fail(new HttpError(400, 'request aborted')))
  })
}
