/**
 * What the team server keeps its runs and tokens in, as one interface, so the routes, the auth,
 * the validation and the specs are the same whatever is behind it:
 * - ./file-storage: a data dir of run folders on one disk (`amber serve --data-dir`);
 * - ./pg: PostgreSQL for the index and an S3 bucket for the bulk (`amber serve --db --bucket`),
 *   shared by any number of stateless replicas.
 *
 * The ingest promises are the backend's to keep: a batch resolves only once it is durable; a
 * batch that overlaps what is stored stores only its new part; one that starts past the end is
 * a GapError (409 with the counts); a batch that fails a check stores nothing.
 */
import type { DecodedMetric, MediaBatch, RecordBatch, RecordKind } from '../sync/protocol'
import type { Awaitable, RunReads } from '../viewer/reads'
import type { TokenRecord } from './tokens'

export type { Awaitable } from '../viewer/reads'

/** A batch that does not continue where the server's copy ends (or lacks files it refers to). */
export class GapError extends Error {
  constructor(readonly metric: string, readonly have: number, readonly from: number, readonly missing: string[] = []) {
    super(missing.length ? `media ${metric}: the server lacks ${missing.length} file(s) the batch refers to` : `metric ${metric}: batch starts at point ${from} but the server has ${have}`)
  }
}

/** What a client resumes from: the server's counts when it opens (PUTs) a run. */
export interface RunState {
  /** Points stored per metric. */
  metrics: Record<string, number>
  /** Occurrences stored per media name. */
  media: Record<string, number>
  /** Media files (`<sha256>.<format>`) the server holds for the run. */
  keys: string[]
  /** Occurrences stored per kind, per name, of histograms, tables, tensors, kernel densities. */
  records: Record<RecordKind, Record<string, number>>
  /** Bytes of captured output stored. */
  output: number
}

export interface TokenOptions {
  name?: string
  projects: string[] | '*'
  readOnly?: boolean
}

/** The server's tokens, kept hashed. */
export interface Tokens {
  /** The returned `token` is the only time it exists in clear. */
  create(opts: TokenOptions): Awaitable<{ token: string; record: TokenRecord }>
  list(): Awaitable<TokenRecord[]>
  revoke(id: string): Awaitable<void>
  /** The record of a presented token, or null. */
  verify(token: string | null | undefined): Awaitable<TokenRecord | null>
  /** True while the token with this hash is not revoked (what ends a live stream opened with it). */
  isValid(hash: string): Awaitable<boolean>
}

/** The write side of the sync protocol (src/sync/protocol.ts), per run `project/folder`. */
export interface Ingest {
  /** Create the run or update its metadata (a later PUT carries `updateConfig` changes). */
  open(project: string, folder: string, metadata: Record<string, unknown>): Promise<RunState>
  scalars(project: string, folder: string, batch: DecodedMetric[]): Promise<{ stored: number; counts: Record<string, number> }>
  media(project: string, folder: string, batch: MediaBatch): Promise<{ stored: number; media: Record<string, number> }>
  records(project: string, folder: string, batch: RecordBatch): Promise<{ stored: number; counts: Record<string, number> }>
  /** Append the part of `bytes` (the client's output from byte `from` on) the server lacks. */
  output(project: string, folder: string, from: number, bytes: Buffer): Promise<{ stored: number; output: number }>
  finish(project: string, folder: string, status: string, exitCode: number | null, finishedAt: string | null): Promise<void>
}

export interface ServerStorage {
  /** What the server says it serves, e.g. the data dir or the database and bucket. */
  readonly description: string
  readonly tokens: Tokens
  readonly ingest: Ingest
  readonly reads: RunReads
  /**
   * Delete a run and everything stored for it (a 404 when there is none). A client still
   * logging to it would start it anew with its next PUT.
   */
  deleteRun(project: string, folder: string): Promise<void>
  /** Throws when a part the server needs is unreachable (`GET /healthz` answers 503 then). */
  check(): Promise<Record<string, unknown>>
  /**
   * Where a browser may fetch a media file itself (a presigned URL valid `expiresIn` seconds),
   * for backends that keep media in a bucket; `mediaOrigin()` is that URL's origin, which the
   * pages' Content-Security-Policy then allows.
   */
  mediaUrl?(project: string, folder: string, id: string, expiresIn: number): Promise<string>
  mediaOrigin?(): Promise<string>
  /** Wake `onChange` when another process stores into the run (where the backend can tell). */
  watch?(project: string, folder: string, onChange: () => void): () => void
  close(): Promise<void>
}
