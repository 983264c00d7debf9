/** The PostgreSQL + S3 backend of the team server (work in progress). */
import type { ServerStorage } from '../storage'

export interface PgStorageOptions {
  db: string
  bucket: string
  s3Endpoint?: string
  s3Region?: string
}

export async function openPgStorage(opts: PgStorageOptions): Promise<ServerStorage> {
  throw new Error(`not yet: ${opts.db}`)
}
