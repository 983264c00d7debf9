/**
 * The error classes of the public API. Native errors arrive as `Error` whose message begins with
 * a stable code (`NOT_FOUND: ...`); `toVaultError` is the one place that maps them.
 */

export type ErrorCode = 'NOT_FOUND' | 'DATABASE_BUSY' | 'INVALID_ARGUMENT' | 'IO_ERROR' | 'CORRUPT' | 'CLOSED'

export class VaultError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export class NotFoundError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NOT_FOUND', message, options)
  }
}
export class DatabaseBusyError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATABASE_BUSY', message, options)
  }
}
export class InvalidArgumentError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options)
  }
}
export class VaultIoError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IO_ERROR', message, options)
  }
}
/**
 * A storage service (the team server's PostgreSQL or object storage) cannot be reached or answers
 * 5xx/throttling: nothing is wrong with the request, so a server answers 503 with `Retry-After`
 * instead of 500. An IO_ERROR, so code that handles `VaultIoError` handles this too.
 */
export class StorageUnavailableError extends VaultIoError {
  /** How long a client should wait before trying again. */
  readonly retryAfterSeconds: number
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, options)
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 5
  }
}
export class CorruptDataError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CORRUPT', message, options)
  }
}
export class ClosedError extends VaultError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLOSED', message, options)
  }
}

const byCode: Record<ErrorCode, new (message: string, options?: { cause?: unknown }) => VaultError> = {
  NOT_FOUND: NotFoundError,
  DATABASE_BUSY: DatabaseBusyError,
  INVALID_ARGUMENT: InvalidArgumentError,
  IO_ERROR: VaultIoError,
  CORRUPT: CorruptDataError,
  CLOSED: ClosedError,
}

const CODED = /^(NOT_FOUND|DATABASE_BUSY|INVALID_ARGUMENT|IO_ERROR|CORRUPT|CLOSED): ([\s\S]*)$/

/**
 * Turn anything thrown by the native module into a `VaultError`. napi's own argument checks
 * (a string where a number was expected, ...) become `InvalidArgumentError`.
 */
export function toVaultError(err: unknown): unknown {
  if (err instanceof VaultError) return err
  if (!(err instanceof Error)) return err
  const m = CODED.exec(err.message)
  if (m) return new byCode[m[1] as ErrorCode](m[2], { cause: err })
  const code = (err as { code?: unknown }).code
  if (code === 'InvalidArg' || code === 'NumberExpected' || code === 'StringExpected' || code === 'ObjectExpected' ||
      code === 'BigintExpected' || code === 'ArrayExpected' || err instanceof TypeError) {
    return new InvalidArgumentError(err.message, { cause: err })
  }
  return err
}

/** Run a native call and rethrow its failure as a `VaultError`. */
export function native<T>(call: () => T): T {
  try {
    return call()
  } catch (e) {
    throw toVaultError(e)
  }
}

/** The async counterpart of `native`. */
export async function nativeAsync<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (e) {
    throw toVaultError(e)
  }
}
