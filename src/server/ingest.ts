/**
 * Where synced runs are written: each run the server receives gets a real Board owner (the native
 * writer thread and owner lock) and a log writer in `{dataDir}/{project}/{folder}`, so the data
 * dir is a base dir like any other (docs/format.md, Run folder) and `amber open` reads it.
 *
 * Idempotency: the server knows, per (run, metric), how many points it has stored. A batch that
 * starts at or before that count has its already-stored prefix dropped (a resent batch adds
 * nothing); a batch that starts after it is a gap and is refused, with the counts, so the client
 * resumes from there. Batches of one run are applied one at a time, and a batch is acknowledged
 * only once the writer has stored it in SQLite, so an acknowledged point survives a server crash.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import binding from '../native'
import { ClosedError, InvalidArgumentError, NotFoundError, native, nativeAsync } from '../errors'
import { FLAG_NO_STEP_ROW, LogWriter, Subkind } from '../board/logWriter'
import { patchMetadata } from '../board/metadata'
import { RECORD_KINDS } from '../sync/protocol'
import type { DecodedMetric, MediaBatch, RecordBatch, RecordKind } from '../sync/protocol'
import { HttpError } from '../viewer/paths'
import { ROW_TABLE, toPayload } from './records'
import { countsObject, mirroredFields } from './run-metadata'
import { GapError } from './storage'
import type { Ingest, RunState } from './storage'
import type { Payload } from './records'

type Owner = InstanceType<typeof binding.BoardOwner>

/**
 * Points of different metrics that share a stamp (step, global step, timestamp) become one
 * record, as `Board.log()` wrote them: far fewer records for the writer to store. Only done when
 * it keeps every metric's points in their order; otherwise each point is a record of its own.
 * Written straight from the batch's typed arrays with a few typed arrays of bookkeeping (no JS
 * object per point), so a batch costs the server a small multiple of its own size.
 */
function writeScalars(writer: LogWriter, plan: Array<{ m: DecodedMetric; skip: number }>): void {
  // A name is defined (a NAME record) only when the batch brings new points of it.
  const ids = plan.map((p) => (p.skip < p.m.value.length ? writer.nameId(p.m.name) : 0))
  const values = new Float64Array(Math.max(1, plan.length))
  if (writeSameStamps(writer, plan, ids, values) || writeGroupedByKey(writer, plan, ids, values)) return
  const one = [0]
  for (let k = 0; k < plan.length; k++) {
    const { m, skip } = plan[k]
    one[0] = ids[k]
    for (let i = skip; i < m.value.length; i++) {
      values[0] = m.value[i]
      writer.scalarsById(one, values, 1, m.step[i], m.globalStep[i], m.timestamp[i], FLAG_NO_STEP_ROW)
    }
  }
}

/** The common case, metrics logged together: every metric has the same new stamps, in order. */
function writeSameStamps(writer: LogWriter, plan: Array<{ m: DecodedMetric; skip: number }>, ids: number[], values: Float64Array): boolean {
  if (plan.length < 2 || new Set(plan.map((p) => p.m.name)).size !== plan.length) return false
  const { m: first, skip: s0 } = plan[0]
  const n = first.value.length - s0
  for (const { m, skip } of plan) {
    if (m.value.length - skip !== n) return false
    for (let i = 0; i < n; i++) {
      if (m.step[skip + i] !== first.step[s0 + i] || m.globalStep[skip + i] !== first.globalStep[s0 + i] || m.timestamp[skip + i] !== first.timestamp[s0 + i]) return false
    }
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < plan.length; k++) values[k] = plan[k].m.value[plan[k].skip + i]
    writer.scalarsById(ids, values, plan.length, first.step[s0 + i], first.globalStep[s0 + i], first.timestamp[s0 + i], FLAG_NO_STEP_ROW)
  }
  return true
}

/**
 * Any other batch of several metrics: points grouped by stamp, groups in order of first
 * appearance, when no metric's points would change order; false (nothing written) otherwise.
 */
function writeGroupedByKey(writer: LogWriter, plan: Array<{ m: DecodedMetric; skip: number }>, ids: number[], values: Float64Array): boolean {
  if (plan.length < 2) return false
  let total = 0
  for (const { m, skip } of plan) total += m.value.length - skip
  /** Per point (in plan order): its group. Per group: its stamp point and the next group with the same step. */
  const groupOf = new Int32Array(total)
  const stampAt = new Int32Array(total)
  const stampOf = new Int32Array(total) // metric of the group's stamp point
  const nextSame = new Int32Array(total).fill(-1)
  const size = new Int32Array(total)
  const byStep = new Map<number, number>()
  let groups = 0
  let p = 0
  const seenNames = new Map<string, number>()
  for (let k = 0; k < plan.length; k++) {
    const { m, skip } = plan[k]
    let prev = seenNames.get(m.name) ?? -1
    for (let i = skip; i < m.value.length; i++, p++) {
      const step = m.step[i]
      const gs = m.globalStep[i]
      const ts = m.timestamp[i]
      let g = byStep.get(step) ?? -1
      let last = -1
      while (g >= 0) {
        const sm = plan[stampOf[g]].m
        if (sm.globalStep[stampAt[g]] === gs && sm.timestamp[stampAt[g]] === ts) break
        last = g
        g = nextSame[g]
      }
      if (g < 0) {
        g = groups++
        stampAt[g] = i
        stampOf[g] = k
        if (last < 0) byStep.set(step, g)
        else nextSame[last] = g
      } else if (g <= prev) {
        return false
      }
      groupOf[p] = g
      size[g]++
      prev = g
    }
    seenNames.set(m.name, prev)
  }
  // Entries of each group, in plan order: (metric, point) pairs laid out by group.
  const startOf = new Int32Array(groups + 1)
  for (let g = 0; g < groups; g++) startOf[g + 1] = startOf[g] + size[g]
  const fill = startOf.slice(0, groups)
  const entryMetric = new Int32Array(total)
  const entryPoint = new Int32Array(total)
  p = 0
  for (let k = 0; k < plan.length; k++) {
    const { m, skip } = plan[k]
    for (let i = skip; i < m.value.length; i++, p++) {
      const at = fill[groupOf[p]]++
      entryMetric[at] = k
      entryPoint[at] = i
    }
  }
  let groupIds = new Uint32Array(8)
  let groupValues = values.length >= 8 ? values : new Float64Array(8)
  for (let g = 0; g < groups; g++) {
    const n = startOf[g + 1] - startOf[g]
    if (n > groupIds.length) {
      groupIds = new Uint32Array(n)
      groupValues = new Float64Array(n)
    }
    for (let e = 0; e < n; e++) {
      const k = entryMetric[startOf[g] + e]
      groupIds[e] = ids[k]
      groupValues[e] = plan[k].m.value[entryPoint[startOf[g] + e]]
    }
    const sm = plan[stampOf[g]].m
    const at = stampAt[g]
    writer.scalarsById(groupIds, groupValues, n, sm.step[at], sm.globalStep[at], sm.timestamp[at], FLAG_NO_STEP_ROW)
  }
  return true
}

class IngestRun {
  private owner: Owner | null
  private writer: LogWriter
  private readonly counts = new Map<string, number>()
  private readonly mediaCounts = new Map<string, number>()
  /** Occurrences stored per `${kind}/${name}` of histograms, tables, tensors, kernel densities. */
  private readonly recordCounts = new Map<string, number>()
  private knownKeys: Set<string> | null = null
  private queue: Promise<unknown> = Promise.resolve()
  private busy = 0
  /** When the last operation on this run ended (for closing idle runs). */
  lastUsed = Date.now()

  /** JSON of the mirrored fields last written to the copy's metadata.json (see `mirror`). */
  private mirrored: string

  constructor(readonly runDir: string, metadata: Record<string, unknown>) {
    const fields = mirroredFields(metadata)
    this.owner = native(() => new binding.BoardOwner(runDir, JSON.stringify({ syncedAt: new Date().toISOString(), ...fields })))
    this.writer = new LogWriter(runDir, `server-${process.pid}-${randomBytes(4).toString('hex')}`)
    // create_run stamps its own createdAt on a new run; the copy keeps the client's.
    if (typeof metadata.createdAt === 'string') patchMetadata(runDir, { createdAt: metadata.createdAt })
    this.mirrored = JSON.stringify(fields)
  }

  /**
   * A later PUT of an open run: what the client's metadata says now (a config changed by
   * `board.updateConfig`, ...) replaces the copy's mirrored fields, if any changed.
   */
  mirror(metadata: Record<string, unknown>): void {
    const fields = mirroredFields(metadata)
    const json = JSON.stringify(fields)
    if (json === this.mirrored) return
    patchMetadata(this.runDir, { ...fields, syncedAt: new Date().toISOString() })
    this.mirrored = json
  }

  get open(): boolean {
    return this.owner !== null
  }

  /** Points stored for `metric`: read from the run once, then tracked here. */
  count(metric: string): number {
    let n = this.counts.get(metric)
    if (n !== undefined) return n
    const run = native(() => new binding.RunHandle(this.runDir))
    try {
      n = run.metrics().includes(metric) ? run.scalars(metric, null).value.length : 0
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e
      n = 0
    }
    this.counts.set(metric, n)
    return n
  }

  allCounts(): Record<string, number> {
    const out = new Map<string, number>()
    const run = native(() => new binding.RunHandle(this.runDir))
    for (const m of run.metrics() as string[]) out.set(m, this.count(m))
    for (const [m, n] of this.counts) out.set(m, n)
    return countsObject(out)
  }

  private handle(): InstanceType<typeof binding.RunHandle> {
    return native(() => new binding.RunHandle(this.runDir))
  }

  /** Occurrences stored for media `name`. */
  mediaCount(name: string): number {
    let n = this.mediaCounts.get(name)
    if (n === undefined) {
      const h = this.handle()
      n = native(() => h.names('media')).includes(name) ? (JSON.parse(native(() => h.rowsJson('media', name))) as unknown[]).length : 0
      this.mediaCounts.set(name, n)
    }
    return n
  }

  /** Media files (`<sha256>.<format>`) the server's copy holds, logged alone or in table cells. */
  keys(): Set<string> {
    if (!this.knownKeys) {
      const h = this.handle()
      this.knownKeys = new Set()
      for (const name of native(() => h.names('media'))) {
        for (const r of JSON.parse(native(() => h.rowsJson('media', name))) as Array<{ media_hash: string; format: string }>) this.knownKeys.add(`${r.media_hash}.${r.format}`)
      }
      for (const name of native(() => h.names('tables'))) {
        for (const r of JSON.parse(native(() => h.rowsJson('tables', name))) as Array<{ rows: string }>) {
          for (const row of JSON.parse(r.rows) as unknown[][]) {
            for (const c of row) {
              const m = c as { media_hash?: unknown; format?: unknown } | null
              if (typeof m?.media_hash === 'string' && typeof m.format === 'string') this.knownKeys.add(`${m.media_hash}.${m.format}`)
            }
          }
        }
      }
    }
    return this.knownKeys
  }

  /** Names stored of a record kind. */
  private recordNames(kind: RecordKind): string[] {
    const h = this.handle()
    return kind === 'histograms' ? native(() => h.histogramNames()) : native(() => h.names(ROW_TABLE[kind]))
  }

  /** Occurrences stored of `name` (of `kind`): read from the run once, then tracked here. */
  recordCount(kind: RecordKind, name: string): number {
    const k = `${kind}/${name}`
    let n = this.recordCounts.get(k)
    if (n === undefined) {
      const h = this.handle()
      if (!this.recordNames(kind).includes(name)) n = 0
      else if (kind === 'histograms') n = native(() => h.histograms(name)).length
      else n = (JSON.parse(native(() => h.rowsJson(ROW_TABLE[kind], name))) as unknown[]).length
      this.recordCounts.set(k, n)
    }
    return n
  }

  /** Per kind, per name: how many occurrences the server holds (what a client resumes from). */
  recordState(): Record<RecordKind, Record<string, number>> {
    const byKind = new Map<RecordKind, Map<string, number>>()
    for (const kind of RECORD_KINDS) {
      const counts = new Map<string, number>()
      for (const name of this.recordNames(kind)) counts.set(name, this.recordCount(kind, name))
      byKind.set(kind, counts)
    }
    for (const [k, n] of this.recordCounts) {
      const at = k.indexOf('/')
      byKind.get(k.slice(0, at) as RecordKind)!.set(k.slice(at + 1), n)
    }
    const out = {} as Record<RecordKind, Record<string, number>>
    for (const [kind, counts] of byKind) out[kind] = countsObject(counts)
    return out
  }

  /**
   * Store the new occurrences of a record batch, all checked before any is written (a refused
   * batch stores nothing); resolves with the counts once they are in SQLite.
   */
  async ingestRecords(batch: RecordBatch): Promise<{ stored: number; counts: Record<string, number> }> {
    if (!this.owner) throw new ClosedError(`run ${this.runDir} is closed on the server`)
    for (const [key, data] of batch.blobs) {
      if (createHash('sha256').update(data).digest('hex') !== key.slice(0, 64)) throw new InvalidArgumentError(`media file ${key}: content does not match its hash`)
    }
    const known = this.keys()
    const seen = new Map<string, number>()
    const plan: Array<{ name: string; items: Array<{ step: number; globalStep: number; timestamp: number; p: Payload }> }> = []
    const missing = new Set<string>()
    for (const g of batch.groups) {
      const have = seen.get(g.name) ?? this.recordCount(batch.kind, g.name)
      if (g.from > have) throw new GapError(`${batch.kind} ${g.name}`, have, g.from)
      const items = g.items.slice(Math.min(have - g.from, g.items.length)).map((it) => ({ step: it.step, globalStep: it.globalStep, timestamp: it.timestamp, p: toPayload(batch.kind, g.name, it) }))
      for (const { p } of items) for (const c of p.cells ?? []) if (!batch.blobs.has(c.key) && !known.has(c.key)) missing.add(c.key)
      seen.set(g.name, Math.max(have, g.from + g.items.length))
      plan.push({ name: g.name, items })
    }
    if (missing.size) throw new GapError(`${batch.kind} ${batch.groups[0].name}`, 0, 0, [...missing])
    const h = this.handle()
    let stored = 0
    for (const { name, items } of plan) {
      for (const { step, globalStep, timestamp, p } of items) {
        let { meta, data } = p
        if (p.cells) {
          // Table media cells travel to the writer as byte ranges of the record's data.
          const files = p.cells.map((c) => batch.blobs.get(c.key) ?? native(() => h.mediaBytes(c.key)))
          let offset = 0
          const cells = p.cells.map((c, i) => {
            const cell = { type: c.type, caption: c.caption, width: c.width, height: c.height, offset, length: files[i].length }
            offset += files[i].length
            return cell
          })
          meta = { ...meta, cells }
          data = Buffer.concat(files)
        }
        this.writer.payload(name, p.subkind, meta, data, step, globalStep, timestamp)
        stored++
      }
    }
    if (stored > 0) {
      const { seq, offset } = this.writer.position()
      await nativeAsync(() => this.owner!.flush(this.writer.id, seq, offset))
    }
    for (const [name, n] of seen) this.recordCounts.set(`${batch.kind}/${name}`, n)
    for (const { items } of plan) for (const { p } of items) for (const c of p.cells ?? []) known.add(c.key)
    return { stored, counts: countsObject(seen) }
  }

  private get outputFile(): string {
    return path.join(this.runDir, 'logs', 'output.log')
  }

  /** Bytes of captured output the server's copy holds (where the client resumes). */
  outputSize(): number {
    try {
      return fs.statSync(this.outputFile).size
    } catch {
      return 0
    }
  }

  /**
   * Append the part of `bytes` (the local file's bytes from offset `from`) the server lacks.
   * output.log only grows, so its size is the resume point; a crash mid-append leaves a prefix
   * that the next upload continues. Synced to disk before the reply.
   */
  appendOutput(from: number, bytes: Buffer): { stored: number; output: number } {
    if (!this.owner) throw new ClosedError(`run ${this.runDir} is closed on the server`)
    const have = this.outputSize()
    if (from > have) throw new GapError('output', have, from)
    const rest = bytes.subarray(Math.min(have - from, bytes.length))
    if (rest.length > 0) {
      const fd = fs.openSync(this.outputFile, 'a')
      try {
        fs.writeSync(fd, rest)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    }
    return { stored: rest.length, output: have + rest.length }
  }

  mediaState(): { media: Record<string, number>; keys: string[] } {
    const media = new Map<string, number>()
    for (const name of native(() => this.handle().names('media')) as string[]) media.set(name, this.mediaCount(name))
    for (const [m, n] of this.mediaCounts) media.set(m, n)
    return { media: countsObject(media), keys: [...this.keys()] }
  }

  /** Store the new media occurrences; a file comes from the batch or from the server's copy. */
  async ingestMedia(batch: MediaBatch): Promise<{ stored: number; media: Record<string, number> }> {
    if (!this.owner) throw new ClosedError(`run ${this.runDir} is closed on the server`)
    for (const [key, data] of batch.blobs) {
      if (createHash('sha256').update(data).digest('hex') !== key.slice(0, 64)) throw new InvalidArgumentError(`media file ${key}: content does not match its hash`)
    }
    const known = this.keys()
    const plan: Array<{ name: string; items: MediaBatch['media'][number]['items'] }> = []
    const seen = new Map<string, number>()
    const missing = new Set<string>()
    for (const m of batch.media) {
      const have = seen.get(m.name) ?? this.mediaCount(m.name)
      if (m.from > have) throw new GapError(m.name, have, m.from)
      const items = m.items.slice(Math.min(have - m.from, m.items.length))
      for (const it of items) if (!batch.blobs.has(it.key) && !known.has(it.key)) missing.add(it.key)
      seen.set(m.name, Math.max(have, m.from + m.items.length))
      plan.push({ name: m.name, items })
    }
    if (missing.size) throw new GapError(batch.media[0].name, 0, 0, [...missing])
    const h = this.handle()
    let stored = 0
    for (const { name, items } of plan) {
      for (const it of items) {
        const data = batch.blobs.get(it.key) ?? native(() => h.mediaBytes(it.key))
        this.writer.payload(name, Subkind.Media, { type: it.type, caption: it.caption, width: it.width ?? null, height: it.height ?? null }, data, it.step, it.globalStep, it.timestamp)
        stored++
      }
    }
    if (stored > 0) {
      const { seq, offset } = this.writer.position()
      await nativeAsync(() => this.owner!.flush(this.writer.id, seq, offset))
    }
    for (const [name, n] of seen) this.mediaCounts.set(name, n)
    for (const { items } of plan) for (const it of items) known.add(it.key)
    return { stored, media: countsObject([...seen.keys()].map((name) => [name, this.mediaCounts.get(name)!] as const)) }
  }

  /** Run `fn` after every earlier operation on this run (one batch at a time per run). */
  serial<T>(fn: () => Promise<T> | T): Promise<T> {
    this.busy++
    const next = this.queue.then(fn, fn).finally(() => {
      this.busy--
      this.lastUsed = Date.now()
    })
    this.queue = next.catch(() => undefined)
    return next
  }

  get idle(): boolean {
    return this.busy === 0
  }

  /** Store the new part of a batch; resolves with the counts once it is in SQLite. */
  async ingest(batch: DecodedMetric[]): Promise<{ stored: number; counts: Record<string, number> }> {
    if (!this.owner) throw new ClosedError(`run ${this.runDir} is closed on the server`)
    // Check the whole batch before writing any of it, so a refused batch stores nothing.
    const plan: Array<{ m: DecodedMetric; skip: number }> = []
    const seen = new Map<string, number>()
    for (const m of batch) {
      const have = seen.get(m.name) ?? this.count(m.name)
      if (m.from > have) throw new GapError(m.name, have, m.from)
      const skip = Math.min(have - m.from, m.value.length)
      seen.set(m.name, Math.max(have, m.from + m.value.length))
      plan.push({ m, skip })
    }
    let stored = 0
    for (const { m, skip } of plan) stored += m.value.length - skip
    writeScalars(this.writer, plan)
    if (stored > 0) {
      const { seq, offset } = this.writer.position()
      await nativeAsync(() => this.owner!.flush(this.writer.id, seq, offset))
    }
    for (const [name, n] of seen) this.counts.set(name, n)
    return { stored, counts: countsObject([...seen.keys()].map((name) => [name, this.counts.get(name)!] as const)) }
  }

  /** Store everything and record the client's final status. */
  finish(status: string, exitCode: number | null, finishedAt: string | null): void {
    if (!this.owner) return
    const owner = this.owner
    this.owner = null
    native(() => owner.finish(status, exitCode))
    // Everything is stored: the server writer's log segments are no longer needed.
    native(() => binding.boardReleaseWriter(this.runDir, this.writer.id))
    if (finishedAt) patchMetadata(this.runDir, { finishedAt })
  }
}

/**
 * The data dir backend's ingest: the runs the server is writing, opened on first use and kept
 * until finished, idle or shutdown; batches of one run are applied one at a time.
 */
export class IngestRuns implements Ingest {
  private readonly runs = new Map<string, IngestRun>()
  private readonly reaper: NodeJS.Timeout

  /**
   * Runs with no request for `idleCloseMs` are closed (their writer thread stopped), still
   * `running`: a client that comes back reopens its run; one that never does reads as killed.
   */
  constructor(readonly dataDir: string, idleCloseMs = 600_000) {
    this.reaper = setInterval(() => {
      const now = Date.now()
      for (const [k, r] of this.runs) {
        if (r.idle && now - r.lastUsed > idleCloseMs) {
          this.runs.delete(k)
          try {
            r.finish('running', null, null)
          } catch {
            // its logs stay on disk and are replayed when the run is opened again
          }
        }
      }
    }, Math.min(60_000, Math.max(10, idleCloseMs / 2)))
    this.reaper.unref()
  }

  private key(project: string, folder: string): string {
    return `${project}/${folder}`
  }

  /** Open (or create) a run for writing, mirroring the client's metadata; its counts. */
  async open(project: string, folder: string, metadata: Record<string, unknown>): Promise<RunState> {
    const k = this.key(project, folder)
    let r = this.runs.get(k)
    if (!r || !r.open) {
      r = new IngestRun(path.join(this.dataDir, project, folder), { ...metadata, project })
      this.runs.set(k, r)
    } else {
      r.mirror({ ...metadata, project })
    }
    const run = r
    return run.serial(() => ({ metrics: run.allCounts(), ...run.mediaState(), records: run.recordState(), output: run.outputSize() }))
  }

  /** The open run, or a 409: batches come after the PUT that opens the run. */
  private get(project: string, folder: string): IngestRun {
    const r = this.runs.get(this.key(project, folder))
    if (!r?.open) throw new HttpError(409, `run ${project}/${folder} is not open on the server: PUT it first`)
    return r
  }

  scalars(project: string, folder: string, batch: DecodedMetric[]): Promise<{ stored: number; counts: Record<string, number> }> {
    const run = this.get(project, folder)
    return run.serial(() => run.ingest(batch))
  }

  media(project: string, folder: string, batch: MediaBatch): Promise<{ stored: number; media: Record<string, number> }> {
    const run = this.get(project, folder)
    return run.serial(() => run.ingestMedia(batch))
  }

  records(project: string, folder: string, batch: RecordBatch): Promise<{ stored: number; counts: Record<string, number> }> {
    const run = this.get(project, folder)
    return run.serial(() => run.ingestRecords(batch))
  }

  output(project: string, folder: string, from: number, bytes: Buffer): Promise<{ stored: number; output: number }> {
    const run = this.get(project, folder)
    return run.serial(() => run.appendOutput(from, bytes))
  }

  async finish(project: string, folder: string, status: string, exitCode: number | null, finishedAt: string | null): Promise<void> {
    const k = this.key(project, folder)
    const run = this.get(project, folder)
    await run.serial(() => {
      run.finish(status, exitCode, finishedAt)
      if (this.runs.get(k) === run) this.runs.delete(k)
    })
  }

  /** Stop writing the run, if open (it stays `running`), once its batches under way are stored. */
  async close(project: string, folder: string): Promise<void> {
    const k = this.key(project, folder)
    const run = this.runs.get(k)
    if (!run) return
    await run.serial(() => {
      if (this.runs.get(k) === run) this.runs.delete(k)
      run.finish('running', null, null)
    })
  }

  /**
   * Server shutdown: store everything. The run stays `running` (its client may still be logging);
   * a later open replays nothing and the next sync carries on.
   */
  closeAll(): void {
    clearInterval(this.reaper)
    for (const r of this.runs.values()) {
      try {
        r.finish('running', null, null)
      } catch {
        // shutting down: the run's logs stay on disk and are replayed on the next open
      }
    }
    this.runs.clear()
  }
}
