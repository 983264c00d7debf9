/**
 * Retry with exponential backoff for SQLite busy/locked errors. SQLite's own busy timeout
 * already waits inside each call; this covers what it cannot (a lock still held after it, a
 * busy snapshot upgrade), then gives up with the `DatabaseBusyError` of the last attempt.
 */
import { DatabaseBusyError, InvalidArgumentError, toVaultError } from './errors'

export interface RetryPolicy {
  /** Extra attempts after the first one. */
  retries: number
  /** First pause; each next pause doubles. */
  backoffMs: number
}

/** The busy-file options KVault and ColumnVault both take (docs/api.md, "One lifecycle"). */
export interface BusyOptions {
  /** Retries after a busy/locked error (default 4). */
  retries?: number
  /** First backoff pause in ms, doubling per retry (default 20). */
  backoffMs?: number
  /** How long SQLite itself waits on a locked file per attempt (default 5000 ms). */
  busyTimeoutMs?: number
}

/** A count option (retries, milliseconds, a limit): a non-negative number. */
export function checkCount(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`${what} must be a non-negative number, got ${String(n)}`)
  }
  return n
}

/** The checked retry policy and SQLite busy timeout of a store's options. */
export function busyPolicy(options: BusyOptions): { retry: RetryPolicy; busyTimeoutMs: number } {
  const { retries = 4, backoffMs = 20, busyTimeoutMs = 5000 } = options
  return {
    retry: { retries: checkCount(retries, 'retries'), backoffMs: checkCount(backoffMs, 'backoffMs') },
    busyTimeoutMs: Math.min(checkCount(busyTimeoutMs, 'busyTimeoutMs'), 2 ** 31 - 1),
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))

/** Block the current thread (sync API calls cannot await); Atomics.wait works on the main thread in Node. */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms)
}

function pause(policy: RetryPolicy, attempt: number): number {
  return policy.backoffMs * 2 ** attempt
}

/** Run a synchronous native call; native errors become `VaultError`s, busy ones are retried. */
export function retrySync<T>(policy: RetryPolicy, call: () => T): T {
  try {
    return call()
  } catch (e) {
    return retryAfter(policy, e, call)
  }
}

/**
 * Continue `retrySync` after a first attempt of `call` that the caller made itself and that
 * failed with `failure`: hot paths call the binding directly and only build the retry closure
 * when something went wrong.
 */
export function retryAfter<T>(policy: RetryPolicy, failure: unknown, call: () => T): T {
  for (let attempt = 0; ; attempt++) {
    const err = toVaultError(failure)
    if (!(err instanceof DatabaseBusyError) || attempt >= policy.retries) throw err
    sleepSync(pause(policy, attempt))
    try {
      return call()
    } catch (e) {
      failure = e
    }
  }
}

/** The async counterpart of `retrySync` (pauses without blocking the thread). */
export async function retryAsync<T>(policy: RetryPolicy, call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call()
    } catch (e) {
      const err = toVaultError(e)
      if (!(err instanceof DatabaseBusyError) || attempt >= policy.retries) throw err
      await new Promise((resolve) => setTimeout(resolve, pause(policy, attempt)))
    }
  }
}
