/**
 * The bucket format of one sealed chunk of scalar points: four f64 columns (step, globalStep,
 * timestamp, value) coded one by one, so steps and timestamps (integers in practice) cost about a
 * byte a point, while any f64 bit pattern in any column (NaN payloads, -0, fractions, ±Infinity)
 * still comes back bit-exact.
 *
 * Layout, integers as unsigned LEB128 varints unless said otherwise:
 *   'A' 'C' version   count   per column (in the order above): codec byte, payload length
 *   the four payloads   CRC-32 of all bytes before it (u32 little-endian)
 * A codec byte is a kind in its low 7 bits, with bit 7 set when the payload is raw-deflated:
 * - INT: every value an integer within ±2^50 and none -0, so every delta below is exact:
 *   zigzag(first), then (when count > 1) zigzag(smallest delta) and, per following point,
 *   delta − smallest delta. Steps that go +1 are then all zero bytes and ms timestamps one byte.
 * - FLOAT: per value, its bit pattern − the previous one's, as 64-bit integers mod 2^64, stored
 *   as magnitude << 1 | sign: close values of one sign have close patterns, so the high bytes
 *   become 0 (unlike XOR, a small difference that carries across a byte costs no more bits; on
 *   a random walk ~0.45 B a value less than XOR), float32-cast values keep their 29 zero low
 *   bits, repeats are all 0.
 *   Stored as 8 byte planes (all the least significant bytes, then the next, ...) for deflate.
 * A payload is deflated only when that makes it smaller (random bits stay as they are).
 *
 * The count is capped (MAX_CHUNK_POINTS) and every length is checked against the bytes present
 * before anything is allocated, so a bad object fails with a CorruptDataError instead of a huge
 * allocation or a wrong answer; the CRC turns a flipped bit in a raw payload into that error too.
 */
import * as zlib from 'node:zlib'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { CorruptDataError, InvalidArgumentError } from '../../errors'

/** The columns of a run of points, all the same length. */
export interface PointColumns {
  step: Float64Array
  globalStep: Float64Array
  timestamp: Float64Array
  value: Float64Array
}

/** Points one chunk may hold (a decoder refuses a count above it before allocating). */
export const MAX_CHUNK_POINTS = 1 << 20

const COLUMNS = ['step', 'globalStep', 'timestamp', 'value'] as const
const MAGIC0 = 0x41 // 'A'
const MAGIC1 = 0x43 // 'C'
const VERSION = 1
const KIND_INT = 1
const KIND_FLOAT = 2
const DEFLATED = 0x80
/** Within ±2^50, a delta minus the smallest one is at most 2^52: exact in an f64, at most 8 varint bytes. */
const INT_LIMIT = 2 ** 50
/** Shorter payloads skip deflate: it seldom saves a byte there, and each call costs microseconds. */
const MIN_DEFLATE = 32
/**
 * zlib's default. Measured on 4096-point chunks: level 1 is 3-8% bigger on loss-like values and
 * no faster on typical ones (only near-constant columns go twice as fast, from 6.6M points/s);
 * level 9 saves under 1% more and slows near-constant columns tenfold (to 0.8M points/s).
 */
const DEFLATE_LEVEL = 6

/** Which 32-bit half of an f64 is the high one on this machine (every napi target is little-endian). */
const HI = new Uint32Array(new Float64Array([-0]).buffer)[1] === 0x80000000 ? 1 : 0
const LO = 1 - HI

/** The point count of `cols`, after checking it holds four equally long Float64Arrays. */
export function pointCount(cols: PointColumns): number {
  if (cols === null || typeof cols !== 'object') throw new InvalidArgumentError('point columns must be an object of Float64Arrays')
  const n = (cols.step as unknown) instanceof Float64Array ? cols.step.length : -1
  for (const k of COLUMNS) {
    const c = cols[k] as unknown
    if (!(c instanceof Float64Array)) throw new InvalidArgumentError(`point column ${k} must be a Float64Array`)
    if (c.length !== n) throw new InvalidArgumentError(`point columns differ in length (step ${n}, ${k} ${c.length})`)
  }
  return n
}

/**
 * `deflate: false` skips the deflate pass (a few times faster, about half again as big): for the
 * short-lived tail rows a chunk is re-encoded from when it is sealed.
 */
export function encodeChunk(cols: PointColumns, opts: { deflate?: boolean } = {}): Buffer {
  const deflate = opts.deflate ?? true
  const n = pointCount(cols)
  if (n > MAX_CHUNK_POINTS) throw new InvalidArgumentError(`a chunk holds at most ${MAX_CHUNK_POINTS} points (got ${n})`)
  const codecs: number[] = []
  const payloads: Uint8Array[] = []
  let size = 3 + varintSize(n) + 4
  for (const k of COLUMNS) {
    const col = cols[k]
    let kind = KIND_FLOAT
    let payload: Uint8Array
    if (isIntColumn(col)) {
      kind = KIND_INT
      payload = encodeInts(col)
    } else {
      payload = encodeFloats(col)
    }
    if (deflate && payload.length >= MIN_DEFLATE) {
      const z = deflateRawSync(payload, { level: DEFLATE_LEVEL })
      if (z.length < payload.length) {
        kind |= DEFLATED
        payload = z
      }
    }
    codecs.push(kind)
    payloads.push(payload)
    size += 1 + varintSize(payload.length) + payload.length
  }
  const out = Buffer.allocUnsafe(size)
  out[0] = MAGIC0
  out[1] = MAGIC1
  out[2] = VERSION
  let p = writeVarint(out, 3, n)
  for (let c = 0; c < 4; c++) {
    out[p++] = codecs[c]
    p = writeVarint(out, p, payloads[c].length)
  }
  for (const payload of payloads) {
    out.set(payload, p)
    p += payload.length
  }
  out.writeUInt32LE(crc32(out, p), p)
  return out
}

export function decodeChunk(buf: Uint8Array): PointColumns {
  if (!(buf instanceof Uint8Array)) throw new InvalidArgumentError('a chunk must be a Buffer or Uint8Array')
  if (buf.length < 3 + 1 + 4 * 2 + 4) throw corrupt(`${buf.length} bytes is shorter than any chunk`)
  if (buf[0] !== MAGIC0 || buf[1] !== MAGIC1) throw corrupt('not a chunk (bad magic)')
  if (buf[2] !== VERSION) throw corrupt(`unknown chunk version ${buf[2]}`)
  const end = buf.length - 4
  const r = new Reader(buf, 3, end)
  const n = r.uvarint()
  if (n > MAX_CHUNK_POINTS) throw corrupt(`count ${n} is above the limit of ${MAX_CHUNK_POINTS}`)
  const codecs: number[] = []
  const lengths: number[] = []
  let total = 0
  for (let c = 0; c < 4; c++) {
    codecs.push(r.byte())
    const len = r.uvarint()
    lengths.push(len)
    total += len
  }
  if (r.pos + total !== end) throw corrupt(`payloads take ${total} bytes but ${end - r.pos} are there (truncated or padded)`)
  const want = new DataView(buf.buffer, buf.byteOffset, buf.length).getUint32(end, true)
  if (crc32(buf, end) !== want) throw corrupt('checksum mismatch')
  const out = {} as PointColumns
  let p = r.pos
  for (let c = 0; c < 4; c++) {
    const payload = buf.subarray(p, p + lengths[c])
    p += lengths[c]
    out[COLUMNS[c]] = decodeColumn(codecs[c], payload, n, COLUMNS[c])
  }
  return out
}

function decodeColumn(codec: number, payload: Uint8Array, n: number, name: string): Float64Array {
  const kind = codec & ~DEFLATED
  if (kind !== KIND_INT && kind !== KIND_FLOAT) throw corrupt(`column ${name}: unknown codec ${codec}`)
  // Bytes the encoder could have produced: 8 per float; at most 8 per varint, one per point plus one.
  const max = kind === KIND_FLOAT ? 8 * n : 8 * n + 8
  if (codec & DEFLATED) {
    try {
      payload = inflateRawSync(payload, { maxOutputLength: Math.max(1, max) })
    } catch (e) {
      throw corrupt(`column ${name}: bad deflate stream`, e)
    }
  }
  if (kind === KIND_FLOAT) {
    if (payload.length !== 8 * n) throw corrupt(`column ${name}: ${payload.length} bytes for ${n} floats`)
    return decodeFloats(payload, n)
  }
  if (payload.length > max) throw corrupt(`column ${name}: ${payload.length} bytes for ${n} integers`)
  return decodeInts(payload, n, name)
}

function isIntColumn(col: Float64Array): boolean {
  for (let i = 0; i < col.length; i++) {
    const v = col[i]
    if (!(Math.floor(v) === v && v <= INT_LIMIT && v >= -INT_LIMIT) || (v === 0 && 1 / v < 0)) return false
  }
  return true
}

function encodeInts(col: Float64Array): Uint8Array {
  const n = col.length
  const out = new Uint8Array(8 * n + 8)
  if (n === 0) return out.subarray(0, 0)
  let p = writeVarint(out, 0, zigzag(col[0]))
  if (n > 1) {
    let minDelta = Infinity
    for (let i = 1; i < n; i++) {
      const d = col[i] - col[i - 1]
      if (d < minDelta) minDelta = d
    }
    p = writeVarint(out, p, zigzag(minDelta))
    for (let i = 1; i < n; i++) p = writeVarint(out, p, col[i] - col[i - 1] - minDelta)
  }
  return out.subarray(0, p)
}

function decodeInts(payload: Uint8Array, n: number, name: string): Float64Array {
  const out = new Float64Array(n)
  if (n === 0) {
    if (payload.length !== 0) throw corrupt(`column ${name}: bytes for an empty column`)
    return out
  }
  const r = new Reader(payload, 0, payload.length)
  let v = unzigzag(r.uvarint())
  out[0] = v
  let ok = v <= INT_LIMIT && v >= -INT_LIMIT
  if (n > 1) {
    const minDelta = unzigzag(r.uvarint())
    for (let i = 1; i < n; i++) {
      v += r.uvarint() + minDelta
      out[i] = v
      ok &&= v <= INT_LIMIT && v >= -INT_LIMIT
    }
  }
  if (!ok) throw corrupt(`column ${name}: an integer beyond ±2^50`)
  if (r.pos !== payload.length) throw corrupt(`column ${name}: ${payload.length - r.pos} bytes after the last integer`)
  return out
}

function encodeFloats(col: Float64Array): Uint8Array {
  const n = col.length
  const w = new Uint32Array(col.buffer, col.byteOffset, 2 * n)
  const out = new Uint8Array(8 * n)
  let plo = 0
  let phi = 0
  for (let i = 0; i < n; i++) {
    const lo = w[2 * i + LO]
    const hi = w[2 * i + HI]
    // 64-bit delta of the bit patterns (mod 2^64), in two 32-bit halves.
    const dlo = (lo - plo) >>> 0
    const dhi = (hi - phi - (lo < plo ? 1 : 0)) | 0
    plo = lo
    phi = hi
    // Sign and magnitude, sign in bit 0: small negative deltas stay small, and zero low bits
    // (float32-cast values) stay zero, which zigzag's -2d-1 would turn into ones. -2^63 has no
    // positive magnitude; it comes out as sign 1 with magnitude 0, which no other delta uses.
    let ml = dlo
    let mh = dhi
    if (dhi < 0) {
      ml = (~dlo + 1) >>> 0
      mh = ~dhi + (ml === 0 ? 1 : 0)
    }
    const zl = (ml << 1) | (dhi >>> 31)
    const zh = (mh << 1) | (ml >>> 31)
    // A Uint8Array store keeps the low 8 bits, so no masks.
    out[i] = zl
    out[n + i] = zl >>> 8
    out[2 * n + i] = zl >>> 16
    out[3 * n + i] = zl >>> 24
    out[4 * n + i] = zh
    out[5 * n + i] = zh >>> 8
    out[6 * n + i] = zh >>> 16
    out[7 * n + i] = zh >>> 24
  }
  return out
}

function decodeFloats(b: Uint8Array, n: number): Float64Array {
  const out = new Float64Array(n)
  const w = new Uint32Array(out.buffer)
  let lo = 0
  let hi = 0
  for (let i = 0; i < n; i++) {
    const zl = b[i] | (b[n + i] << 8) | (b[2 * n + i] << 16) | (b[3 * n + i] << 24)
    const zh = b[4 * n + i] | (b[5 * n + i] << 8) | (b[6 * n + i] << 16) | (b[7 * n + i] << 24)
    let dlo = ((zl >>> 1) | (zh << 31)) >>> 0
    let dhi = zh >>> 1
    if (zl & 1) {
      if (dlo === 0 && dhi === 0) {
        dhi = 0x80000000
      } else {
        dlo = (~dlo + 1) >>> 0
        dhi = ~dhi + (dlo === 0 ? 1 : 0)
      }
    }
    const nlo = (lo + dlo) >>> 0
    hi = (hi + dhi + (nlo < lo ? 1 : 0)) | 0
    lo = nlo
    w[2 * i + LO] = lo
    w[2 * i + HI] = hi
  }
  return out
}

const zigzag = (v: number): number => (v >= 0 ? 2 * v : -2 * v - 1)
const unzigzag = (u: number): number => (u % 2 === 0 ? u / 2 : -(u + 1) / 2)

function varintSize(v: number): number {
  let s = 1
  while (v >= 128) {
    v = Math.floor(v / 128)
    s++
  }
  return s
}

/** `v` is a non-negative integer below 2^53 (so at most 8 bytes); returns the position after it. */
function writeVarint(out: Uint8Array, p: number, v: number): number {
  while (v >= 0x80000000) {
    out[p++] = (v % 128) | 0x80
    v = Math.floor(v / 128)
  }
  while (v > 0x7f) {
    out[p++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  out[p++] = v
  return p
}

/** Reads varints from buf[pos, end), failing on a read past `end` or a varint over 8 bytes. */
class Reader {
  constructor(readonly buf: Uint8Array, public pos: number, readonly end: number) {}

  byte(): number {
    if (this.pos >= this.end) throw corrupt('truncated')
    return this.buf[this.pos++]
  }

  uvarint(): number {
    const b = this.buf
    let p = this.pos
    if (p >= this.end) throw corrupt('truncated')
    let x = b[p++]
    if (x < 0x80) {
      this.pos = p
      return x
    }
    let v = x & 0x7f
    let scale = 128
    for (let i = 1; ; i++) {
      if (i === 8) throw corrupt('varint longer than 8 bytes')
      if (p >= this.end) throw corrupt('truncated')
      x = b[p++]
      v += (x & 0x7f) * scale
      if (x < 0x80) break
      scale *= 128
    }
    this.pos = p
    return v
  }
}

function corrupt(message: string, cause?: unknown): CorruptDataError {
  return new CorruptDataError(`chunk: ${message}`, cause === undefined ? undefined : { cause })
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[i] = c
  }
  return t
})()

/** node:zlib's CRC-32 (native) where this Node has it (20.15 on); engines say >= 20. */
const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32

/** CRC-32 (the zlib one) of b[0, end). */
function crc32(b: Uint8Array, end: number): number {
  if (zlibCrc32) return zlibCrc32(b.subarray(0, end))
  let c = -1
  for (let i = 0; i < end; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}
