/** ambervault: the public entry point (API.md). */
export {
  VaultError,
  NotFoundError,
  DatabaseBusyError,
  InvalidArgumentError,
  VaultIoError,
  CorruptDataError,
  ClosedError,
} from './errors'
export type { ErrorCode } from './errors'
export { nativeVersion } from './version'
export { KVault } from './kvault'
export type { KVaultOptions, KvCacheOptions, KvIterOptions, KvKeyIterOptions, KvKey, KvValue } from './kvault'
