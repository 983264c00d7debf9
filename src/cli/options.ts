/**
 * Option parsers the `amber` commands share, and the listening options of the commands that
 * serve (`open`, `demo`, `serve`): where to bind and whom to answer (src/viewer/hosts).
 */
import { InvalidArgumentError as CommanderArgError, Option } from 'commander'
import type { Command } from 'commander'

export function port(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderArgError('a port is an integer from 0 to 65535')
  return n
}

/** `a, b,c` → ['a', 'b', 'c']. */
export function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter(Boolean)
}

export interface ListenOptions {
  host: string
  port: number
  allowedHosts?: string[]
  trustProxy?: boolean
}

/** Adds --host, --port, --allowed-hosts and --trust-proxy to a serving command. */
export function listenOptions(cmd: Command, defaultPort: number, hostHelp = 'address to bind'): Command {
  return cmd
    .option('--host <host>', hostHelp, '127.0.0.1')
    .addOption(new Option('--port <port>', 'port to listen on (0 = a free one)').argParser(port).default(defaultPort))
    .addOption(new Option('--allowed-hosts <names>', "Host header names to answer besides localhost, 127.x.x.x and [::1] (off loopback, IP addresses too); '*' for any").argParser(list))
    .option('--trust-proxy', 'believe X-Forwarded-For and X-Forwarded-Proto (only behind a proxy that sets them)')
}
