/**
 * Uploading a run to a team server: read what the run's writer already committed (the Board
 * read side), ask the server how many points of each metric it has, send the rest in batches.
 * The resume state lives on the server (its per-metric counts), so an interrupted sync, a
 * restarted client or a second machine all continue exactly where the server's copy ends, and a
 * batch sent twice is stored once. Used by `amber sync` and by `Board({ remote })` in the background.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { openRun } from '../board/reader'
import type { Run, ScalarSeries } from '../board/reader'
import { InvalidArgumentError } from '../errors'
import { SyncClient, TransientError } from './client'
import type { RemoteOptions } from './client'
import { encodeBatch, encodeMediaBatch, slicePoints } from './protocol'
import type { MediaItem, MetricPoints } from './protocol'

export interface SyncOptions extends RemoteOptions {
  /** Project on the server (default: the run's own project). */
  project?: string
  /** Most points per request (default 50,000). */
  batchPoints?: number
  /** Keep retrying transient failures for this long (default 5 min; 0: fail at once). */
  retryForMs?: number
  /** Called after each stored batch. */
  onProgress?: (p: SyncProgress) => void
  /** Stop between batches when this says so (background sync shutting down). */
  signal?: AbortSignal
  /**
   * Kept across calls by the background sync: per metric, the fingerprint (size and mtime) of
   * its files when it was last fully sent, so an unchanged metric is not read again.
   */
  seen?: Map<string, string>
}

export interface SyncProgress {
  /** Points the server has stored (all metrics). */
  remotePoints: number
  /** Points in the local run. */
  localPoints: number
}

export interface SyncResult {
  /** `project/folder` on the server. */
  run: string
  /** Points sent and stored by this call (a resumed sync counts only the rest). */
  sentPoints: number
  batches: number
  /** Media occurrences stored by this call, and the bytes of media files uploaded for them. */
  sentMedia: number
  sentMediaBytes: number
  metrics: number
  /** The local status sent along (a finished run is marked finished on the server too). */
  status: string
  retries: number
}

/** Size and mtime of a metric's SQLite file and its WAL: changes whenever points are stored. */
function fingerprint(runDir: string, metric: string): string {
  const file = path.join(runDir, 'data', 'metrics', `${metric.split('/').join('__')}.db`)
  const st = (f: string) => {
    try {
      const x = fs.statSync(f)
      return `${x.size}:${x.mtimeMs}`
    } catch {
      return '-'
    }
  }
  return `${st(file)}|${st(`${file}-wal`)}`
}

type Tally = Pick<SyncResult, 'sentPoints' | 'batches' | 'sentMedia' | 'sentMediaBytes'>

/** Wait `ms`, or less if `signal` aborts (the listener is removed either way). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((done) => {
    const finish = () => {
      clearTimeout(t)
      signal?.removeEventListener('abort', finish)
      done()
    }
    const t = setTimeout(finish, ms)
    signal?.addEventListener('abort', finish, { once: true })
  })
}

/** One pass: bring the server's copy up to what the run holds now. Throws on any failure. */
async function syncPass(client: SyncClient, run: Run, project: string, folder: string, batchPoints: number, opts: SyncOptions, tally: Tally): Promise<Pick<SyncResult, 'run' | 'metrics' | 'status'>> {
  const metadata = run.metadata
  const route = `api/sync/runs/${encodeURIComponent(project)}/${encodeURIComponent(folder)}`
  const opened = await client.request('PUT', route, { metadata: { ...metadata, project } })
  const remote = new Map(Object.entries((opened.body.metrics ?? {}) as Record<string, number>))
  const names = run.metrics()
  let localPoints = 0
  const done: Array<[string, string]> = []
  let pending: MetricPoints[] = []
  let pendingPoints = 0
  const sendPending = async () => {
    if (pending.length === 0) return
    const reply = await client.request('POST', `${route}/scalars`, encodeBatch(pending))
    if (reply.status === 409) {
      // The server's copy ends elsewhere than we thought (another client, a lost reply):
      // start the pass again from its counts.
      throw new TransientError(`sync ${project}/${folder}: ${String(reply.body.error)}`)
    }
    tally.sentPoints += Number(reply.body.stored ?? 0)
    tally.batches++
    for (const [m, n] of Object.entries((reply.body.counts ?? {}) as Record<string, number>)) remote.set(m, n)
    pending = []
    pendingPoints = 0
    if (opts.onProgress) opts.onProgress({ remotePoints: [...remote.values()].reduce((a, b) => a + b, 0), localPoints })
  }
  // Metrics logged together (same remote count, same length) are sent in lockstep, the same
  // index range of each in one batch, so the server stores each step's values as one record.
  // A group holds at most GROUP_POINTS points in memory.
  let group: Array<{ name: string; s: ScalarSeries; fp: string }> = []
  let groupAt = 0
  let groupN = 0
  const flushGroup = async () => {
    if (group.length === 0) return
    const chunk = Math.max(1, Math.floor(batchPoints / group.length))
    for (let at = groupAt; at < groupN; at += chunk) {
      const end = Math.min(groupN, at + chunk)
      // Never over batchPoints (the server's body limit depends on it).
      if (pendingPoints > 0 && pendingPoints + (end - at) * group.length > batchPoints) await sendPending()
      for (const g of group) pending.push(slicePoints(g.name, g.s, at, end))
      pendingPoints += (end - at) * group.length
      if (pendingPoints >= batchPoints) await sendPending()
    }
    for (const g of group) if (g.fp) done.push([g.name, g.fp])
    group = []
  }
  for (const name of names) {
    if (opts.signal?.aborted) break
    const fp = opts.seen ? fingerprint(run.runDir, name) : ''
    if (fp && opts.seen!.get(name) === fp && remote.has(name)) continue
    let s: ScalarSeries
    try {
      s = run.scalars(name)
    } catch (e) {
      // A live run lists a metric file the writer is still creating (no tables yet): take it
      // on the next pass. A finished run has no such excuse.
      if (metadata.status === 'running') continue
      throw e
    }
    const n = s.value.length
    localPoints += n
    const at = remote.get(name) ?? 0
    if (at > n) throw new InvalidArgumentError(`sync ${project}/${folder}: the server has ${at} points of ${name}, the local run only ${n} (another run with the same folder name?)`)
    if (at === n) {
      if (fp) done.push([name, fp])
      continue
    }
    const fits = group.length < batchPoints && (group.length + 1) * (n - at) <= GROUP_POINTS
    if (group.length > 0 && (at !== groupAt || n !== groupN || !fits)) await flushGroup()
    group.push({ name, s, fp })
    groupAt = at
    groupN = n
  }
  await flushGroup()
  await sendPending()
  for (const [name, fp] of done) opts.seen!.set(name, fp)
  await syncMedia(client, run, route, opened.body, opts, tally)
  const status = String(metadata.status)
  if (status !== 'running' && !opts.signal?.aborted) {
    const fin = await client.request('POST', `${route}/finish`, { status, exitCode: metadata.exitCode ?? null, finishedAt: metadata.finishedAt ?? null })
    // 409: the server closed the run in between (idle); the next pass reopens and finishes it.
    if (fin.status === 409) throw new TransientError(`sync ${project}/${folder}: ${String(fin.body.error)}`)
  }
  return { run: `${project}/${folder}`, metrics: names.length, status }
}

/** Most points of one lockstep group held in memory during a pass. */
const GROUP_POINTS = 4_000_000

/** Largest size of new media files in one request (one bigger file still goes alone). */
const MEDIA_BATCH_BYTES = 8 << 20

/** Media occurrences past the server's counts; each file travels only if the server lacks its key. */
async function syncMedia(client: SyncClient, run: Run, route: string, state: Record<string, unknown>, opts: SyncOptions, tally: Tally): Promise<void> {
  const remote = new Map(Object.entries((state.media ?? {}) as Record<string, number>))
  const keys = new Set((state.keys ?? []) as string[])
  for (const name of run.mediaNames()) {
    const entries = run.media(name)
    let at = remote.get(name) ?? 0
    while (at < entries.length && !opts.signal?.aborted) {
      const from = at
      const items: MediaItem[] = []
      const blobs = new Map<string, Buffer>()
      let bytes = 0
      while (at < entries.length && items.length < 1000) {
        const e = entries[at]
        if (!keys.has(e.key) && !blobs.has(e.key)) {
          if (items.length > 0 && bytes + e.size > MEDIA_BATCH_BYTES) break
          blobs.set(e.key, e.data)
          bytes += e.size
        }
        items.push({ step: e.step, globalStep: e.globalStep, timestamp: e.timestamp, key: e.key, type: e.type, caption: e.caption })
        at++
      }
      const reply = await client.request('POST', `${route}/media`, encodeMediaBatch({ media: [{ name, from, items }], blobs }))
      if (reply.status === 409) throw new TransientError(`sync media ${name}: ${String(reply.body.error)}`)
      tally.sentMedia += Number(reply.body.stored ?? 0)
      tally.sentMediaBytes += bytes
      for (const k of blobs.keys()) keys.add(k)
    }
  }
}

/**
 * Sync `runDir` to the server until the server holds everything the run held when the pass
 * started (and its final status, if it has one). Transient failures (server down, connection
 * cut, 5xx) are retried with backoff for `retryForMs`; each retry resumes from the server's counts.
 */
export async function syncRun(runDir: string, opts: SyncOptions): Promise<SyncResult> {
  const client = new SyncClient(opts)
  const batchPoints = opts.batchPoints ?? 50_000
  if (!Number.isInteger(batchPoints) || batchPoints < 1) throw new InvalidArgumentError(`batchPoints must be a positive integer (got ${batchPoints})`)
  const run = openRun(runDir)
  try {
    const project = opts.project ?? String(run.metadata.project ?? 'default')
    const folder = path.basename(run.runDir)
    const deadline = Date.now() + (opts.retryForMs ?? 300_000)
    let retries = 0
    const tally: Tally = { sentPoints: 0, batches: 0, sentMedia: 0, sentMediaBytes: 0 }
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const r = await syncPass(client, run, project, folder, batchPoints, opts, tally)
        return { ...r, ...tally, retries }
      } catch (e) {
        if (!(e instanceof TransientError) || Date.now() + delay > deadline || opts.signal?.aborted) throw e
        retries++
        await sleep(delay, opts.signal)
      }
    }
  } finally {
    run.close()
  }
}
