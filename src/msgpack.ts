/**
 * JS values as MessagePack: the one encoder for KV values, DataPacker documents (msgpack, cbor,
 * vectors given as arrays) and column documents, and the one place where a JS number gets its
 * MessagePack type (docs/format.md, "What JS numbers become"):
 *
 * - a safe integer (Number.isSafeInteger) other than -0 is an integer, in its smallest form;
 * - every other number (-0, NaN, ±Infinity, fractions, integers beyond 2^53 − 1) is a float 64.
 *
 * So Python reads `int` for 2 ** 53 − 1 and `float` for 1.5 and -0.0, and every number comes
 * back in JS as the same number. The core checks and re-emits documents without retyping their
 * numbers (packer/packed.rs), so this rule is not repeated there.
 *
 * Also written: strings as UTF-8 (lone surrogates as U+FFFD, as every other conversion of a JS
 * string), booleans, null, arrays (holes and undefined items as nil), plain objects as maps
 * (own enumerable properties; undefined ones skipped, as JSON does), `bigint` as an integer
 * (refused beyond 64 bits), `Uint8Array` as bin. Anything else (a Date, Map, class instance,
 * function, ...) and nesting deeper than MAX_DEPTH is an InvalidArgumentError.
 */
import { InvalidArgumentError } from './errors'

/** Containers nested deeper are refused (the core takes 512 levels). */
export const MAX_DEPTH = 500

/** Thrown by a fixed-size writer whose document does not fit; not an error. */
export const NO_ROOM = Symbol('no room')

const TWO_32 = 0x1_0000_0000
/** A new encoding buffer; larger ones are not kept between documents. */
const BUF_SIZE = 64 << 10

/** Write `v` at `p` of `b` (9 bytes of room, checked by the caller) by the rule above; returns the end. */
export function writeNumber(b: Buffer, view: DataView, p: number, v: number): number {
  if (Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) {
    if (v >= 0) {
      if (v < 0x80) {
        b[p] = v
        return p + 1
      }
      if (v < 0x100) {
        b[p] = 0xcc
        b[p + 1] = v
        return p + 2
      }
      if (v < 0x10000) {
        b[p] = 0xcd
        view.setUint16(p + 1, v)
        return p + 3
      }
      if (v < TWO_32) {
        b[p] = 0xce
        view.setUint32(p + 1, v)
        return p + 5
      }
      b[p] = 0xcf
      view.setUint32(p + 1, Math.floor(v / TWO_32))
      view.setUint32(p + 5, v >>> 0)
      return p + 9
    }
    if (v >= -32) {
      b[p] = v & 0xff
      return p + 1
    }
    if (v >= -0x80) {
      b[p] = 0xd0
      b[p + 1] = v & 0xff
      return p + 2
    }
    if (v >= -0x8000) {
      b[p] = 0xd1
      view.setInt16(p + 1, v)
      return p + 3
    }
    if (v >= -0x8000_0000) {
      b[p] = 0xd2
      view.setInt32(p + 1, v)
      return p + 5
    }
    b[p] = 0xd3
    view.setInt32(p + 1, Math.floor(v / TWO_32))
    view.setUint32(p + 5, v >>> 0)
    return p + 9
  }
  b[p] = 0xcb
  view.setFloat64(p + 1, v)
  return p + 9
}

const I64_MIN = -(2n ** 63n)
const U64_MAX = 2n ** 64n - 1n
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)

export function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

export class MsgpackWriter {
  #buf: Buffer
  #view: DataView
  /** Where the document being written began, and where the next byte goes. */
  #start = 0
  #pos = 0
  readonly #fixed: boolean

  /** A `fixed` writer never grows: a document that does not fit throws NO_ROOM. */
  constructor(size = BUF_SIZE, fixed = false) {
    this.#fixed = fixed
    this.#buf = Buffer.allocUnsafeSlow(size)
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length)
  }

  /** One document as bytes of its own: a view that later calls never write over. */
  encode(v: unknown): Buffer {
    this.#start = this.#pos
    if (this.#buf.length - this.#pos < 64 || this.#buf.length > BUF_SIZE) this.#fresh(BUF_SIZE)
    this.append(v)
    return this.#buf.subarray(this.#start, this.#pos)
  }

  /** Write one document after those written since `clear`; returns where it ends. On a throw
   *  nothing of it is kept. */
  append(v: unknown): number {
    this.#start = this.#pos
    try {
      this.#value(v, 0)
    } catch (e) {
      this.#pos = this.#start
      throw e
    }
    return this.#pos
  }

  /** The documents appended since `clear` (a view, valid until the next append). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#pos)
  }

  clear(): void {
    this.#start = this.#pos = 0
  }

  /** A new buffer of at least `size` bytes, holding the document in progress. */
  #fresh(size: number): void {
    const old = this.#buf
    const part = this.#pos - this.#start
    this.#buf = Buffer.allocUnsafeSlow(Math.max(size, BUF_SIZE))
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length)
    old.copy(this.#buf, 0, this.#start, this.#pos)
    this.#start = 0
    this.#pos = part
  }

  #room(n: number): void {
    if (this.#pos + n <= this.#buf.length) return
    if (this.#fixed) throw NO_ROOM
    this.#fresh(2 * (this.#pos - this.#start + n))
  }

  #byte(x: number): void {
    this.#room(1)
    this.#buf[this.#pos++] = x
  }

  #value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'number':
        this.#room(9)
        this.#pos = writeNumber(this.#buf, this.#view, this.#pos, v)
        return
      case 'string':
        return this.#string(v)
      case 'boolean':
        return this.#byte(v ? 0xc3 : 0xc2)
      case 'bigint':
        return this.#bigint(v)
      case 'undefined':
        return this.#byte(0xc0)
      case 'object':
        break
      default:
        throw new InvalidArgumentError(`a ${typeof v} has no MessagePack form`)
    }
    if (v === null) return this.#byte(0xc0)
    if (depth >= MAX_DEPTH) throw new InvalidArgumentError(`value is nested more than ${MAX_DEPTH} levels deep`)
    if (Array.isArray(v)) {
      const n = v.length
      this.#header(n, 0x90, 0xdc)
      for (let i = 0; i < n; i++) this.#value(v[i], depth + 1)
      return
    }
    if (v instanceof Uint8Array) {
      const n = v.length
      this.#room(5 + n)
      const b = this.#buf
      if (n < 0x100) {
        b[this.#pos++] = 0xc4
        b[this.#pos++] = n
      } else if (n < 0x10000) {
        b[this.#pos] = 0xc5
        this.#view.setUint16(this.#pos + 1, n)
        this.#pos += 3
      } else {
        b[this.#pos] = 0xc6
        this.#view.setUint32(this.#pos + 1, n)
        this.#pos += 5
      }
      b.set(v, this.#pos)
      this.#pos += n
      return
    }
    if (!isPlainObject(v)) {
      throw new InvalidArgumentError(
        `a ${v.constructor?.name ?? 'object'} has no MessagePack form (use plain objects, arrays, strings, numbers, booleans, null or bytes)`,
      )
    }
    const o = v as Record<string, unknown>
    const keys = Object.keys(o)
    let n = 0
    for (let i = 0; i < keys.length; i++) if (o[keys[i]] !== undefined) n++
    this.#header(n, 0x80, 0xde)
    for (let i = 0; i < keys.length; i++) {
      const x = o[keys[i]]
      if (x === undefined) continue
      this.#string(keys[i])
      this.#value(x, depth + 1)
    }
  }

  /** An array or map header: fix form below 16 entries, else 16- or 32-bit (`m16`, `m16 + 1`). */
  #header(n: number, fix: number, m16: number): void {
    this.#room(5)
    const b = this.#buf
    const p = this.#pos
    if (n < 16) {
      b[p] = fix | n
      this.#pos = p + 1
    } else if (n < 0x10000) {
      b[p] = m16
      this.#view.setUint16(p + 1, n)
      this.#pos = p + 3
    } else {
      b[p] = m16 + 1
      this.#view.setUint32(p + 1, n)
      this.#pos = p + 5
    }
  }

  #bigint(v: bigint): void {
    if (v >= SAFE_MIN && v <= SAFE_MAX) {
      this.#room(9)
      this.#pos = writeNumber(this.#buf, this.#view, this.#pos, Number(v))
      return
    }
    if (v < I64_MIN || v > U64_MAX) throw new InvalidArgumentError(`bigint ${v} does not fit in 64 bits`)
    this.#room(9)
    const p = this.#pos
    if (v < 0n) {
      this.#buf[p] = 0xd3
      this.#view.setBigInt64(p + 1, v)
    } else {
      this.#buf[p] = 0xcf
      this.#view.setBigUint64(p + 1, v)
    }
    this.#pos = p + 9
  }

  /** UTF-8 with the smallest header for its byte length. */
  #string(s: string): void {
    const n = s.length
    if (n < 32) {
      // Short ASCII strings byte by byte (most keys and tags); others through Buffer.write.
      this.#room(1 + n)
      const b = this.#buf
      const p = this.#pos
      let k = 0
      for (; k < n; k++) {
        const c = s.charCodeAt(k)
        if (c >= 0x80) break
        b[p + 1 + k] = c
      }
      if (k === n) {
        b[p] = 0xa0 | n
        this.#pos = p + 1 + n
        return
      }
    }
    const len = Buffer.byteLength(s, 'utf8')
    this.#room(5 + len)
    const b = this.#buf
    const p = this.#pos
    let h: number
    if (len < 32) {
      b[p] = 0xa0 | len
      h = 1
    } else if (len < 0x100) {
      b[p] = 0xd9
      b[p + 1] = len
      h = 2
    } else if (len < 0x10000) {
      b[p] = 0xda
      this.#view.setUint16(p + 1, len)
      h = 3
    } else {
      b[p] = 0xdb
      this.#view.setUint32(p + 1, len)
      h = 5
    }
    b.write(s, p + h, len, 'utf8')
    this.#pos = p + h + len
  }
}
