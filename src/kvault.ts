/**
 * KVault: a Map-like key/value blob store over one SQLite table (docs/api.md, "KVault").
 *
 * This layer validates and classifies JS values, packs batches into one buffer per native call,
 * pages iteration lazily and retries busy files; storage, framing and the write-back cache live
 * in the Rust core (crates/ambervault-core/src/kv).
 */
import { createWriteStream, promises as fsp } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import binding from './native'
import { InvalidArgumentError, NotFoundError, toVaultError } from './errors'
import { onExit } from './exit-hooks'
import { ReadRelease, releaseQueuedReads } from './read-release'
import { busyPolicy, checkCount, retryAfter, retryAsync, retrySync, type BusyOptions, type RetryPolicy } from './retry'
import { decodeValue, Enc, packValue, showKey } from './kv-values'

type NativeKv = InstanceType<typeof binding.NativeKv>
/** The vault with its io exchange, as the single-key calls (`kvGet`, `kvPut`, ...) take it. */
type KvIo = ReturnType<NativeKv['bindIo']>

export type KvKey = string | Uint8Array
/** What `put` accepts and `get` returns. */
export type KvValue = Uint8Array | string | number | bigint | boolean | null | KvValue[] | { [k: string]: KvValue }

export interface KvCacheOptions {
  /** Most bytes the cache holds (default 64 MiB); a bigger value is written through. */
  capBytes?: number
  /** Flush once the cache holds this many bytes (default 16 MiB). */
  flushThreshold?: number
  /** Flush this often while writes are pending (default 1000 ms; 0 disables the timer). */
  flushIntervalMs?: number
}

export interface KVaultOptions extends BusyOptions {
  /** Table name (default 'kv'); a plain SQL identifier. */
  table?: string
  /** Start with the write-back cache on. */
  cache?: false | KvCacheOptions
  /** SQLite synchronous NORMAL (default) or FULL. */
  durability?: 'normal' | 'full'
  readonly?: boolean
  /**
   * Page size of a new file: a power of two from 512 to 65536 (default 32768, the format's).
   * An existing file keeps its own. Every commit writes whole pages, so 4096 makes a single
   * uncached put cheaper; big pages make big values and scans faster.
   */
  pageSize?: number
}

export interface KvIterOptions {
  prefix?: KvKey
  gt?: KvKey
  gte?: KvKey
  lt?: KvKey
  lte?: KvKey
  /** Stop after this many entries (default: no limit). */
  limit?: number
  reverse?: boolean
}

export interface KvKeyIterOptions extends KvIterOptions {
  /** Yield keys as UTF-8 strings instead of Buffers. */
  asString?: boolean
}

const DEFAULT_CACHE = { capBytes: 64 << 20, flushThreshold: 16 << 20, flushIntervalMs: 1000 }
const STREAM_CHUNK = 1 << 20
const FIRST_PAGE = 64
const MAX_PAGE = 2048
/** First size of a vault's io exchange Buffer (see `#io`). */
const IO_BYTES = 64 << 10
/** What the native get returns for a missing key (an encoding no value has). */
const ABSENT = binding.KV_ABSENT
/** The encoding byte of a missing key in a native getMany result. */
const MISSING = binding.KV_MISSING

/**
 * Node's Buffer has `utf8Write` (what `write` calls after parsing its arguments), which
 * @types/node does not list.
 */
type IoBuffer = Buffer & { utf8Write(s: string, offset: number, length?: number): number }

function checkKey(key: unknown, what = 'key'): asserts key is KvKey {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) {
    throw new InvalidArgumentError(`${what} must be a string or Uint8Array, got ${key === null ? 'null' : typeof key}`)
  }
}

function keyBuffer(key: KvKey): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key.buffer, key.byteOffset, key.byteLength)
}

/** Encoding tag and payload for a value (`string` payloads go to the native putString). */
function classify(key: KvKey, value: unknown): [Enc, Uint8Array | string] {
  if (value instanceof Uint8Array) return [Enc.Raw, value]
  if (typeof value === 'string') return [Enc.Utf8, value]
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    throw new InvalidArgumentError(
      `key ${showKey(key)}: cannot store a ${value.constructor.name}; pass bytes as a Buffer/Uint8Array (e.g. Buffer.from(x.buffer, x.byteOffset, x.byteLength))`,
    )
  }
  if (value === undefined) throw new InvalidArgumentError(`key ${showKey(key)}: cannot store undefined (use delete() or null)`)
  return [Enc.MsgPack, packValue(value, key)]
}

/** First size, and largest size kept between calls, of a putMany staging area. */
const STAGING_FIRST = 1 << 20
const STAGING_KEEP = 16 << 20

/**
 * A batch packed for one native call: items (putMany: key 0, value 0, key 1, ...; getMany:
 * the keys) back to back in one growing Buffer, with the end offset of each item and, for
 * putMany, the encoding of each value. Keys and strings are written straight into it, so a
 * batch makes no Buffer per key and no concat.
 */
class Staging {
  #buf = Buffer.allocUnsafeSlow(STAGING_FIRST) as IoBuffer
  #off = 0
  #ends = new Float64Array(256)
  #items = 0
  #encs = new Uint8Array(128)
  #n = 0

  /** A putMany entry. */
  add(key: KvKey, payload: Uint8Array | string, enc: Enc): void {
    if (this.#n === this.#encs.length) {
      const encs = new Uint8Array(this.#encs.length * 2)
      encs.set(this.#encs)
      this.#encs = encs
    }
    this.#end(this.#write(key))
    this.#end(this.#write(payload))
    this.#encs[this.#n++] = enc
  }

  /** A getMany key. */
  addKey(key: KvKey): void {
    this.#end(this.#write(key))
  }

  data(): Buffer {
    return this.#buf.subarray(0, this.#off)
  }

  ends(): Float64Array {
    return this.#ends.subarray(0, this.#items)
  }

  encodings(): Uint8Array {
    return this.#encs.subarray(0, this.#n)
  }

  /** Empty it for the next batch; false when it grew too big to keep. */
  reset(): boolean {
    this.#off = 0
    this.#items = 0
    this.#n = 0
    return this.#buf.length <= STAGING_KEEP
  }

  #end(offset: number): void {
    if (this.#items === this.#ends.length) {
      const ends = new Float64Array(this.#ends.length * 2)
      ends.set(this.#ends)
      this.#ends = ends
    }
    this.#ends[this.#items++] = offset
  }

  /** Append bytes or a string's UTF-8; returns the new end offset. */
  #write(item: Uint8Array | string): number {
    if (typeof item === 'string') {
      this.#room(item.length * 3)
      this.#off += this.#buf.utf8Write(item, this.#off)
    } else {
      this.#room(item.length)
      this.#buf.set(item, this.#off)
      this.#off += item.length
    }
    return this.#off
  }

  #room(bytes: number): void {
    const need = this.#off + bytes
    if (need <= this.#buf.length) return
    let size = this.#buf.length
    while (need > size) size *= 2
    const buf = Buffer.allocUnsafeSlow(size) as IoBuffer
    this.#buf.copy(buf, 0, 0, this.#off)
    this.#buf = buf
  }
}

export class KVault implements Iterable<[Buffer, unknown]> {
  readonly path: string
  readonly table: string
  readonly readonly: boolean
  readonly #n: NativeKv
  readonly #retry: RetryPolicy
  #unhookExit: (() => void) | undefined
  #closed = false
  /**
   * The io exchange, bound once to the native store: single-key calls write the key's bytes at
   * its start and pass only their length, and small values come back after the key, so a call
   * crosses napi with numbers instead of a string or Buffer to convert. Grown for long keys.
   */
  #io!: IoBuffer
  /** The native vault bound to `#io`, for the single-key calls. */
  #kio!: KvIo
  /** String keys up to this many UTF-16 units surely fit in half of io (3 UTF-8 bytes per unit at most). */
  #stringKeyRoom = 0
  /** Length of the key the last #lookup wrote into io. */
  #keyLen = 0
  /** Encoding of the payload the last #payload returned. */
  #encoding = 0
  /** The reusable staging area of putMany (see Staging); absent while a putMany uses it. */
  #staging: Staging | undefined
  /** Ends the read snapshot point reads keep open (see read-release.ts). */
  readonly #reads = new ReadRelease(() => {
    if (!this.#closed) this.#n.releaseRead()
  })

  constructor(filePath: string, options: KVaultOptions = {}) {
    if (typeof filePath !== 'string' || filePath === '') {
      throw new InvalidArgumentError(`KVault path must be a non-empty string, got ${String(filePath)}`)
    }
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('KVault options must be an object')
    const { table = 'kv', cache, durability = 'normal', readonly = false, pageSize } = options
    const { retry, busyTimeoutMs } = busyPolicy(options)
    this.#retry = retry
    if (durability !== 'normal' && durability !== 'full') {
      throw new InvalidArgumentError(`durability must be 'normal' or 'full', got ${String(durability)}`)
    }
    this.path = path.resolve(filePath)
    this.table = table
    this.readonly = Boolean(readonly)
    this.#n = retrySync(this.#retry, () => new binding.NativeKv(this.path, {
      table,
      readonly: this.readonly,
      durability,
      busyTimeoutMs,
      pageSize,
    }))
    this.#bindIo(IO_BYTES)
    if (cache) this.enableCache(cache === (true as unknown) ? {} : cache)
  }

  #bindIo(bytes: number): void {
    const io = Buffer.allocUnsafeSlow(bytes) as IoBuffer
    this.#kio = this.#n.bindIo(io)
    this.#io = io
    this.#stringKeyRoom = Math.floor(bytes / 6)
  }

  /** Write the key's bytes at the start of io (growing io when the key is over half of it); returns their count. */
  #writeKey(key: KvKey): number {
    if (typeof key === 'string') {
      if (key.length > this.#stringKeyRoom) this.#fitKey(Buffer.byteLength(key, 'utf8'))
      return this.#io.utf8Write(key, 0)
    }
    if (key.length > this.#io.length >>> 1) this.#fitKey(key.length)
    this.#io.set(key, 0)
    return key.length
  }

  /** Make io at least twice a key of `bytes` bytes, so values still have room after it. */
  #fitKey(bytes: number): void {
    let size = this.#io.length
    while (bytes > size >>> 1) size *= 2
    if (size !== this.#io.length) this.#bindIo(size)
  }

  #call<T>(fn: (n: NativeKv) => T): T {
    return retrySync(this.#retry, () => fn(this.#n))
  }

  /**
   * Look `key` up: the native result is `len << 3 | encoding` for a payload it copied into io
   * after the key (which is `#keyLen` bytes), ABSENT, or a Buffer of its own for a big payload
   * (encoding in io[0]).
   */
  #lookup(key: KvKey): number | Buffer {
    this.#reads.soon()
    const keyLen = (this.#keyLen = this.#writeKey(key))
    try {
      return binding.kvGet(this.#kio, keyLen)
    } catch (e) {
      return retryAfter(this.#retry, e, () => {
        const len = this.#writeKey(key)
        return binding.kvGet(this.#kio, len)
      })
    }
  }

  /** A payload of its own for a #lookup result (its encoding in `#encoding`), or null. */
  #payload(r: number | Buffer): Buffer | null {
    if (typeof r !== 'number') {
      this.#encoding = this.#io[0]
      return r
    }
    if (r === ABSENT) return null
    this.#encoding = r & 7
    const start = this.#keyLen
    const out = Buffer.allocUnsafe(r >>> 3)
    this.#io.copy(out, 0, start, start + out.length)
    return out
  }

  // ---- single keys ----------------------------------------------------------------------

  /** The value stored under `key` (decoded), or `undefined`. */
  get(key: KvKey): unknown {
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) checkKey(key)
    const r = this.#lookup(key)
    if (typeof r === 'number' && (r & 7) === Enc.Utf8) {
      // Text is decoded straight out of io, without a payload copy.
      return this.#io.toString('utf8', this.#keyLen, this.#keyLen + (r >>> 3))
    }
    const payload = this.#payload(r)
    if (payload === null) return undefined
    const enc = this.#encoding
    return enc === Enc.Raw ? payload : decodeValue(enc, payload, key)
  }

  /** The stored payload bytes of `key` (header removed), or `undefined`. */
  getBytes(key: KvKey): Buffer | undefined {
    checkKey(key)
    return this.#payload(this.#lookup(key)) ?? undefined
  }

  /** Store a value (Map style); returns this. */
  set(key: KvKey, value: KvValue): this {
    this.put(key, value)
    return this
  }

  /** Store a value: bytes raw, strings as UTF-8, everything else as MessagePack. */
  put(key: KvKey, value: KvValue): void {
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) checkKey(key)
    if (value instanceof Uint8Array) return this.#put(key, value, Enc.Raw)
    if (typeof value === 'string') return this.#putString(key, value)
    const [enc, payload] = classify(key, value)
    this.#put(key, payload as Uint8Array, enc)
  }

  /** The hot path of put(): the binding is called directly, the retry only built on failure. */
  #put(key: KvKey, payload: Uint8Array, enc: Enc): void {
    try {
      // The key first: a long one grows io, and #kio with it.
      const len = this.#writeKey(key)
      binding.kvPut(this.#kio, len, payload, enc)
    } catch (e) {
      retryAfter(this.#retry, e, () => {
        const len = this.#writeKey(key)
        binding.kvPut(this.#kio, len, payload, enc)
      })
    }
  }

  /**
   * A string value is encoded into io after the key. One that might not fit in the half of io a
   * key leaves free (keys never take more) goes as its own Buffer, decided before the key is written.
   */
  #putString(key: KvKey, value: string): void {
    if (value.length * 3 > this.#io.length >>> 1) return this.#put(key, Buffer.from(value, 'utf8'), Enc.Utf8)
    const keyLen = this.#writeKey(key)
    try {
      binding.kvPutString(this.#kio, keyLen, this.#io.utf8Write(value, keyLen))
    } catch (e) {
      retryAfter(this.#retry, e, () => {
        const k = this.#writeKey(key)
        binding.kvPutString(this.#kio, k, this.#io.utf8Write(value, k))
      })
    }
  }

  has(key: KvKey): boolean {
    if (typeof key !== 'string' && !(key instanceof Uint8Array)) checkKey(key)
    this.#reads.soon()
    try {
      const len = this.#writeKey(key)
      return binding.kvHas(this.#kio, len)
    } catch (e) {
      return retryAfter(this.#retry, e, () => {
        const len = this.#writeKey(key)
        return binding.kvHas(this.#kio, len)
      })
    }
  }

  /** Remove `key`; true when it was there. */
  delete(key: KvKey): boolean {
    checkKey(key)
    return this.#call(() => {
      const len = this.#writeKey(key)
      return binding.kvDelete(this.#kio, len)
    })
  }

  /** Number of keys. */
  get size(): number {
    return this.#call((n) => n.size())
  }

  /** Remove every key. */
  clear(): void {
    this.#call((n) => n.clear())
  }

  // ---- batches --------------------------------------------------------------------------

  /** Store many entries in one transaction: all of them or none. Returns the count. */
  putMany(entries: Iterable<readonly [KvKey, KvValue]> | Map<KvKey, KvValue>): number {
    if (entries === null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new InvalidArgumentError('putMany expects an iterable of [key, value] pairs')
    }
    // Keys and values are written straight into one staging area (no Buffer per key, no concat);
    // it is taken out of the vault for the call, so a putMany run from inside `entries` gets its own.
    const st = this.#staging ?? new Staging()
    this.#staging = undefined
    try {
      let i = 0
      for (const entry of entries) {
        if (!Array.isArray(entry) || entry.length < 2) throw new InvalidArgumentError(`putMany entry ${i} is not a [key, value] pair`)
        const [key, value] = entry
        checkKey(key, `putMany entry ${i} key`)
        const [enc, payload] = classify(key, value)
        st.add(key, payload, enc)
        i++
      }
      return this.#call((n) => n.putMany(st.data(), st.ends(), st.encodings()))
    } finally {
      if (st.reset()) this.#staging = st
    }
  }

  /** Values of many keys (undefined where absent), read in one transaction. */
  getMany(keys: Iterable<KvKey>): unknown[] {
    if (keys === null || typeof (keys as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new InvalidArgumentError('getMany expects an iterable of keys')
    }
    // The keys go through the staging area of putMany (see there).
    const st = this.#staging ?? new Staging()
    this.#staging = undefined
    const list: KvKey[] = []
    let packed: Buffer
    try {
      for (const key of keys) {
        checkKey(key, `getMany key ${list.length}`)
        st.addKey(key)
        list.push(key)
      }
      this.#reads.soon()
      packed = this.#call((n) => n.getMany(st.data(), st.ends()))
    } finally {
      if (st.reset()) this.#staging = st
    }
    const out: unknown[] = new Array(list.length)
    let off = 0
    for (let j = 0; j < list.length; j++) {
      const enc = packed[off]
      const len = packed.readUInt32LE(off + 1)
      off += 5
      out[j] = enc === MISSING ? undefined : decodeValue(enc, packed.subarray(off, off + len), list[j])
      off += len
    }
    return out
  }

  // ---- iteration ------------------------------------------------------------------------

  /** Pages of (key, value?) read lazily by keyset: one native call per page, no silent cap. */
  *#scan(opts: KvIterOptions, withValues: boolean): Generator<[Buffer, unknown]> {
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('iteration options must be an object')
    const range: Record<string, Buffer | boolean | undefined> = { reverse: Boolean(opts.reverse) }
    for (const name of ['prefix', 'gt', 'gte', 'lt', 'lte'] as const) {
      const b = opts[name]
      if (b !== undefined) {
        checkKey(b, `iteration option ${name}`)
        range[name] = keyBuffer(b)
      }
    }
    let remaining = opts.limit === undefined ? Infinity : checkCount(opts.limit, 'limit')
    let after: Buffer | undefined
    let page = FIRST_PAGE
    while (remaining > 0) {
      const want = Math.min(page, remaining)
      const buf = this.#call((n) => n.scan(range, after, want, withValues))
      let off = 0
      let got = 0
      while (off < buf.length) {
        const klen = buf.readUInt32LE(off)
        const key = buf.subarray(off + 4, off + 4 + klen)
        off += 4 + klen
        let value: unknown
        if (withValues) {
          const enc = buf[off]
          const vlen = buf.readUInt32LE(off + 1)
          value = decodeValue(enc, buf.subarray(off + 5, off + 5 + vlen), key)
          off += 5 + vlen
        }
        after = key
        got++
        yield [key, value]
      }
      remaining -= got
      if (got < want) return
      page = Math.min(page * 2, MAX_PAGE)
    }
  }

  keys(opts: KvKeyIterOptions & { asString: true }): Generator<string>
  keys(opts?: KvKeyIterOptions): Generator<Buffer>
  *keys(opts: KvKeyIterOptions = {}): Generator<Buffer | string> {
    for (const [k] of this.#scan(opts, false)) yield opts.asString ? k.toString('utf8') : k
  }

  *values(opts: KvIterOptions = {}): Generator<unknown> {
    for (const [, v] of this.#scan(opts, true)) yield v
  }

  entries(opts: KvKeyIterOptions & { asString: true }): Generator<[string, unknown]>
  entries(opts?: KvKeyIterOptions): Generator<[Buffer, unknown]>
  *entries(opts: KvKeyIterOptions = {}): Generator<[Buffer | string, unknown]> {
    for (const [k, v] of this.#scan(opts, true)) yield [opts.asString ? k.toString('utf8') : k, v]
  }

  [Symbol.iterator](): Iterator<[Buffer, unknown]> {
    return this.entries()
  }

  forEach(callback: (value: unknown, key: Buffer, vault: this) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) callback.call(thisArg, v, k, this)
  }

  // ---- streams --------------------------------------------------------------------------

  /** Store a file's bytes under `key` (incremental BLOB I/O, off the JS thread). Resolves to the byte count. */
  async putFile(key: KvKey, filePath: string): Promise<number> {
    checkKey(key)
    if (typeof filePath !== 'string') throw new InvalidArgumentError('putFile: filePath must be a string')
    return retryAsync(this.#retry, () => this.#n.putFile(key, path.resolve(filePath)))
  }

  /**
   * Store a stream's bytes under `key`. The source is spooled to a temporary file first, so the
   * database write is one short transaction that never waits on the producer.
   */
  async putStream(key: KvKey, source: Readable | AsyncIterable<Uint8Array>, opts: { size?: number } = {}): Promise<number> {
    checkKey(key)
    if (source === null || typeof source !== 'object' || typeof (source as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function') {
      throw new InvalidArgumentError(`putStream key ${showKey(key)}: source must be a Readable or an async iterable of Uint8Array`)
    }
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ambervault-'))
    const spool = path.join(dir, 'value')
    try {
      let seen = 0
      const counted = async function* () {
        for await (const chunk of source as AsyncIterable<unknown>) {
          if (!(chunk instanceof Uint8Array)) {
            throw new InvalidArgumentError(`putStream key ${showKey(key)}: chunks must be Uint8Array, got ${typeof chunk}`)
          }
          seen += chunk.byteLength
          yield chunk
        }
      }
      await pipeline(counted(), createWriteStream(spool))
      if (opts.size !== undefined && opts.size !== seen) {
        throw new InvalidArgumentError(`putStream key ${showKey(key)}: expected ${opts.size} bytes, the source gave ${seen}; nothing was stored`)
      }
      return await this.putFile(key, spool)
    } catch (e) {
      throw toVaultError(e)
    } finally {
      await fsp.rm(dir, { recursive: true, force: true })
    }
  }

  /** A Readable over the bytes of `key` (a consistent snapshot, read in 1 MiB chunks off the JS thread). */
  getStream(key: KvKey): Readable {
    checkKey(key)
    const reader = this.#call((n) => n.openReader(key))
    if (reader === null) throw new NotFoundError(`${this.path}: key ${showKey(key)} not found`)
    return new Readable({
      highWaterMark: STREAM_CHUNK,
      read() {
        reader.read(STREAM_CHUNK).then(
          (chunk) => this.push(chunk.length > 0 ? chunk : null),
          (e) => this.destroy(toVaultError(e) as Error),
        )
      },
      destroy(err, cb) {
        reader.close()
        cb(err)
      },
    })
  }

  /** Write the bytes of `key` to a file. Resolves to the byte count; `NotFoundError` if absent. */
  async getToFile(key: KvKey, filePath: string): Promise<number> {
    checkKey(key)
    if (typeof filePath !== 'string') throw new InvalidArgumentError('getToFile: filePath must be a string')
    const n = await retryAsync(this.#retry, () => this.#n.getToFile(key, path.resolve(filePath)))
    if (n < 0) throw new NotFoundError(`${this.path}: key ${showKey(key)} not found`)
    return n
  }

  // ---- write-back cache -----------------------------------------------------------------

  /** Buffer writes in memory (in Rust) and write them in batched transactions. */
  enableCache(opts: KvCacheOptions = {}): void {
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('cache options must be an object')
    const capBytes = checkCount(opts.capBytes ?? DEFAULT_CACHE.capBytes, 'capBytes')
    const flushThreshold = checkCount(opts.flushThreshold ?? Math.min(DEFAULT_CACHE.flushThreshold, capBytes), 'flushThreshold')
    const intervalMs = checkCount(opts.flushIntervalMs ?? DEFAULT_CACHE.flushIntervalMs, 'flushIntervalMs')
    // The core's flusher thread writes pending entries every intervalMs, also while JS is busy.
    this.#call((n) => n.enableCache(capBytes, flushThreshold, intervalMs))
    this.#unhookExit ??= onExit(() => this.#flushOnExit())
  }

  /** Flush and stop caching. */
  disableCache(): void {
    this.#call((n) => n.disableCache())
    this.#unhookExit?.()
    this.#unhookExit = undefined
  }

  /** Write pending cached entries now (one transaction); returns how many. */
  flushCache(): number {
    return this.#call((n) => n.flushCache())
  }

  /** Run `fn` with the cache on, then flush (even if `fn` throws) and restore the previous state. */
  withCache<T>(fn: (kv: this) => T, opts?: KvCacheOptions): T {
    const wasOn = this.#call((n) => n.cacheEnabled())
    if (!wasOn) this.enableCache(opts)
    const finish = () => {
      if (wasOn) this.flushCache()
      else this.disableCache()
    }
    let result: T
    try {
      result = fn(this)
    } catch (e) {
      finish()
      throw e
    }
    if (result instanceof Promise) {
      return result.finally(finish) as T
    }
    finish()
    return result
  }

  #flushOnExit(): void {
    if (!this.#closed) this.close()
  }

  // ---- maintenance ----------------------------------------------------------------------

  /** Merge the WAL into the main file. */
  checkpoint(): void {
    releaseQueuedReads()
    this.#call((n) => n.checkpoint())
  }

  /** Flush, update planner statistics and VACUUM, off the JS thread. */
  async optimize(): Promise<void> {
    releaseQueuedReads()
    await retryAsync(this.#retry, () => this.#n.optimize())
  }

  /** Flush the cache and close. Closing twice is a no-op. */
  close(): void {
    if (this.#closed) return
    this.#call((n) => n.close())
    this.#closed = true
    this.#unhookExit?.()
    this.#unhookExit = undefined
  }

  get closed(): boolean {
    return this.#closed
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
