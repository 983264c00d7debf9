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
export { ColumnVault, Column, VarSizeColumn } from './columns'
export type { ColumnVaultOptions, ColumnInfo, ReadOptions, NumericArray, CacheOptions } from './columns'
export { DataPacker } from './packer'
export type { UnpackManyOptions } from './packer'
