/**
 * Exit codes of `amber`, so scripts can tell a typo from a missing run from a broken file:
 * 0 success, 1 unexpected failure, 2 bad usage or argument, 3 run/metric/folder not found,
 * 4 storage trouble (I/O, corrupt data, busy).
 */
import { VaultError } from '../errors'

export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, storage: 4 } as const

/** An error the CLI reports in one line, with the exit code it maps to. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.failure) {
    super(message)
  }
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof CliError) return e.exitCode
  if (e instanceof VaultError) {
    if (e.code === 'NOT_FOUND') return EXIT.notFound
    if (e.code === 'INVALID_ARGUMENT') return EXIT.usage
    return EXIT.storage
  }
  return EXIT.failure
}
