/**
 * The read side of runs (docs/api.md, "Reading runs"), for the viewer, scripts and notebooks.
 * Works while a run is being written (SQLite WAL readers); opening a run whose owner died
 * replays its logs first and marks it killed.
 */
import * as path from 'node:path'
import binding from '../native'
import { ClosedError, InvalidArgumentError, native } from '../errors'

export type RunStatus = 'running' | 'finished' | 'crashed' | 'killed'

export interface RunMetadata {
  name: string
  project: string
  runId: string
  annotation: string | null
  config: Record<string, unknown>
  createdAt: string
  finishedAt: string | null
  status: RunStatus
  exitCode: number | null
  host: string
  pid: number
  argv: string[]
  version: string
  /** 2 for runs written by this version (absent: a 0.1 folder, layout 1). */
  layoutVersion?: number
  /** Records the writer could not store and set aside in the run (absent: none). */
  writerErrors?: number
  [k: string]: unknown
}

export interface RunInfo {
  runDir: string
  project: string
  runId: string
  name: string
  status: RunStatus
  createdAt: string
  metadata: RunMetadata
}

export interface ScalarSeries {
  step: Float64Array
  globalStep: Float64Array
  timestamp: Float64Array
  value: Float64Array
}

export interface HistogramEntry {
  step: number
  globalStep: number
  timestamp: number
  edges: Float64Array
  counts: Float64Array
  nan: number
  posinf: number
  neginf: number
}

interface Stamped {
  step: number
  globalStep: number
  timestamp: number
}

export interface MediaEntry extends Stamped {
  name: string
  hash: string
  key: string
  format: string
  type: 'image' | 'video' | 'audio'
  caption: string | null
  width: number | null
  height: number | null
  size: number
  /** The stored file bytes (read on access). */
  readonly data: Buffer
}

export interface TableEntry extends Stamped {
  columns: string[]
  columnTypes: string[]
  /** Rows as arrays; media cells are `{ media_hash, format, type, caption, width, height }`. */
  rows: unknown[][]
}

export interface TensorEntry extends Stamped {
  shape: number[]
  dtype: string
  metadata: unknown
  /** The .npy file bytes. */
  readonly npy: Buffer
  /** The elements as a typed array of the stored dtype. */
  readonly data: ArrayBufferView
}

export interface KernelDensityEntry extends Stamped {
  points: number
  bandwidth: number
  count: number
  readonly grid: Float64Array
  readonly density: Float64Array
}

/** Runs under `baseDir`, oldest first. */
export function listRuns(baseDir: string, opts: { project?: string } = {}): RunInfo[] {
  if (typeof baseDir !== 'string') throw new InvalidArgumentError('listRuns(baseDir): baseDir must be a string')
  const raw = JSON.parse(native(() => binding.boardListRuns(path.resolve(baseDir), opts.project ?? null))) as Array<{ runDir: string; project: string; metadata: RunMetadata }>
  return raw.map((r) => ({
    runDir: r.runDir,
    project: r.project,
    runId: r.metadata.runId ?? path.basename(r.runDir),
    name: r.metadata.name ?? path.basename(r.runDir),
    status: r.metadata.status,
    createdAt: r.metadata.createdAt,
    metadata: r.metadata,
  }))
}

/** One metric's summary (`Run.summaries()`); null where the metric has no point yet. */
export interface MetricSummary {
  name: string
  count: number
  lastStep: number | null
  lastGlobalStep: number | null
  lastTimestamp: number | null
  /** NaN when the last value logged was NaN. */
  lastValue: number | null
  /** Over the values that are not NaN (±Infinity included). */
  min: number | null
  max: number | null
}

/**
 * Convert a run folder written by 0.1 (a file per metric) to the current layout, in place and
 * crash-safely. Returns false when there was nothing to convert. Refused while a live process
 * writes the run.
 */
export function upgradeRun(runDir: string): boolean {
  if (typeof runDir !== 'string' || runDir === '') throw new InvalidArgumentError('upgradeRun(runDir): runDir must be a path')
  return native(() => binding.boardUpgradeRun(path.resolve(runDir)))
}

export function openRun(runDir: string): Run {
  return new Run(runDir)
}

/** `fn` with the run at `runDir` open, closed again after (also when `fn` throws). */
export function withRun<T>(runDir: string, fn: (run: Run) => T): T {
  const run = openRun(runDir)
  try {
    return fn(run)
  } finally {
    run.close()
  }
}

const NPY_TYPES: Record<string, new (b: ArrayBuffer, o: number, n: number) => ArrayBufferView> = {
  '<f4': Float32Array, '<f8': Float64Array, '|i1': Int8Array, '|u1': Uint8Array, '<i2': Int16Array,
  '<u2': Uint16Array, '<i4': Int32Array, '<u4': Uint32Array, '<i8': BigInt64Array, '<u8': BigUint64Array,
}

/** Elements of a v1 .npy buffer (copied so the typed array is aligned). */
function npyData(npy: Buffer, dtype: string): ArrayBufferView {
  const headerLen = npy.readUInt16LE(8)
  const body = npy.subarray(10 + headerLen)
  const copy = new Uint8Array(body.byteLength)
  copy.set(body)
  const C = NPY_TYPES[dtype] ?? Uint8Array
  const size = (C as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
  return new C(copy.buffer, 0, copy.byteLength / size)
}

export class Run {
  readonly runDir: string
  /** @internal */
  private handle: InstanceType<typeof binding.RunHandle> | null

  constructor(runDir: string) {
    if (typeof runDir !== 'string' || runDir === '') throw new InvalidArgumentError('openRun(runDir): runDir must be a path')
    this.runDir = path.resolve(runDir)
    this.handle = native(() => new binding.RunHandle(this.runDir))
  }

  /** @internal */
  private h(): InstanceType<typeof binding.RunHandle> {
    if (!this.handle) throw new ClosedError(`run ${this.runDir} is closed`)
    return this.handle
  }

  /** metadata.json as it is now (status changes while a run is live). */
  get metadata(): RunMetadata {
    return JSON.parse(native(() => this.h().metadataJson())) as RunMetadata
  }

  /** Scalar metric names, in byte order of their UTF-8. */
  metrics(): string[] {
    return native(() => this.h().metrics())
  }

  /**
   * Every metric's summary, kept by the writer as it stores points (no point is read): how many
   * points, the last one, and the smallest and largest value that is not NaN.
   */
  summaries(): MetricSummary[] {
    return native(() => this.h().summaries()).map((s) => ({
      name: s.name,
      count: s.count,
      lastStep: s.lastStep ?? null,
      lastGlobalStep: s.lastGlobalStep ?? null,
      lastTimestamp: s.lastTimestamp ?? null,
      lastValue: s.lastValue ?? null,
      min: s.min ?? null,
      max: s.max ?? null,
    }))
  }

  /** A token that changes whenever something is stored in the run (compare it to skip re-reading). */
  fingerprint(): string {
    return native(() => this.h().fingerprint())
  }

  /** The run's captured output (`logs/output.log`), which only grows. */
  get outputFile(): string {
    return native(() => this.h().outputFile())
  }

  /** 2 for runs of this version; 1 for a folder written by 0.1, read-only until `amber upgrade`. */
  get layoutVersion(): number {
    return native(() => this.h().layoutVersion())
  }

  /**
   * Every point of a metric, or a min/max-preserving downsample to at most `maxPoints`.
   * `since` (a step): only the points logged after it, i.e. the tail whose steps are all greater
   * (what a live chart appends). `from` (an index): only the points from that index on (what a
   * sync sends). Either reads only that tail from disk.
   */
  scalars(name: string, opts: { maxPoints?: number; since?: number; from?: number } = {}): ScalarSeries {
    const { maxPoints: m, since, from } = opts
    if (m !== undefined && !(Number.isInteger(m) && m >= 2)) throw new InvalidArgumentError(`scalars(${name}): maxPoints must be an integer >= 2`)
    if (since !== undefined && !Number.isFinite(since)) throw new InvalidArgumentError(`scalars(${name}): since must be a step number (got ${since})`)
    if (from !== undefined && !(Number.isSafeInteger(from) && from >= 0)) throw new InvalidArgumentError(`scalars(${name}): from must be an index >= 0 (got ${from})`)
    if (since !== undefined && from !== undefined) throw new InvalidArgumentError(`scalars(${name}): give since or from, not both`)
    const s = native(() => this.h().scalars(name, m ?? null, since === undefined ? null : Math.floor(since), from ?? null))
    return { step: s.step, globalStep: s.globalStep, timestamp: s.timestamp, value: s.value }
  }

  histogramNames(): string[] {
    return native(() => this.h().histogramNames())
  }

  histograms(name: string): HistogramEntry[] {
    return native(() => this.h().histograms(name)).map((e) => ({
      step: e.step, globalStep: e.globalStep, timestamp: e.timestamp, edges: e.edges, counts: e.counts,
      nan: e.nan, posinf: e.posinf, neginf: e.neginf,
    }))
  }

  /** @internal */
  private rows(table: string, name: string): Array<Record<string, unknown>> {
    return JSON.parse(native(() => this.h().rowsJson(table, name))) as Array<Record<string, unknown>>
  }

  mediaNames(): string[] {
    return native(() => this.h().names('media'))
  }
  tableNames(): string[] {
    return native(() => this.h().names('tables'))
  }
  tensorNames(): string[] {
    return native(() => this.h().names('tensors'))
  }
  kernelDensityNames(): string[] {
    return native(() => this.h().names('kernel_density'))
  }

  /** Bytes of a stored media file by key (`<sha256>.<format>`). */
  mediaBytes(key: string): Buffer {
    return native(() => this.h().mediaBytes(key))
  }

  /** Every logged occurrence of media `name`, in step order. */
  media(name: string): MediaEntry[] {
    return this.rows('media', name).map((r) => {
      const key = `${r.media_hash as string}.${r.format as string}`
      const run = this
      return {
        step: r.step as number, globalStep: r.global_step as number, timestamp: r.timestamp as number,
        name: r.name as string, hash: r.media_hash as string, key, format: r.format as string,
        type: r.type as MediaEntry['type'], caption: (r.caption as string | null) ?? null,
        width: (r.width as number | null) ?? null, height: (r.height as number | null) ?? null, size: r.size as number,
        get data() {
          return run.mediaBytes(key)
        },
      }
    })
  }

  tables(name: string): TableEntry[] {
    return this.rows('tables', name).map((r) => ({
      step: r.step as number, globalStep: r.global_step as number, timestamp: r.timestamp as number,
      columns: JSON.parse(r.columns as string), columnTypes: JSON.parse(r.column_types as string), rows: JSON.parse(r.rows as string),
    }))
  }

  tensors(name: string): TensorEntry[] {
    const h = this.h()
    return this.rows('tensors', name).map((r) => {
      const dtype = r.dtype as string
      const npy = () => native(() => h.kvBytes(r.kv_file as string, r.kv_key as string))
      return {
        step: r.step as number, globalStep: r.global_step as number, timestamp: r.timestamp as number,
        shape: JSON.parse(r.shape as string), dtype, metadata: r.metadata ? JSON.parse(r.metadata as string) : null,
        get npy() {
          return npy()
        },
        get data() {
          return npyData(npy(), dtype)
        },
      }
    })
  }

  kernelDensity(name: string): KernelDensityEntry[] {
    const h = this.h()
    return this.rows('kernel_density', name).map((r) => {
      const points = r.points as number
      const both = () => npyData(native(() => h.kvBytes(r.kv_file as string, r.kv_key as string)), '<f8') as Float64Array
      return {
        step: r.step as number, globalStep: r.global_step as number, timestamp: r.timestamp as number,
        points, bandwidth: r.bandwidth as number, count: r.count as number,
        get grid() {
          return both().subarray(0, points)
        },
        get density() {
          return both().subarray(points)
        },
      }
    })
  }

  /** Captured stdout/stderr (logs/output.log). */
  output(): string {
    return native(() => this.h().output())
  }

  close(): void {
    this.handle = null
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
