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
export { startViewer } from './viewer/server'
export type { Viewer, ViewerOptions } from './viewer/server'
