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
import { InvalidArgumentError, NotFoundError } from '../errors'
import { nameProblem, showName } from '../board/names'
import { SyncClient, TransientError } from './client'
import type { RemoteOptions } from './client'
import { RECORD_KINDS, encodeBatch, encodeMediaBatch, encodeRecordBatch, slicePoints } from './protocol'
import type { MediaItem, MetricPoints, RecordItem, RecordKind } from './protocol'

export interface SyncOptions extends RemoteOptions {
  /** Project on the server (default: the run's own project). */
  project?: string
  /** Most points per request (default 50,000). */
  batchPoints?: number
  /** Keep retrying transient failures for this long (default 5 min; 0: fail at once). */
  retryForMs?: number
  /** Called after each stored batch. */
  onProgress?: (p: SyncProgress) => void
  /** Most bytes of media, record or output data per request (default 8 MiB; one bigger item still goes alone). */
  batchBytes?: number
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
  /** Points in the local run (of the metrics read so far in this pass). */
  localPoints: number
  /** Histogram, table, tensor and kernel density occurrences, and output bytes, stored so far by this call. */
  sentRecords: number
  sentOutputBytes: number
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
  /** Histogram, table, tensor and kernel density occurrences stored by this call. */
  sentRecords: number
  /** Bytes of captured output (logs/output.log) appended on the server by this call. */
  sentOutputBytes: number
  metrics: number
  /** The local status sent along (a finished run is marked finished on the server too). */
  status: string
  retries: number
  /**
   * Names the server refuses (docs/api.md, Board: metric names), so not sent: `"<kind> <name> <why>"`.
   * Only a run written by an older version can hold one (Board.log() refuses them).
   */
  skipped: string[]
}

type Tally = Pick<SyncResult, 'sentPoints' | 'batches' | 'sentMedia' | 'sentMediaBytes' | 'sentRecords' | 'sentOutputBytes'> & { skippedNames: Set<string> }

/** True when the server takes `name` (names.ts); otherwise it is noted in the result, not sent. */
function sendable(kind: string, name: string, tally: Tally): boolean {
  const problem = nameProblem(name)
  if (problem === null) return true
  tally.skippedNames.add(`${kind} ${showName(name)} ${problem}`)
  return false
}

/**
 * Per-name counts from a server reply (`{ name: count }`) as a Map. Own keys only, so a name
 * such as `__proto__` or `constructor` is a name like any other.
 */
function countsMap(v: unknown): Map<string, number> {
  const out = new Map<string, number>()
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return out
  for (const [k, n] of Object.entries(v)) if (typeof n === 'number') out.set(k, n)
  return out
}

/** `reply[key]` when it is the reply's own field (never something inherited). */
function field(reply: unknown, key: string): unknown {
  return reply !== null && typeof reply === 'object' && Object.hasOwn(reply, key) ? (reply as Record<string, unknown>)[key] : undefined
}

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
  const remote = countsMap(opened.body.metrics)
  const names = run.metrics().filter((name) => sendable('metric', name, tally))
  let localPoints = 0
  const done: Array<[string, string]> = []
  let pending: MetricPoints[] = []
  let pendingPoints = 0
  const progress = () => opts.onProgress?.({ remotePoints: [...remote.values()].reduce((a, b) => a + b, 0), localPoints, sentRecords: tally.sentRecords, sentOutputBytes: tally.sentOutputBytes })
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
    for (const [m, n] of countsMap(reply.body.counts)) remote.set(m, n)
    pending = []
    pendingPoints = 0
    progress()
  }
  // Metrics logged together (same remote count, same length) are sent in lockstep, the same
  // index range of each in one batch, so the server stores each step's values as one record.
  // A group holds at most GROUP_POINTS points in memory.
  let group: Array<{ name: string; s: ScalarSeries; base: number; fp: string }> = []
  let groupAt = 0
  let groupN = 0
  const flushGroup = async () => {
    if (group.length === 0) return
    const chunk = Math.max(1, Math.floor(batchPoints / group.length))
    for (let at = groupAt; at < groupN; at += chunk) {
      const end = Math.min(groupN, at + chunk)
      // Never over batchPoints (the server's body limit depends on it).
      if (pendingPoints > 0 && pendingPoints + (end - at) * group.length > batchPoints) await sendPending()
      for (const g of group) pending.push(slicePoints(g.name, g.s, at, end, g.base))
      pendingPoints += (end - at) * group.length
      if (pendingPoints >= batchPoints) await sendPending()
    }
    for (const g of group) if (g.fp) done.push([g.name, g.fp])
    group = []
  }
  // Each metric's stored count (from the run's summaries, no point read) is its fingerprint.
  const counts = new Map(run.summaries().map((x) => [x.name, x.count]))
  for (const name of names) {
    if (opts.signal?.aborted) break
    const fp = opts.seen ? String(counts.get(name) ?? 0) : ''
    if (fp && opts.seen!.get(name) === fp && remote.has(name)) continue
    const at = remote.get(name) ?? 0
    // Only the points the server lacks are read (plus the one before, which tells a run that
    // has fewer points than the server apart from one that has exactly as many).
    const base = Math.max(0, at - 1)
    let s: ScalarSeries
    try {
      s = run.scalars(name, { from: base })
    } catch (e) {
      // A live run lists a metric file the writer is still creating (no tables yet): take it
      // on the next pass. A finished run has no such excuse.
      if (metadata.status === 'running') continue
      throw e
    }
    const n = base + s.value.length
    localPoints += n
    if (at > n) throw new InvalidArgumentError(`sync ${project}/${folder}: the server has ${at} points of ${name}, the local run fewer (another run with the same folder name?)`)
    if (at === n) {
      if (fp) done.push([name, fp])
      continue
    }
    const fits = group.length < batchPoints && (group.length + 1) * (n - at) <= GROUP_POINTS
    if (group.length > 0 && (at !== groupAt || n !== groupN || !fits)) await flushGroup()
    group.push({ name, s, base, fp })
    groupAt = at
    groupN = n
  }
  await flushGroup()
  await sendPending()
  for (const [name, fp] of done) opts.seen!.set(name, fp)
  // Media, histograms, tables, tensors and kernel densities: when the run stored nothing since
  // the last complete pass, skip them.
  const heavyFp = opts.seen ? run.fingerprint() : ''
  if (!heavyFp || opts.seen!.get(HEAVY) !== heavyFp) {
    await syncMedia(client, run, route, opened.body, opts, tally)
    for (const kind of RECORD_KINDS) await syncRecords(client, run, route, kind, opened.body, opts, tally, progress)
    if (heavyFp && !opts.signal?.aborted) opts.seen!.set(HEAVY, heavyFp)
  }
  await syncOutput(client, run.outputFile, route, Number(opened.body.output ?? 0), opts, tally, progress)
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

/** Default largest size of media, record or output bytes in one request (one bigger item still goes alone). */
const BATCH_BYTES = 8 << 20

/** Media occurrences past the server's counts; each file travels only if the server lacks its key. */
async function syncMedia(client: SyncClient, run: Run, route: string, state: Record<string, unknown>, opts: SyncOptions, tally: Tally): Promise<void> {
  const remote = countsMap(state.media)
  const keys = new Set((state.keys ?? []) as string[])
  for (const name of run.mediaNames()) {
    if (!sendable('media', name, tally)) continue
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
          if (items.length > 0 && bytes + e.size > (opts.batchBytes ?? BATCH_BYTES)) break
          blobs.set(e.key, e.data)
          bytes += e.size
        }
        items.push({ step: e.step, globalStep: e.globalStep, timestamp: e.timestamp, key: e.key, type: e.type, caption: e.caption, width: e.width, height: e.height })
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

/** The `seen` key of everything but scalars and output (see heavyFingerprint). */
const HEAVY = '\0heavy'

/** The bytes of a .npy file after its header. */
function npyBody(npy: Buffer): Buffer {
  return npy.subarray(10 + npy.readUInt16LE(8))
}

function f64Bytes(...parts: ArrayLike<number>[]): Uint8Array {
  const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  return new Uint8Array(all.buffer)
}

/**
 * The local occurrences of one record kind and name as items to send, read lazily (a tensor's
 * bytes are read only when its item is built). Table media cells become `{ $media: i }` with
 * their files listed in `cells`.
 */
function recordItems(run: Run, kind: RecordKind, name: string): { count: number; item: (i: number) => { it: RecordItem; keys: string[] } } {
  const stamp = (e: { step: number; globalStep: number; timestamp: number }) => ({ step: e.step, globalStep: e.globalStep, timestamp: e.timestamp })
  switch (kind) {
    case 'histograms': {
      let hs: ReturnType<Run['histograms']> = []
      try {
        hs = run.histograms(name)
      } catch (e) {
        // A live run's histogram index can name a histogram whose first rows are not committed
        // yet (another file): nothing to send for it in this pass.
        if (!(e instanceof NotFoundError)) throw e
      }
      return {
        count: hs.length,
        item: (i) => {
          const e = hs[i]
          return { it: { ...stamp(e), meta: { nan: e.nan, posinf: e.posinf, neginf: e.neginf }, data: f64Bytes(e.edges, e.counts) }, keys: [] }
        },
      }
    }
    case 'tables': {
      const ts = run.tables(name)
      return {
        count: ts.length,
        item: (i) => {
          const e = ts[i]
          const cells: Array<Record<string, unknown>> = []
          const rows = e.rows.map((r) => r.map((c) => {
            const m = c as { media_hash?: unknown; format?: unknown; type?: unknown; caption?: unknown; width?: unknown; height?: unknown } | null
            if (typeof m?.media_hash !== 'string' || typeof m.format !== 'string') return c
            cells.push({ key: `${m.media_hash}.${m.format}`, type: m.type, caption: m.caption ?? null, width: m.width ?? null, height: m.height ?? null })
            return { $media: cells.length - 1 }
          }))
          return { it: { ...stamp(e), meta: { columns: e.columns, columnTypes: e.columnTypes, rows, cells }, data: new Uint8Array(0) }, keys: cells.map((c) => c.key as string) }
        },
      }
    }
    case 'tensors': {
      const ts = run.tensors(name)
      return {
        count: ts.length,
        item: (i) => {
          const e = ts[i]
          return { it: { ...stamp(e), meta: { dtype: e.dtype, shape: e.shape, metadata: e.metadata }, data: npyBody(e.npy) }, keys: [] }
        },
      }
    }
    case 'kernelDensity': {
      const ks = run.kernelDensity(name)
      return {
        count: ks.length,
        item: (i) => {
          const e = ks[i]
          return { it: { ...stamp(e), meta: { points: e.points, bandwidth: e.bandwidth, count: e.count }, data: f64Bytes(e.grid, e.density) }, keys: [] }
        },
      }
    }
  }
}

function recordNames(run: Run, kind: RecordKind): string[] {
  switch (kind) {
    case 'histograms':
      return run.histogramNames()
    case 'tables':
      return run.tableNames()
    case 'tensors':
      return run.tensorNames()
    case 'kernelDensity':
      return run.kernelDensityNames()
  }
}

/** Occurrences of `kind` past the server's counts; media files of table cells only if the server lacks them. */
async function syncRecords(client: SyncClient, run: Run, route: string, kind: RecordKind, state: Record<string, unknown>, opts: SyncOptions, tally: Tally, progress: () => void): Promise<void> {
  const remote = countsMap(field(state.records, kind))
  const keys = new Set((state.keys ?? []) as string[])
  for (const name of recordNames(run, kind)) {
    if (!sendable(kind, name, tally)) continue
    const local = recordItems(run, kind, name)
    let at = remote.get(name) ?? 0
    if (at > local.count) throw new InvalidArgumentError(`sync ${route}: the server has ${at} ${kind} ${name}, the local run only ${local.count}`)
    while (at < local.count && !opts.signal?.aborted) {
      const from = at
      const items: RecordItem[] = []
      const blobs = new Map<string, Buffer>()
      let bytes = 0
      while (at < local.count && items.length < 1000) {
        const { it, keys: cellKeys } = local.item(at)
        const fresh = cellKeys.filter((k) => !keys.has(k) && !blobs.has(k))
        const files = fresh.map((k) => [k, run.mediaBytes(k)] as const)
        const size = it.data.byteLength + files.reduce((a, [, d]) => a + d.length, 0)
        if (items.length > 0 && bytes + size > (opts.batchBytes ?? BATCH_BYTES)) break
        for (const [k, d] of files) blobs.set(k, d)
        items.push(it)
        bytes += size
        at++
      }
      const reply = await client.request('POST', `${route}/records`, encodeRecordBatch({ kind, groups: [{ name, from, items }], blobs }))
      if (reply.status === 409) throw new TransientError(`sync ${kind} ${name}: ${String(reply.body.error)}`)
      tally.sentRecords += Number(reply.body.stored ?? 0)
      for (const k of blobs.keys()) keys.add(k)
      progress()
    }
  }
}

/**
 * logs/output.log only grows: send the bytes past the server's size. A piece ends on a UTF-8
 * character boundary, so the server's file is valid text between uploads.
 */
async function syncOutput(client: SyncClient, file: string, route: string, remoteSize: number, opts: SyncOptions, tally: Tally, progress: () => void): Promise<void> {
  let size: number
  try {
    size = fs.statSync(file).size
  } catch {
    return
  }
  if (remoteSize > size) throw new InvalidArgumentError(`sync ${route}: the server has ${remoteSize} bytes of output, the local run only ${size}`)
  if (remoteSize === size) return
  const fd = fs.openSync(file, 'r')
  try {
    let at = remoteSize
    while (at < size && !opts.signal?.aborted) {
      const buf = Buffer.alloc(Math.min(opts.batchBytes ?? BATCH_BYTES, size - at))
      let n = fs.readSync(fd, buf, 0, buf.length, at)
      if (at + n < size) while (n > 0 && (buf[n] & 0xc0) === 0x80) n--
      if (n === 0) break
      const reply = await client.request('POST', `${route}/output?from=${at}`, buf.subarray(0, n))
      if (reply.status === 409) throw new TransientError(`sync output: ${String(reply.body.error)}`)
      tally.sentOutputBytes += Number(reply.body.stored ?? 0)
      at = Number(reply.body.output ?? at + n)
      progress()
    }
  } finally {
    fs.closeSync(fd)
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
    const tally: Tally = { sentPoints: 0, batches: 0, sentMedia: 0, sentMediaBytes: 0, sentRecords: 0, sentOutputBytes: 0, skippedNames: new Set() }
    const progress = () => tally.batches + tally.sentMedia + tally.sentRecords + tally.sentOutputBytes
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      const before = progress()
      try {
        const r = await syncPass(client, run, project, folder, batchPoints, opts, tally)
        const { skippedNames, ...sent } = tally
        return { ...r, ...sent, retries, skipped: [...skippedNames] }
      } catch (e) {
        if (!(e instanceof TransientError) || Date.now() + delay > deadline || opts.signal?.aborted) throw e
        retries++
        // A pass that stored something before it failed (a busy server's 503) starts the backoff
        // over: only failures in a row wait longer and longer.
        if (progress() > before) delay = 100
        await sleep(delay, opts.signal)
      }
    }
  } finally {
    run.close()
  }
}
