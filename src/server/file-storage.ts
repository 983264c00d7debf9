/**
 * The data dir backend (`amber serve --data-dir D`): runs are run folders under D (a base dir
 * `amber open` reads too), written by ./ingest and read by the viewer's RunStore; tokens are in
 * D/.amber/tokens.json. One server process owns a data dir.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { InvalidArgumentError } from '../errors'
import { RunStore } from '../viewer/data'
import { resolveRunDir } from '../viewer/paths'
import { IngestRuns } from './ingest'
import type { ServerStorage } from './storage'
import { TokenStore } from './tokens'

export class FileStorage implements ServerStorage {
  readonly dataDir: string
  readonly tokens: TokenStore
  readonly ingest: IngestRuns
  readonly reads: RunStore

  constructor(dataDir: string, opts: { idleCloseMs?: number } = {}) {
    this.dataDir = resolve(dataDir)
    if (existsSync(this.dataDir) && !statSync(this.dataDir).isDirectory()) throw new InvalidArgumentError(`data dir ${this.dataDir} is a file`)
    mkdirSync(this.dataDir, { recursive: true })
    this.tokens = new TokenStore(this.dataDir)
    this.ingest = new IngestRuns(this.dataDir, opts.idleCloseMs)
    this.reads = new RunStore(this.dataDir)
  }

  get description(): string {
    return this.dataDir
  }

  async deleteRun(project: string, folder: string): Promise<void> {
    const dir = resolveRunDir(this.dataDir, project, folder)
    await this.reads.metadata(project, folder) // a 404 for a folder that is not a run
    await this.ingest.close(project, folder)
    this.reads.forget(project, folder)
    rmSync(dir, { recursive: true, force: true })
  }

  async check(): Promise<Record<string, unknown>> {
    statSync(this.dataDir)
    this.tokens.list()
    return { dataDir: 'ok' }
  }

  async close(): Promise<void> {
    this.ingest.closeAll()
    this.reads.close()
  }
}
