/**
 * The hot path of `Board.log()`: records written straight into a memory-mapped log segment
 * (an external ArrayBuffer over the file's pages, see crates/ambervault-core/src/board/logfile.rs
 * and records.rs for the byte layout). A record is published by storing its length word last
 * with `Atomics.store`, so the writer thread (or a replay after kill -9) sees whole records only.
 * Logging a scalar is a few typed-array stores: no napi call, no syscall. Filling a segment
 * costs one native call to map the next.
 */
import binding from '../native'
import { native } from '../errors'
import { checkName } from './names'

// The record layout's constants, as the core defines them (crates/ambervault-node/src/wire.rs).
const HEADER_SIZE = binding.LOG_HEADER_SIZE
const END_RESERVE = binding.LOG_END_RESERVE
const KIND_NAME = binding.LOG_KIND_NAME
const KIND_SCALARS = binding.LOG_KIND_SCALARS
const KIND_PAYLOAD = binding.LOG_KIND_PAYLOAD
const KIND_END = binding.LOG_KIND_END
/** SCALARS flag: values that take no step of their own (system metrics). */
export const FLAG_NO_STEP_ROW = binding.LOG_FLAG_NO_STEP_ROW

export const Subkind = {
  HistogramValues: binding.LOG_SUBKIND_HISTOGRAM_VALUES,
  HistogramBins: binding.LOG_SUBKIND_HISTOGRAM_BINS,
  Media: binding.LOG_SUBKIND_MEDIA,
  Table: binding.LOG_SUBKIND_TABLE,
  Tensor: binding.LOG_SUBKIND_TENSOR,
  KernelDensity: binding.LOG_SUBKIND_KERNEL_DENSITY,
  Output: binding.LOG_SUBKIND_OUTPUT,
} as const
export type Subkind = number

const encoder = new TextEncoder()

export class LogWriter {
  readonly runDir: string
  readonly id: string
  private seq = 0
  private off = HEADER_SIZE
  private limit = 0
  private i32!: Int32Array
  private u32!: Uint32Array
  private f64!: Float64Array
  private u8!: Uint8Array
  private readonly names = new Map<string, number>()
  private nextId = 1
  private order: string[] = []
  private orderIds: number[] = []

  constructor(runDir: string, id: string) {
    this.runDir = runDir
    this.id = id
    this.map(0)
  }

  /** Position (segment, byte) everything written so far ends at: what `flush()` waits for. */
  position(): { seq: number; offset: number } {
    return { seq: this.seq, offset: this.off }
  }

  private map(minSize: number): void {
    const buf = native(() => binding.boardCreateSegment(this.runDir, this.id, this.seq, minSize))
    this.i32 = new Int32Array(buf)
    this.u32 = new Uint32Array(buf)
    this.f64 = new Float64Array(buf)
    this.u8 = new Uint8Array(buf)
    this.off = HEADER_SIZE
    this.limit = buf.byteLength - END_RESERVE
  }

  /** Close the current segment with an END record and map the next one. */
  private roll(need: number): void {
    const w = this.off >> 2
    this.i32[w + 1] = KIND_END
    Atomics.store(this.i32, w, 8)
    this.seq += 1
    this.map(need)
  }

  private ensure(bytes: number): void {
    if (this.off + bytes > this.limit) this.roll(bytes)
  }

  /** True when `name` has an id already (it was checked and defined by this writer). */
  knows(name: string): boolean {
    return this.names.has(name)
  }

  /**
   * Id of a metric name, defining it with a NAME record the first time. A new name is checked
   * (names.ts) before anything is written; callers that write several names check them all first.
   */
  nameId(name: string): number {
    const known = this.names.get(name)
    if (known !== undefined) return known
    checkName(name)
    const bytes = encoder.encode(name)
    const len = (16 + bytes.length + 7) & ~7
    this.ensure(len)
    const id = this.nextId++
    const o = this.off
    this.u32[(o >> 2) + 2] = id
    this.u32[(o >> 2) + 3] = bytes.length
    this.u8.set(bytes, o + 16)
    this.commit(o, KIND_NAME, len)
    this.names.set(name, id)
    return id
  }

  private commit(o: number, kind: number, len: number): void {
    this.i32[(o >> 2) + 1] = kind
    Atomics.store(this.i32, o >> 2, len)
    this.off = o + len
  }

  /**
   * Fast path: write `values` as one SCALARS record if every value is a number and every name
   * is already known (so it was checked when first defined). Returns false (having published
   * nothing) otherwise, for the slow path, which checks every new name before writing any.
   */
  tryScalars(values: Record<string, unknown>, step: number, globalStep: number, ts: number, flags: number): boolean {
    let o = this.off
    // Room for the header plus 64 entries; bigger calls re-check per entry below.
    if (o + 40 + 1024 > this.limit) {
      this.roll(40 + 1024)
      o = this.off
    }
    let p = o + 40
    let n = 0
    const u32 = this.u32
    const f64 = this.f64
    // A training loop logs the same keys in the same order call after call: while they match
    // the last call's, the name id comes from that call's list (a string compare of interned
    // keys) instead of a Map lookup, which was half the cost of a 1,000-key log().
    const order = this.order
    const orderIds = this.orderIds
    let same = true
    for (const k in values) {
      const v = values[k]
      if (typeof v !== 'number') return false
      let id: number | undefined
      if (same && order[n] === k) id = orderIds[n]
      else {
        same = false
        id = this.names.get(k)
        if (id === undefined) return false
      }
      if (p + 16 > this.limit) return this.tryScalarsAfterRoll(values, step, globalStep, ts, flags)
      u32[p >> 2] = id
      f64[(p >> 3) + 1] = v
      p += 16
      n++
    }
    // Nothing iterated: let the slow path refuse what is not an object (null, a number, []).
    if (n === 0 && (values === null || typeof values !== 'object' || Array.isArray(values))) return false
    f64[(o >> 3) + 1] = step
    f64[(o >> 3) + 2] = globalStep
    f64[(o >> 3) + 3] = ts
    u32[(o >> 2) + 8] = n
    u32[(o >> 2) + 9] = flags
    this.commit(o, KIND_SCALARS, p - o)
    if (!same || n !== order.length) this.rememberOrder(values, n)
    return true
  }

  /** The keys of the last fast-path call and their ids, in order (every key is a known name). */
  private rememberOrder(values: Record<string, unknown>, n: number): void {
    const order: string[] = new Array(n)
    const ids: number[] = new Array(n)
    let i = 0
    for (const k in values) {
      order[i] = k
      ids[i++] = this.names.get(k) as number
    }
    this.order = order
    this.orderIds = ids
  }

  private tryScalarsAfterRoll(values: Record<string, unknown>, step: number, globalStep: number, ts: number, flags: number): boolean {
    let n = 0
    for (const _ in values) n++
    this.roll(40 + 16 * n)
    return this.tryScalars(values, step, globalStep, ts, flags)
  }

  /** Scalars from the slow path: names are defined first, values already validated. */
  scalars(entries: Array<[string, number]>, step: number, globalStep: number, ts: number, flags: number): void {
    const ids = entries.map(([k]) => this.nameId(k))
    const len = 40 + 16 * entries.length
    this.ensure(len)
    const o = this.off
    let p = o + 40
    for (let i = 0; i < entries.length; i++) {
      this.u32[p >> 2] = ids[i]
      this.f64[(p >> 3) + 1] = entries[i][1]
      p += 16
    }
    this.f64[(o >> 3) + 1] = step
    this.f64[(o >> 3) + 2] = globalStep
    this.f64[(o >> 3) + 3] = ts
    this.u32[(o >> 2) + 8] = entries.length
    this.u32[(o >> 2) + 9] = flags
    this.commit(o, KIND_SCALARS, len)
  }

  /**
   * Scalars by name id (ids from `nameId`), the values in `values[0..n)`: one SCALARS record with
   * no allocation, for the server's ingest of a batch of millions of points.
   */
  scalarsById(ids: ArrayLike<number>, values: ArrayLike<number>, n: number, step: number, globalStep: number, ts: number, flags: number): void {
    const len = 40 + 16 * n
    this.ensure(len)
    const o = this.off
    let p = o + 40
    for (let i = 0; i < n; i++) {
      this.u32[p >> 2] = ids[i]
      this.f64[(p >> 3) + 1] = values[i]
      p += 16
    }
    this.f64[(o >> 3) + 1] = step
    this.f64[(o >> 3) + 2] = globalStep
    this.f64[(o >> 3) + 3] = ts
    this.u32[(o >> 2) + 8] = n
    this.u32[(o >> 2) + 9] = flags
    this.commit(o, KIND_SCALARS, len)
  }

  /**
   * A heavy payload: JSON metadata plus data bytes (or f64 values, converted by the typed-array
   * copy). `name` may be '' (captured output).
   */
  payload(
    name: string, subkind: Subkind, meta: unknown, data: Uint8Array | ArrayLike<number> | null,
    step: number, globalStep: number, ts: number,
  ): void {
    const nameId = name === '' ? 0 : this.nameId(name)
    const metaBytes = meta === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(meta))
    const asBytes = data instanceof Uint8Array
    const dataLen = data === null ? 0 : asBytes ? data.byteLength : data.length * 8
    const metaPad = (metaBytes.length + 7) & ~7
    const len = (48 + metaPad + dataLen + 7) & ~7
    this.ensure(len)
    const o = this.off
    this.f64[(o >> 3) + 1] = step
    this.f64[(o >> 3) + 2] = globalStep
    this.f64[(o >> 3) + 3] = ts
    this.u32[(o >> 2) + 8] = nameId
    this.u32[(o >> 2) + 9] = subkind
    this.u32[(o >> 2) + 10] = metaBytes.length
    this.u32[(o >> 2) + 11] = dataLen
    this.u8.set(metaBytes, o + 48)
    const d = o + 48 + metaPad
    if (data !== null) {
      if (asBytes) this.u8.set(data as Uint8Array, d)
      else this.f64.set(data as ArrayLike<number>, d >> 3)
    }
    this.commit(o, KIND_PAYLOAD, len)
  }
}
