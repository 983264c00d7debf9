/**
 * Cached single appends to an unsized msgpack column, held in JS until the column drains them.
 * Each document is encoded here at its own `append` call (so a later change to the value does
 * not leak in) and the batch goes to the core in one call, which checks and re-emits every
 * document as it does for any packed batch (packed.rs).
 *
 * Only JSON-like values are encoded here: numbers, booleans, null, well-formed strings and
 * keys, arrays and plain objects (own enumerable properties; undefined ones skipped, as the
 * other paths do), nested no deeper than MAX_DEPTH. Those are sure to pass the core's check, so
 * nothing held can be refused later. For anything else `add` says NOT_PLAIN and the column sends the
 * value on its own (msgpackr, then the core), where it is accepted or refused at its own call.
 *
 * Why not msgpackr here: its per-call set-up costs several times the encoding of a small
 * document, and a check of the value would walk it a second time. Encoding and checking are
 * one walk here.
 */

/** Bytes held before the column drains (a larger document goes on its own). */
const STAGE_BYTES = 1 << 20
/** Documents held before the column drains. */
export const STAGE_DOCS = 8192
/** Deeper documents go on their own (the core takes 512 levels). */
const MAX_DEPTH = 64

export const HELD = 0
/** Not enough room left: drain and try again (a document alone never fits: send it on its own). */
export const NO_ROOM = 1
export const NOT_PLAIN = 2

export class DocStage {
  readonly #buf = Buffer.allocUnsafe(STAGE_BYTES)
  readonly #view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.length)
  readonly #ends = new Uint32Array(STAGE_DOCS)
  /** Documents held. */
  count = 0
  #pos = 0
  #room = true

  /** Encode `v` after the held documents. Nothing is held unless this returns HELD. */
  add(v: unknown): number {
    const start = this.count === 0 ? 0 : this.#ends[this.count - 1]
    this.#pos = start
    this.#room = true
    if (!this.#value(v, 0)) {
      this.#pos = start
      return this.#room ? NOT_PLAIN : NO_ROOM
    }
    this.#ends[this.count++] = this.#pos
    return HELD
  }

  /** The held documents and their ends (views, valid until the next `add`); empties the stage. */
  take(): { bytes: Buffer; ends: Uint32Array } {
    const n = this.count
    this.count = 0
    return { bytes: this.#buf.subarray(0, n === 0 ? 0 : this.#ends[n - 1]), ends: this.#ends.subarray(0, n) }
  }

  /** Whether `n` more bytes fit; when not, the document in progress is abandoned. */
  #fits(n: number): boolean {
    if (this.#pos + n <= STAGE_BYTES) return true
    this.#room = false
    return false
  }

  #value(v: unknown, depth: number): boolean {
    switch (typeof v) {
      case 'number':
        return this.#number(v)
      case 'boolean':
        if (!this.#fits(1)) return false
        this.#buf[this.#pos++] = v ? 0xc3 : 0xc2
        return true
      case 'string':
        return (v as WellFormed).isWellFormed() && this.#string(v)
      case 'object':
        break
      default:
        return false
    }
    if (v === null) {
      if (!this.#fits(1)) return false
      this.#buf[this.#pos++] = 0xc0
      return true
    }
    if (depth === MAX_DEPTH) return false
    if (Array.isArray(v)) {
      const n = v.length
      if (!this.#header(n, 0x90, 0xdc)) return false
      for (let i = 0; i < n; i++) if (!this.#value(v[i], depth + 1)) return false // holes are undefined: not plain
      return true
    }
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) return false
    return this.#object(v as Record<string, unknown>, depth)
  }

  #object(o: Record<string, unknown>, depth: number): boolean {
    // The entry count is known once undefined values are skipped: a one-byte header is
    // written first and widened afterwards if needed.
    const at = this.#pos
    if (!this.#fits(1)) return false
    this.#pos++
    let n = 0
    const keys = Object.keys(o)
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]
      const x = o[k]
      if (x === undefined) continue
      if (!((k as WellFormed).isWellFormed() && this.#string(k) && this.#value(x, depth + 1))) return false
      n++
    }
    const h = headerSize(n)
    if (h > 1) {
      if (!this.#fits(h - 1)) return false
      this.#buf.copyWithin(at + h, at + 1, this.#pos)
      this.#pos += h - 1
    }
    this.#headerAt(at, n, 0x80, 0xde)
    return true
  }

  /** An array or map header at the end: see `#headerAt`. */
  #header(n: number, fix: number, m16: number): boolean {
    if (!this.#fits(5)) return false
    this.#headerAt(this.#pos, n, fix, m16)
    this.#pos += headerSize(n)
    return true
  }

  /** An array or map header at `at` (room checked): fix form below 16 entries, else 16- or
   *  32-bit (`m16`, `m16 + 1`). */
  #headerAt(at: number, n: number, fix: number, m16: number): void {
    if (n < 16) this.#buf[at] = fix | n
    else if (n < 0x10000) {
      this.#buf[at] = m16
      this.#view.setUint16(at + 1, n)
    } else {
      this.#buf[at] = m16 + 1
      this.#view.setUint32(at + 1, n)
    }
  }

  /** Integers within 32 bits in their smallest form, other numbers as float 64 (the core
   *  turns integral ones into integers, as it does for msgpackr's output). */
  #number(v: number): boolean {
    if (!this.#fits(9)) return false
    const b = this.#buf
    const p = this.#pos
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff) {
      if (v >= 0) {
        if (v < 0x80) {
          b[p] = v
          this.#pos = p + 1
        } else if (v < 0x100) {
          b[p] = 0xcc
          b[p + 1] = v
          this.#pos = p + 2
        } else if (v < 0x10000) {
          b[p] = 0xcd
          this.#view.setUint16(p + 1, v)
          this.#pos = p + 3
        } else {
          b[p] = 0xce
          this.#view.setUint32(p + 1, v)
          this.#pos = p + 5
        }
      } else if (v >= -32) {
        b[p] = v & 0xff
        this.#pos = p + 1
      } else if (v >= -0x80) {
        b[p] = 0xd0
        b[p + 1] = v & 0xff
        this.#pos = p + 2
      } else if (v >= -0x8000) {
        b[p] = 0xd1
        this.#view.setInt16(p + 1, v)
        this.#pos = p + 3
      } else {
        b[p] = 0xd2
        this.#view.setInt32(p + 1, v)
        this.#pos = p + 5
      }
      return true
    }
    b[p] = 0xcb
    this.#view.setFloat64(p + 1, v)
    this.#pos = p + 9
    return true
  }

  /** A well-formed string as UTF-8 with the smallest header for its byte length. */
  #string(s: string): boolean {
    const n = s.length
    const b = this.#buf
    if (n < 32) {
      // Short ASCII strings byte by byte (most keys and tags); others through utf8Write.
      if (!this.#fits(1 + n)) return false
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
        return true
      }
    }
    const len = Buffer.byteLength(s, 'utf8')
    if (!this.#fits(5 + len)) return false
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
    return true
  }
}

/** Bytes of an array or map header for `n` entries. */
function headerSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5
}

/** String.prototype.isWellFormed (Node 20), missing from the ES2022 lib declarations. */
type WellFormed = string & { isWellFormed(): boolean }
