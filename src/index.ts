/** ambervault: the public entry point (docs/api.md). */
export {
  VaultError,
  NotFoundError,
  DatabaseBusyError,
  InvalidArgumentError,
  VaultIoError,
  CorruptDataError,
  ClosedError,
  StorageUnavailableError,
} from './errors'
export type { ErrorCode } from './errors'
export { nativeVersion } from './version'
export { KVault } from './kvault'
export type { KVaultOptions, KvCacheOptions, KvIterOptions, KvKeyIterOptions, KvKey, KvValue } from './kvault'
export type { BusyOptions } from './retry'
export { Board, Histogram, Media, Table, TensorLog, KernelDensity, listRuns, openRun, upgradeRun, labelRun, Run } from './board'
export type {
  BoardOptions, LogOptions, LogValue, RawPixels, MediaType, RunInfo, RunMetadata, RunStatus, ScalarSeries, HistogramEntry, MediaEntry,
  TableEntry, TensorEntry, KernelDensityEntry, MetricSummary, LabelPatch, RunLabels,
} from './board'
export { startViewer } from './viewer/server'
export type { Viewer, ViewerOptions } from './viewer/server'
export { syncRun, TransientError } from './sync'
export type { SyncOptions, SyncProgress, SyncResult, RemoteOptions, BoardRemote } from './sync'
export { startServer, TokenStore } from './server'
export type { ServerOptions, StorageOptions, TeamServer, TokenRecord } from './server'
export { ColumnVault, Column, VarSizeColumn } from './columns'
export type { ColumnVaultOptions, ColumnInfo, ReadOptions, NumericArray, CacheOptions } from './columns'
export { DataPacker } from './packer'
export type { UnpackManyOptions } from './packer'
