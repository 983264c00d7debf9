/** Sync: uploading runs to a team server (`amber serve`). */
export { syncRun } from './sync'
export type { SyncOptions, SyncProgress, SyncResult } from './sync'
export { TransientError } from './client'
export type { RemoteOptions } from './client'
export type { BoardRemote } from './background'
