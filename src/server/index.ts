/** The team server (`amber serve`): ingest API, tokens, and the viewer behind token auth. */
export { startServer } from './server'
export type { ServerOptions, StorageOptions, TeamServer } from './server'
export { TokenStore } from './tokens'
export type { TokenRecord } from './tokens'
