/**
 * ColumnVault, Column and VarSizeColumn (docs/api.md): typed, chunked, append-friendly columns in
 * the KohakuVault 0.8 layout (docs/format.md). Storage, chunking, codecs and index resolution
 * (negative indexes count from the end) are in the Rust core; this layer picks the typed-array
 * fast paths, sorts values into native batches (one native call per batch) and retries calls
 * that find the file busy.
 */
import binding from './native'
import { native, InvalidArgumentError, ClosedError } from './errors'
import { busyPolicy, retryAfter, retrySync, type BusyOptions, type RetryPolicy } from './retry'
import { packBatch, packDocs, bytesOf, type PackTarget } from './packer'
import { onExit } from './exit-hooks'
import { ReadRelease, releaseQueuedReads } from './read-release'
import { DocStage, HELD, NO_ROOM, STAGE_DOCS } from './doc-stage'

type NativeColumn = InstanceType<typeof binding.NativeColumn>
type ColumnHot = ReturnType<NativeColumn['hot']>
type NativeColumnVault = InstanceType<typeof binding.NativeColumnVault>

// Internals are keyed by symbols of this module (better-sqlite3's way): they stay off the
// public objects' names and out of the published types.
const NATIVE = Symbol('ambervault.native')
const SETTLE = Symbol('ambervault.settle')
const DRAIN = Symbol('ambervault.drain')
const CALL = Symbol('ambervault.call')

export interface ColumnVaultOptions extends BusyOptions {
  /** First size of a chunk (default 128 KiB, aligned up to the element size). */
  minChunkBytes?: number
  /** Largest chunk (default 256 KiB, or one element when elements are larger, and 32 KiB for the data of variable-size columns; aligned down to the element size). */
  maxChunkBytes?: number
  /**
   * Page size of a new file: a power of two from 512 to 65536 (default 4096, what KohakuVault
   * gives its column files). An existing file keeps its own. Every commit writes whole pages, so
   * the default keeps a single uncached append cheap; 32768 makes a large extend faster
   * (docs/performance.md, bench/columns table 1).
   */
  pageSize?: number
}

export interface ColumnInfo {
  name: string
  dtype: string
  length: number
}

export interface ReadOptions {
  /** i64 / u64 columns: return BigInt64Array / BigUint64Array (or bigint values) instead of numbers. */
  bigint?: boolean
}

export type NumericArray =
  | Float64Array
  | Float32Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array

/** The typed array each numeric dtype is stored as (its bytes go in as they are). */
const NATIVE_ARRAY: Record<string, new (...a: any[]) => NumericArray> = {
  f64: Float64Array,
  f32: Float32Array,
  i32: Int32Array,
  i16: Int16Array,
  i8: Int8Array,
  u8: Uint8Array,
  u16: Uint16Array,
  u32: Uint32Array,
  i64: BigInt64Array,
  u64: BigUint64Array,
}

const ITER_BATCH = 4096
/** The element ends of a fixed-size batch: the core needs none. */
const NO_ENDS = new Uint32Array(0)
const STAGE_SIZE = 8192
/** First guess at the size of a variable-size `bytes` element read by `get`. */
const BYTES_GUESS = 256

/** Integer bounds of the numeric dtypes whose single appends can be staged in JS. */
const BOUNDS: Record<string, [number, number]> = {
  i8: [-128, 127],
  i16: [-32768, 32767],
  i32: [-(2 ** 31), 2 ** 31 - 1],
  u8: [0, 255],
  u16: [0, 65535],
  u32: [0, 2 ** 32 - 1],
  i64: [-(2 ** 53), 2 ** 53],
  u64: [0, 2 ** 53],
}

/** What columns share with their vault: cache state and the columns holding staged appends. */
interface VaultState {
  cache: boolean
  intervalMs: number
  staged: Set<Column>
  timer: NodeJS.Timeout | null
  /** Reads keep a snapshot open in the core between calls; this ends it once the current
   *  synchronous run of code is over (an idle vault never holds back checkpoints). */
  readSoon: () => void
  /** How native calls that find the file busy are retried. */
  retry: RetryPolicy
}

export interface CacheOptions {
  /** Flush a column to SQLite once this many bytes are cached for it (default 1 MiB). */
  flushBytes?: number
  /** Flush after this many idle milliseconds (default 500; 0 turns interval flushing off). */
  flushIntervalMs?: number
}

export class Column {
  /** @internal The native column, keyed by a symbol of this module (off the public object). */
  readonly [NATIVE]: NativeColumn
  /** The native column as the hottest calls take it (`columnLength`, `columnGetNumber`). */
  readonly #hot: ColumnHot
  /** Numeric, not bool: `get` reads one number without building a value. */
  readonly #number: boolean
  readonly #scalar: string | null

  readonly #vault: VaultState
  /** Single numeric appends staged in JS while the cache is on, handed over in one call. */
  #stage: Float64Array | null = null
  #staged = 0
  readonly #bounds: [number, number] | null
  /** Single string / byte-string appends held in JS while the cache is on (copies of byte
   *  strings, so a reused buffer cannot change them), handed over as one batch. */
  #held: unknown[] = []
  readonly #holdable: ((v: unknown) => boolean) | null
  /** msgpack columns: single appends go over as one packed document (its end in here). */
  readonly #docEnd: Uint32Array | null
  readonly #docDtype: string
  /** Unsized msgpack columns with the cache on: single appends encoded and held in JS. */
  #docStage: DocStage | null = null
  readonly #docHoldable: boolean
  /** bytes and UTF-8 str columns: slices come back joined (one native value) and are cut here. */
  readonly #joined: boolean
  /** bytes columns: `get` reads into a Buffer allocated here, of this many bytes for var-size ones. */
  readonly #bytes: boolean
  #bytesGuess = BYTES_GUESS
  /** Fixed for the column's life; kept here, as reads use it on every call. */
  readonly #elemSize: number

  /** @internal Columns come from a ColumnVault (`createColumn`, `ensure`, `column`). */
  constructor(n: NativeColumn, vault: VaultState) {
    this[NATIVE] = n
    this.#hot = n.hot()
    this.#vault = vault
    this.#scalar = n.scalar ?? null
    this.#number = this.#scalar !== null && this.#scalar !== 'bool'
    this.#bounds = this.#scalar ? BOUNDS[this.#scalar] ?? null : null
    this.#holdable = holdableTest(n.kind, n.dtype, n.elemSize)
    this.#docEnd = n.kind === 'msgpack' ? new Uint32Array(1) : null
    this.#docDtype = this.#docEnd ? n.dtype : ''
    // Sized msgpack pads and length-checks each document in the core: not held.
    this.#docHoldable = this.#docEnd !== null && n.elemSize === 0
    this.#elemSize = n.elemSize
    this.#bytes = n.kind === 'bytes'
    this.#joined = this.#bytes || (n.kind === 'str' && strEncoding(n.dtype) === 'utf8')
  }

  /** @internal Hand every column's staged appends (this vault) over before any other call, in append order per column. */
  [SETTLE](): void {
    if (this.#vault.staged.size === 0) return
    for (const c of [...this.#vault.staged]) c[DRAIN]()
  }

  /** @internal Hand staged appends to the native cache (keeps every other call coherent). */
  [DRAIN](): void {
    this.#vault.staged.delete(this)
    if (this.#staged > 0) {
      const part = this.#stage!.subarray(0, this.#staged)
      this.#staged = 0
      // f64 values are stored exactly as staged; other types get their range check in Rust.
      if (this.#scalar === 'f64') this[CALL](() => this[NATIVE].extendRaw(bytesOf(part)))
      else this[CALL](() => this[NATIVE].extendNumbers(part))
    }
    if (this.#held.length > 0) {
      const held = this.#held
      this.#held = []
      packBatch(this.#appender(), held)
    }
    if (this.#docStage && this.#docStage.count > 0) {
      const { bytes, ends } = this.#docStage.take()
      this[CALL](() => this[NATIVE].extendPackedDocs(bytes, ends))
    }
  }

  /** @internal A native call, retried while the file is busy (the vault's `retries` and `backoffMs`). */
  [CALL]<T>(call: () => T): T {
    return retrySync(this.#vault.retry, call)
  }

  /** Hold a document when it is JSON-like (the cache is on); false sends it on its own. */
  #holdDoc(value: unknown): boolean {
    const stage = (this.#docStage ??= new DocStage())
    let r = stage.add(value)
    if (r === NO_ROOM && stage.count > 0) {
      this[DRAIN]()
      r = stage.add(value)
    }
    if (r !== HELD) return false
    if (stage.count === 1) this.#noteStaged()
    if (stage.count === STAGE_DOCS) this[DRAIN]()
    return true
  }

  /** The first value staged since the last drain starts the interval timer. */
  #noteStaged(): void {
    this.#vault.staged.add(this)
    if (this.#vault.intervalMs > 0 && !this.#vault.timer) {
      this.#vault.timer = setTimeout(() => {
        this.#vault.timer = null
        for (const c of [...this.#vault.staged]) c[DRAIN]()
      }, this.#vault.intervalMs).unref()
    }
  }

  get name(): string {
    return this[NATIVE].name
  }
  get dtype(): string {
    return this[NATIVE].dtype
  }
  /** Bytes per element (0 for variable-size columns). */
  get elemSize(): number {
    return this.#elemSize
  }
  get length(): number {
    this[SETTLE]()
    this.#vault.readSoon()
    try {
      return binding.columnLength(this.#hot)
    } catch (e) {
      return retryAfter(this.#vault.retry, e, () => binding.columnLength(this.#hot))
    }
  }

  #a?: PackTarget<void>
  /** Batches packed and appended by the column itself: one native call, nothing handed back. */
  #appender(): PackTarget<void> {
    const n = this[NATIVE]
    const retry = this.#vault.retry
    return (this.#a ??= {
      kind: n.kind,
      dtype: n.dtype,
      packNumbers: (v) => retrySync(retry, () => n.extendNumbers(v)),
      packBigints: (v) => retrySync(retry, () => n.extendBigints(v)),
      packBools: (v) => retrySync(retry, () => n.extendBools(v)),
      packPackedArray: (a) => retrySync(retry, () => n.extendPackedArray(a)),
      packVectors: (e, r) => retrySync(retry, () => n.extendVectors(e, r)),
      packJoinedStrings: (j, l) => retrySync(retry, () => n.extendJoinedStrings(j, l)),
      packJoinedBuffers: (b, e) => retrySync(retry, () => n.extendJoinedBuffers(b, e)),
    })
  }
  #p?: InstanceType<typeof binding.NativePacker>
  #packer() {
    return (this.#p ??= new binding.NativePacker(this[NATIVE].dtype))
  }

  /** Element `i` (negative counts from the end). Indexes are checked and resolved in the core. */
  get(i: number, options?: ReadOptions): any {
    this[SETTLE]()
    this.#vault.readSoon()
    if (this.#bytes) return this.#getBytes(i)
    const bigint = options?.bigint ?? false
    if (this.#number && !bigint) {
      try {
        return binding.columnGetNumber(this.#hot, i)
      } catch (e) {
        return retryAfter(this.#vault.retry, e, () => binding.columnGetNumber(this.#hot, i))
      }
    }
    try {
      return this[NATIVE].get(i, bigint)
    } catch (e) {
      return retryAfter(this.#vault.retry, e, () => this[NATIVE].get(i, bigint))
    }
  }

  /** A `bytes` element read into a Buffer allocated here (Node's pool serves small ones). An
   *  element larger than the guess is read again into a Buffer of its size, and the guess grows
   *  to it, so a column of large elements pays that second read once, not on every get. */
  #getBytes(i: number): Buffer {
    let out = Buffer.allocUnsafe(this.elemSize || this.#bytesGuess)
    for (;;) {
      const b = out
      const n = this[CALL](() => this[NATIVE].getBytesInto(i, b))
      if (n <= out.length) return n === out.length ? out : out.subarray(0, n)
      this.#bytesGuess = n
      out = Buffer.allocUnsafe(n)
    }
  }

  /** Replace element `i` (negative counts from the end). */
  set(i: number, value: unknown): void {
    this[SETTLE]()
    const { bytes, ends } = packBatch(this.#packer(), [value])
    this[CALL](() => this[NATIVE].setPacked(i, bytes, ends))
  }

  append(value: unknown): void {
    if (this.#vault.cache) {
      if (this.#scalar && typeof value === 'number' && this.#stageable(value)) {
        const stage = (this.#stage ??= new Float64Array(STAGE_SIZE))
        stage[this.#staged++] = value
        if (this.#staged === 1 && this.#held.length === 0) this.#noteStaged()
        if (this.#staged === STAGE_SIZE) this[DRAIN]()
        return
      }
      if (this.#staged === 0 && this.#holdable?.(value)) {
        this.#held.push(typeof value === 'string' ? value : Buffer.from(value as Uint8Array))
        if (this.#held.length === 1) this.#noteStaged()
        if (this.#held.length === STAGE_SIZE) this[DRAIN]()
        return
      }
    }
    if (this.#docEnd) {
      if (this.#vault.cache && this.#docHoldable && this.#holdDoc(value)) return
      // Packed in JS and checked by the core at this call (bad ones fail here), after what is held.
      this[SETTLE]()
      const doc = packDocs(this.#docDtype, value)
      const end = this.#docEnd
      end[0] = doc.length
      try {
        this[NATIVE].extendPackedDocs(doc, end)
      } catch (e) {
        retryAfter(this.#vault.retry, e, () => this[NATIVE].extendPackedDocs(doc, end))
      }
      return
    }
    this.extend([value])
  }

  #stageable(v: number): boolean {
    const s = this.#scalar
    if (s === 'f64') return true
    if (s === 'f32' || s === 'bool') return false
    const b = this.#bounds
    return b !== null && Number.isInteger(v) && v >= b[0] && v <= b[1]
  }

  /**
   * Append many values in one transaction. Numeric columns take their own typed array
   * (`Float64Array` for f64, `BigInt64Array` for i64, ...) as is; other arrays are range-checked.
   */
  extend(values: ArrayLike<unknown> | Iterable<unknown>): void {
    this[SETTLE]()
    if (this.#scalar && ArrayBuffer.isView(values)) {
      const own = NATIVE_ARRAY[this.#scalar]
      if (own && values instanceof own) {
        this[CALL](() => this[NATIVE].extendRaw(bytesOf(values)))
        return
      }
      if (values instanceof Float64Array) {
        this[CALL](() => this[NATIVE].extendNumbers(values))
        return
      }
    }
    const arr = isArrayLike(values) ? values : Array.from(values as Iterable<unknown>)
    if (arr.length === 0) return
    packBatch(this.#appender(), arr)
  }

  /** Elements `[start, end)` like Array.prototype.slice: a typed array for numeric dtypes, else an array. */
  slice(start?: number, end?: number, options: ReadOptions = {}): any {
    return this.#read(start, end, options)
  }

  /** One native call: bounds are checked and resolved against the length in the core. */
  #read(s: number | undefined, e: number | undefined, options: ReadOptions): any {
    this[SETTLE]()
    this.#vault.readSoon()
    const bigint = options.bigint ?? false
    if (this.#scalar && this.#scalar !== 'bool') return this[CALL](() => this[NATIVE].sliceNumbers(s, e, bigint))
    if (this.#joined) return cut(this[CALL](() => this[NATIVE].sliceJoined(s, e)))
    return this[CALL](() => this[NATIVE].sliceValues(s, e, bigint))
  }

  /** Overwrite elements from `start` (negative counts from the end) with `values`, which must
   *  all exist: one transaction. */
  setSlice(start: number, values: ArrayLike<unknown>): void {
    this[SETTLE]()
    const own = this.#scalar ? NATIVE_ARRAY[this.#scalar] : undefined
    const { bytes, ends } =
      own && values instanceof own
        ? { bytes: bytesOf(values as NumericArray), ends: NO_ENDS }
        : values.length === 0
          ? { bytes: Buffer.alloc(0), ends: NO_ENDS }
          : packBatch(this.#packer(), values)
    this[CALL](() => this[NATIVE].setPacked(start, bytes, ends))
  }

  /** Remove element `i` (negative counts from the end), shifting the rest down. */
  delete(i: number): void {
    this[SETTLE]()
    this[CALL](() => this[NATIVE].deleteAt(i))
  }

  /** Insert before index `i` (`i === length` appends; negative counts from the end). */
  insert(i: number, value: unknown): void {
    this[SETTLE]()
    const { bytes, ends } = packBatch(this.#packer(), [value])
    this[CALL](() => this[NATIVE].insertPacked(i, bytes, ends))
  }

  clear(): void {
    this[SETTLE]()
    this[CALL](() => this[NATIVE].clear())
  }

  *[Symbol.iterator](): IterableIterator<any> {
    const len = this.length
    for (let s = 0; s < len; s += ITER_BATCH) {
      const part = this.#read(s, Math.min(len, s + ITER_BATCH), {})
      for (const v of part) yield v
    }
  }

  /** Every element as a plain array. */
  toArray(options: ReadOptions = {}): any[] {
    return Array.from(this.slice(undefined, undefined, options) as ArrayLike<unknown>)
  }
}

/** A column whose elements have no fixed size (`str`, `bytes`, `msgpack`, `cbor`, free `vec`). */
export class VarSizeColumn extends Column {
  /** Rewrite the data chunks without the fragments left by updates and deletes. */
  compact(): void {
    this[SETTLE]()
    this[CALL](() => this[NATIVE].compact())
  }
}

/**
 * Which single appends a cached column may hold in JS: only values its packer cannot reject
 * (checked here), so a bad value still fails at its own `append` call. Strings in encodings
 * that take any JS string, within the byte limit of `str:N`; byte strings within `bytes:N`.
 */
function holdableTest(kind: string, dtype: string, elemSize: number): ((v: unknown) => boolean) | null {
  if (kind === 'bytes') return (v) => v instanceof Uint8Array && (elemSize === 0 || v.length <= elemSize)
  if (kind !== 'str') return null
  const enc = strEncoding(dtype)
  if (enc === 'utf8') return (v) => typeof v === 'string' && (elemSize === 0 || Buffer.byteLength(v, 'utf8') <= elemSize)
  if (enc === 'utf16le' || enc === 'utf16be') return (v) => typeof v === 'string' && (elemSize === 0 || v.length * 2 <= elemSize)
  return null
}

/** The encoding of a `str` dtype (`str`, `str:N`, `str:enc`, `str:N:enc`). */
function strEncoding(dtype: string): string {
  const last = dtype.split(':').pop()!
  return /^[a-z]/.test(last) && last !== 'str' ? last : 'utf8'
}

/** A joined slice cut into its elements: views of one Buffer, or the parts of one string
 *  whose elements are each followed by its last character (a slice too large to join arrives
 *  as its values). */
function cut(j: { bytes: Buffer; ends: Uint32Array } | string | unknown[]): unknown[] {
  if (typeof j === 'string') {
    if (j.length === 0) return []
    const parts = j.split(j[j.length - 1])
    parts.length-- // the empty string after the last separator
    return parts
  }
  if (Array.isArray(j)) return j
  const { bytes, ends } = j
  const out = new Array(ends.length)
  let at = 0
  for (let k = 0; k < ends.length; k++) {
    out[k] = bytes.subarray(at, ends[k])
    at = ends[k]
  }
  return out
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return Array.isArray(v) || ArrayBuffer.isView(v) || (typeof v === 'object' && v !== null && typeof (v as { length?: unknown }).length === 'number')
}

export class ColumnVault {
  readonly path: string
  #n: NativeColumnVault | null
  /** Ends the read snapshot the vault's reads keep open (see read-release.ts). */
  readonly #reads = new ReadRelease(() => this.#n?.releaseRead())
  readonly #state: VaultState
  #unhookExit?: () => void

  /** Open (or create) the columns of a SQLite file; `pathOrKVault` may be a KVault (same file). */
  constructor(pathOrKVault: string | { path: string }, options: ColumnVaultOptions = {}) {
    const path = typeof pathOrKVault === 'string' ? pathOrKVault : pathOrKVault?.path
    if (typeof path !== 'string' || path === '')
      throw new InvalidArgumentError('ColumnVault needs a file path or a KVault')
    for (const k of ['minChunkBytes', 'maxChunkBytes'] as const) {
      const v = options[k]
      if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw new InvalidArgumentError(`${path}: ${k} ${String(v)} is not a positive integer`)
    }
    const { retry, busyTimeoutMs } = busyPolicy(options)
    this.path = path
    this.#state = { cache: false, intervalMs: 0, staged: new Set(), timer: null, readSoon: () => this.#reads.soon(), retry }
    this.#n = retrySync(retry, () => new binding.NativeColumnVault(path, { minChunkBytes: options.minChunkBytes, maxChunkBytes: options.maxChunkBytes, pageSize: options.pageSize, busyTimeoutMs }))
  }

  /** A native call, retried while the file is busy. */
  #call<T>(call: () => T): T {
    return retrySync(this.#state.retry, call)
  }

  get #v(): NativeColumnVault {
    if (!this.#n) throw new ClosedError(`column vault ${this.path} is closed`)
    return this.#n
  }

  #wrap(n: NativeColumn): Column {
    return n.isVarSize ? new VarSizeColumn(n, this.#state) : new Column(n, this.#state)
  }

  #drainAll(): void {
    for (const c of [...this.#state.staged]) c[DRAIN]()
  }

  /**
   * Cache appends in memory (per column, in Rust) and write them in one transaction per flush:
   * when a column passes `flushBytes`, after `flushIntervalMs` idle, on `flushCache()`, on
   * `close()` and at normal process exit. Lengths and reads see cached appends.
   */
  enableCache(options: CacheOptions = {}): void {
    const v = this.#v
    this.#call(() => v.enableCache({ flushBytes: options.flushBytes, flushIntervalMs: options.flushIntervalMs }))
    this.#state.cache = true
    this.#state.intervalMs = options.flushIntervalMs ?? 500
    this.#unhookExit ??= onExit(() => this.close())
  }

  /** Flush and stop caching. */
  disableCache(): void {
    const v = this.#v
    this.#drainAll()
    this.#state.cache = false
    this.#unhookExit?.()
    this.#unhookExit = undefined
    this.#call(() => v.disableCache())
  }

  /** Write every cached append now (one transaction). */
  flushCache(): void {
    const v = this.#v
    this.#drainAll()
    this.#call(() => v.flushCache())
  }

  /** Create a column; InvalidArgumentError if it exists or the dtype is bad. */
  createColumn(name: string, dtype: string): Column {
    return this.#wrap(this.#call(() => this.#v.createColumn(String(name), String(dtype))))
  }

  /** The existing column (same dtype, else InvalidArgumentError) or a new one. */
  ensure(name: string, dtype: string): Column {
    return this.#wrap(this.#call(() => this.#v.ensure(String(name), String(dtype))))
  }

  /** The column called `name`; NotFoundError if absent. */
  column(name: string): Column {
    return this.#wrap(this.#call(() => this.#v.column(String(name))))
  }

  has(name: string): boolean {
    return this.#call(() => this.#v.has(String(name)))
  }

  listColumns(): ColumnInfo[] {
    return this.#call(() => this.#v.listColumns())
  }

  /** Delete a column and free its chunks; false if there was none. */
  deleteColumn(name: string): boolean {
    return this.#call(() => this.#v.deleteColumn(String(name)))
  }

  /** Merge the WAL into the main file. */
  checkpoint(): void {
    this.#drainAll()
    releaseQueuedReads()
    this.#call(() => this.#v.checkpoint())
  }

  /** Flush cached appends, checkpoint and close; later calls raise ClosedError. A close that cannot write the cache throws and leaves the vault open with it. */
  close(): void {
    if (!this.#n) return
    const n = this.#n
    this.#drainAll()
    // Cached appends are written with busy retries; a close that still cannot write them
    // throws and leaves the vault open with its appends (as KVault's does).
    this.#call(() => n.close())
    this.#n = null
    this.#state.cache = false
    this.#unhookExit?.()
    this.#unhookExit = undefined
    if (this.#state.timer) clearTimeout(this.#state.timer)
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
