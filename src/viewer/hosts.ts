/**
 * Which `Host` headers a server answers (against DNS rebinding: a page of evil.example whose name
 * was re-pointed at 127.0.0.1 reaches the server with `Host: evil.example`, and only that header
 * tells it apart), and what a server believes of the `X-Forwarded-*` headers a proxy adds.
 * Shared by the viewer (`amber open`, `amber demo`) and the team server (`amber serve`).
 *
 * The rule, with any port (a port is no defence against rebinding, and an ssh tunnel or a proxy
 * changes it):
 * - `localhost`, an IPv4 address in 127.0.0.0/8 and `[::1]` are always allowed;
 * - bound to another address than loopback, any IP address literal is allowed too: a browser
 *   sends one only when the page's own origin is that address, so it cannot be a rebinding;
 * - plus the names of `allowedHosts` (`--allowed-hosts a,b`; case-insensitive, no port);
 *   `*` allows every Host (for a proxy that checks names itself).
 * Anything else, a missing Host included, is refused with 403 before any run data is read.
 */
import type { IncomingMessage } from 'node:http'
import { isIP, isIPv4 } from 'node:net'
import type { TLSSocket } from 'node:tls'

/** True for an address (or name) that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return h === 'localhost' || h === '::1' || (isIPv4(h) && h.startsWith('127.'))
}

/** The name part of a Host header (`[::1]:80` → `[::1]`), lower case, or null when malformed. */
export function hostName(header: string | undefined): string | null {
  if (!header) return null
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s/@]+)(?::\d{1,5})?$/.exec(header.trim())
  return m ? m[1].toLowerCase() : null
}

export interface HostCheck {
  /** True when a request with this Host header may be answered. */
  allows(header: string | undefined): boolean
  /** The names allowed besides the built-in ones ('*' for all), for messages. */
  readonly extra: string[]
}

/**
 * The Host rule of a server bound to `bindHost`, with the extra names of `--allowed-hosts`
 * (`['*']` allows everything).
 */
export function hostCheck(bindHost: string, allowedHosts: string[] = []): HostCheck {
  const extra = allowedHosts.map((h) => h.trim().toLowerCase()).filter(Boolean)
  const any = extra.includes('*')
  const names = new Set(extra.map((h) => hostName(h) ?? h))
  const loopbackOnly = isLoopbackHost(bindHost)
  return {
    extra,
    allows(header) {
      if (any) return true
      const name = hostName(header)
      if (name === null) return false
      if (isLoopbackHost(name) || names.has(name)) return true
      return !loopbackOnly && isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0
    },
  }
}

/** The last entry of a comma-separated forwarding header (the one the nearest proxy added). */
function lastForwarded(value: string | string[] | undefined): string | null {
  const text = Array.isArray(value) ? value.join(',') : value
  if (!text) return null
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean)
  return parts.length ? parts[parts.length - 1] : null
}

/**
 * The client's address: the socket's peer, or with `trustProxy` the last `X-Forwarded-For` entry
 * (the address the proxy in front saw; earlier entries are whatever the client claimed).
 */
export function clientAddress(req: IncomingMessage, trustProxy: boolean): string {
  const peer = req.socket.remoteAddress ?? 'unknown'
  if (!trustProxy) return peer
  return lastForwarded(req.headers['x-forwarded-for']) ?? peer
}

/** True when the client spoke https: to this server (TLS), or to a trusted proxy that says so. */
export function isHttps(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as TLSSocket).encrypted) return true
  return trustProxy && lastForwarded(req.headers['x-forwarded-proto'])?.toLowerCase() === 'https'
}
