/**
 * The log types accepted by `Board.log()` next to plain numbers. They only validate and hold
 * their input: binning, PNG encoding, .npy framing and the density grid are done by the native
 * writer thread, off the training thread.
 */
import * as fs from 'node:fs'
import { InvalidArgumentError, VaultIoError } from '../errors'

/** Largest media accepted by `log()` (encoded bytes or raw pixels). */
export const MAX_MEDIA_BYTES = 256 * 1024 * 1024

type Numeric = ArrayLike<number>

function checkNumeric(what: string, values: unknown): asserts values is Numeric {
  const ok = ArrayBuffer.isView(values) ? !(values instanceof DataView) && !(values instanceof BigInt64Array) && !(values instanceof BigUint64Array)
    : Array.isArray(values) && values.every((v) => typeof v === 'number')
  if (!ok) throw new InvalidArgumentError(`${what}: expected an array or typed array of numbers`)
}

export class Histogram {
  readonly values: Numeric | null
  readonly bins: number
  readonly range: [number, number] | undefined
  readonly edges: Numeric | null = null
  readonly counts: Numeric | null = null
  readonly nan: number = 0
  readonly posinf: number = 0
  readonly neginf: number = 0

  /** Values binned (by the writer) into `bins` equal-width bins over `range` or the data's span. */
  constructor(values: Numeric, opts: { bins?: number; range?: [number, number] } = {}) {
    checkNumeric('Histogram values', values)
    const bins = opts.bins ?? 64
    if (!Number.isInteger(bins) || bins < 1 || bins > 1_000_000) {
      throw new InvalidArgumentError(`Histogram bins must be an integer in 1..1000000 (got ${bins})`)
    }
    if (opts.range !== undefined) {
      const [a, b] = opts.range
      if (!(Number.isFinite(a) && Number.isFinite(b) && a < b)) {
        throw new InvalidArgumentError(`Histogram range [${a}, ${b}] must be an increasing finite pair`)
      }
    }
    this.values = values
    this.bins = bins
    this.range = opts.range
  }

  /** A histogram already binned: exact `edges` (length counts + 1) and `counts`. */
  static fromBins(edges: Numeric, counts: Numeric, special: { nan?: number; posinf?: number; neginf?: number } = {}): Histogram {
    checkNumeric('Histogram edges', edges)
    checkNumeric('Histogram counts', counts)
    if (counts.length === 0 || edges.length !== counts.length + 1) {
      throw new InvalidArgumentError(`Histogram.fromBins: ${edges.length} edges for ${counts.length} counts (need counts + 1)`)
    }
    const h = Object.create(Histogram.prototype) as { -readonly [K in keyof Histogram]: Histogram[K] }
    h.values = null
    h.bins = counts.length
    h.range = undefined
    h.edges = edges
    h.counts = counts
    h.nan = special.nan ?? 0
    h.posinf = special.posinf ?? 0
    h.neginf = special.neginf ?? 0
    return h as Histogram
  }
}

export interface RawPixels {
  data: Uint8Array
  width: number
  height: number
  channels: number
}
export type MediaType = 'image' | 'video' | 'audio'

export class Media {
  readonly bytes: Uint8Array
  readonly raw: { width: number; height: number; channels: number } | undefined
  readonly caption: string | undefined
  readonly type: MediaType

  /**
   * `source`: encoded file bytes, a file path (read now), or raw 8-bit pixels (PNG-encoded by
   * the writer thread).
   */
  constructor(source: Uint8Array | string | RawPixels, opts: { caption?: string; type?: MediaType } = {}) {
    const type = opts.type ?? 'image'
    if (!['image', 'video', 'audio'].includes(type)) throw new InvalidArgumentError(`Media type ${String(type)} (image, video or audio)`)
    if (opts.caption !== undefined && typeof opts.caption !== 'string') throw new InvalidArgumentError('Media caption must be a string')
    this.type = type
    this.caption = opts.caption
    if (typeof source === 'string') {
      let st: fs.Stats
      try {
        st = fs.statSync(source)
      } catch (e) {
        throw new VaultIoError(`Media file ${source}: ${(e as Error).message}`, { cause: e })
      }
      if (st.size > MAX_MEDIA_BYTES) throw new InvalidArgumentError(`Media file ${source} is ${st.size} bytes (limit ${MAX_MEDIA_BYTES})`)
      this.bytes = fs.readFileSync(source)
      this.raw = undefined
    } else if (source instanceof Uint8Array) {
      if (source.byteLength === 0) throw new InvalidArgumentError('Media bytes are empty')
      this.bytes = source
      this.raw = undefined
    } else if (source && typeof source === 'object' && (source as RawPixels).data instanceof Uint8Array) {
      const { data, width, height, channels } = source as RawPixels
      if (![width, height].every((d) => Number.isInteger(d) && d > 0) || ![1, 2, 3, 4].includes(channels)) {
        throw new InvalidArgumentError(`Media raw pixels: width/height must be positive integers and channels 1..4 (got ${width}x${height}x${channels})`)
      }
      if (data.byteLength !== width * height * channels) {
        throw new InvalidArgumentError(`Media raw pixels: ${data.byteLength} bytes for ${width}x${height}x${channels} (expected ${width * height * channels})`)
      }
      this.bytes = data
      this.raw = { width, height, channels }
    } else {
      throw new InvalidArgumentError('Media source must be bytes, a file path or { data, width, height, channels }')
    }
    if (this.bytes.byteLength > MAX_MEDIA_BYTES) {
      throw new InvalidArgumentError(`Media of ${this.bytes.byteLength} bytes is over the ${MAX_MEDIA_BYTES} byte limit`)
    }
  }

  /** Metadata for the writer (without the bytes). */
  describe(): Record<string, unknown> {
    return { type: this.type, caption: this.caption ?? null, ...(this.raw ? { raw: this.raw } : {}) }
  }
}

export type CellType = 'number' | 'string' | 'boolean' | 'media' | 'null' | 'json'

export class Table {
  readonly columns: string[]
  readonly rows: unknown[][]
  readonly types: CellType[]

  /** `new Table(rows)` with one object per row, or `new Table({ columns, rows })` with arrays. */
  constructor(input: Record<string, unknown>[] | { columns: string[]; rows: unknown[][] }) {
    if (Array.isArray(input)) {
      const cols: string[] = []
      for (const r of input) {
        if (!r || typeof r !== 'object' || Array.isArray(r)) throw new InvalidArgumentError('Table rows must be plain objects')
        for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k)
      }
      this.columns = cols
      // Own keys only: a row without a 'constructor' column must not pick up Object.
      this.rows = input.map((r) => cols.map((c) => (!Object.hasOwn(r, c) || r[c] === undefined ? null : r[c])))
    } else if (input && Array.isArray(input.columns) && Array.isArray(input.rows)) {
      if (!input.columns.every((c) => typeof c === 'string')) throw new InvalidArgumentError('Table columns must be strings')
      for (const [i, r] of input.rows.entries()) {
        if (!Array.isArray(r) || r.length !== input.columns.length) {
          throw new InvalidArgumentError(`Table row ${i} has ${Array.isArray(r) ? r.length : 'no'} cells for ${input.columns.length} columns`)
        }
      }
      this.columns = [...input.columns]
      this.rows = input.rows.map((r) => [...r])
    } else {
      throw new InvalidArgumentError('Table takes an array of row objects or { columns, rows }')
    }
    this.types = this.columns.map((_, j) => columnType(this.rows.map((r) => r[j])))
  }
}

function columnType(cells: unknown[]): CellType {
  let t: CellType = 'null'
  for (const c of cells) {
    const ct: CellType = c === null ? 'null' : c instanceof Media ? 'media' : typeof c === 'number' ? 'number'
      : typeof c === 'string' ? 'string' : typeof c === 'boolean' ? 'boolean' : 'json'
    if (ct === 'null') continue
    if (t === 'null') t = ct
    else if (t !== ct) return 'json'
  }
  return t
}

const DTYPES: Array<[new (...a: never[]) => ArrayBufferView, string]> = [
  [Float32Array, '<f4'], [Float64Array, '<f8'], [Int8Array, '|i1'], [Uint8Array, '|u1'],
  [Int16Array, '<i2'], [Uint16Array, '<u2'], [Int32Array, '<i4'], [Uint32Array, '<u4'],
  [BigInt64Array, '<i8'], [BigUint64Array, '<u8'],
]

export class TensorLog {
  readonly data: ArrayBufferView
  readonly shape: number[]
  readonly dtype: string
  readonly metadata: unknown

  /** A tensor stored as .npy bytes; `shape` must multiply to `data.length`. */
  constructor(data: ArrayBufferView, shape: number[], opts: { metadata?: unknown } = {}) {
    const d = DTYPES.find(([C]) => data instanceof C)
    if (!d) throw new InvalidArgumentError('TensorLog data must be a typed array')
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new InvalidArgumentError(`TensorLog shape ${JSON.stringify(shape)} must be non-negative integers`)
    }
    const n = shape.reduce((a, b) => a * b, 1)
    const len = (data as unknown as { length: number }).length
    if (n !== len) throw new InvalidArgumentError(`TensorLog shape ${JSON.stringify(shape)} holds ${n} elements, data has ${len}`)
    this.data = data
    this.shape = [...shape]
    this.dtype = d[1]
    this.metadata = opts.metadata
  }
}

export class KernelDensity {
  readonly values: Numeric
  readonly points: number
  readonly bandwidth: number | undefined

  /** A gaussian kernel density of `values` on `points` grid points (computed by the writer). */
  constructor(values: Numeric, opts: { points?: number; bandwidth?: number } = {}) {
    checkNumeric('KernelDensity values', values)
    if (values.length === 0) throw new InvalidArgumentError('KernelDensity needs at least one value')
    const points = opts.points ?? 256
    if (!Number.isInteger(points) || points < 2 || points > 100_000) throw new InvalidArgumentError(`KernelDensity points must be an integer in 2..100000 (got ${points})`)
    if (opts.bandwidth !== undefined && !(opts.bandwidth > 0 && Number.isFinite(opts.bandwidth))) {
      throw new InvalidArgumentError(`KernelDensity bandwidth must be a positive number (got ${opts.bandwidth})`)
    }
    this.values = values
    this.points = points
    this.bandwidth = opts.bandwidth
  }
}
