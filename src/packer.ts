/**
 * DataPacker (docs/api.md): values of one dtype to bytes and back. The codecs live in the Rust
 * core; this file only sorts JS values into the batch kinds the native packer takes (numbers,
 * BigInts, booleans, strings, buffers, documents, typed-array vectors), one native call per batch.
 */
import binding from './native'
import { native, InvalidArgumentError } from './errors'
import { MsgpackWriter } from './msgpack'

type NativePacker = InstanceType<typeof binding.NativePacker>
type Packed = { bytes: Buffer; ends: Uint32Array }

/** Where a sorted batch goes: the native packer's pack* calls (returning packed bytes), or a
 *  column's extend* calls (packing and appending in one native call). */
export interface PackTarget<R = Packed> {
  kind: string
  dtype: string
  packNumbers(v: Float64Array): R
  packBigints(v: bigint[]): R
  packBools(v: boolean[]): R
  packVectors(elems: string[], raws: Buffer[]): R
  /** Strings joined into one, with each one's length (UTF-16 units): one conversion per batch. */
  packJoinedStrings(joined: string, lens: Uint32Array): R
  /** Byte strings concatenated into one buffer, cut at the exclusive `ends`. */
  packJoinedBuffers(bytes: Buffer, ends: Uint32Array): R
  /** Documents (msgpack, cbor, vectors given as arrays) as one MessagePack array (the core
   *  checks each and stores it in the dtype's form). */
  packPackedArray(array: Buffer): R
}

/** Documents as MessagePack (src/msgpack.ts: JSON's rules for `undefined`, the number rule). */
const msgpack = new MsgpackWriter()

function checkDoc(dtype: string, v: unknown, i: number): void {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint')
    bad(dtype, `${describe(v)}, which has no document form`, i)
}

/** `value` (one document, or an array of them when `many`) as MessagePack; the core checks it. */
export function packDocs(dtype: string, value: unknown, many = false): Buffer {
  if (many) (value as unknown[]).forEach((v, i) => checkDoc(dtype, v, i))
  else checkDoc(dtype, value, 0)
  try {
    return msgpack.encode(value)
  } catch (e) {
    throw new InvalidArgumentError(`dtype ${dtype}: ${(e as Error).message}`)
  }
}

const VECTOR_ELEM: [new (...a: any[]) => ArrayBufferView, string][] = [
  [Float32Array, 'f32'],
  [Float64Array, 'f64'],
  [Int8Array, 'i8'],
  [Int16Array, 'i16'],
  [Int32Array, 'i32'],
  [BigInt64Array, 'i64'],
  [Uint8Array, 'u8'],
  [Uint16Array, 'u16'],
  [Uint32Array, 'u32'],
  [BigUint64Array, 'u64'],
]

/** A view of any typed array's bytes as a Buffer, without copying. */
export function bytesOf(v: ArrayBufferView): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

function bad(dtype: string, what: string, i: number): never {
  throw new InvalidArgumentError(`dtype ${dtype}: value ${i} is ${what}`)
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`
  return `a ${typeof v}`
}

/** Pack a batch of values for `t` (a native packer or column); throws InvalidArgumentError. */
export function packBatch<R = Packed>(t: PackTarget<R>, values: ArrayLike<unknown>): R {
  const n = values.length
  const all = Array.from(values as ArrayLike<unknown>)
  switch (t.kind) {
    case 'number':
    case 'int64': {
      if (values instanceof Float64Array) return native(() => t.packNumbers(values))
      let big = false
      for (let i = 0; i < n; i++) {
        const v = all[i]
        if (typeof v === 'bigint') big = true
        else if (typeof v !== 'number') bad(t.dtype, `${describe(v)}, not a number`, i)
      }
      if (big) return native(() => t.packBigints(all.map((v) => BigInt(v as number | bigint))))
      return native(() => t.packNumbers(Float64Array.from(all as number[])))
    }
    case 'bool':
      all.forEach((v, i) => typeof v !== 'boolean' && bad(t.dtype, `${describe(v)}, not a boolean`, i))
      return native(() => t.packBools(all as boolean[]))
    case 'str': {
      all.forEach((v, i) => typeof v !== 'string' && bad(t.dtype, `${describe(v)}, not a string`, i))
      const lens = new Uint32Array(n)
      for (let i = 0; i < n; i++) lens[i] = (all[i] as string).length
      return native(() => t.packJoinedStrings((all as string[]).join(''), lens))
    }
    case 'bytes': {
      const bufs = all.map((v, i) => {
        if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : bytesOf(v)
        return bad(t.dtype, `${describe(v)}, not a Buffer or Uint8Array`, i)
      })
      const ends = new Uint32Array(n)
      let at = 0
      for (let i = 0; i < n; i++) ends[i] = at += bufs[i].length
      return native(() => t.packJoinedBuffers(Buffer.concat(bufs, at), ends))
    }
    case 'msgpack':
    case 'doc': {
      const array = packDocs(t.dtype, all, true)
      return native(() => t.packPackedArray(array))
    }
    case 'vector': {
      if (all.every((v) => ArrayBuffer.isView(v))) {
        const elems = all.map((v, i) => {
          const e = VECTOR_ELEM.find(([c]) => v instanceof c)
          return e ? e[1] : bad(t.dtype, `${describe(v)}, not a numeric typed array`, i)
        })
        return native(() => t.packVectors(elems, all.map((v) => bytesOf(v as ArrayBufferView))))
      }
      all.forEach((v, i) => !Array.isArray(v) && bad(t.dtype, `${describe(v)}, not a vector`, i))
      const array = packDocs(t.dtype, all, true)
      return native(() => t.packPackedArray(array))
    }
    default:
      throw new InvalidArgumentError(`dtype ${t.dtype}: unknown value kind ${t.kind}`)
  }
}

export type UnpackManyOptions = ({ count: number } | { offsets: ArrayLike<number> }) & { bigint?: boolean }

export class DataPacker {
  #p: NativePacker
  /** Numeric dtypes (not bool): the handle of the single-number calls, so `pack(x)` /
   *  `unpack(buf)` of one number skip the batch. */
  #numbers: ReturnType<NativePacker['numbers']> | null = null
  #elemSize: number
  #varSize: boolean

  constructor(dtype: string) {
    if (typeof dtype !== 'string') throw new InvalidArgumentError(`dtype must be a string, got ${describe(dtype)}`)
    const p = (this.#p = native(() => new binding.NativePacker(dtype)))
    this.#elemSize = p.elemSize
    this.#varSize = p.isVarSize
    const kind = p.kind
    if (kind === 'number' || kind === 'int64') this.#numbers = p.numbers()
  }

  /** A msgpack packer that rejects values failing the JSON Schema (the error names the path). */
  static withJsonSchema(schema: object | boolean): DataPacker {
    const p = new DataPacker('msgpack')
    p.#p = native(() => binding.NativePacker.withJsonSchema(schema))
    p.#elemSize = p.#p.elemSize
    p.#varSize = p.#p.isVarSize
    return p
  }

  get dtype(): string {
    return this.#p.dtype
  }
  /** Bytes per element, 0 for variable-size dtypes. */
  get elemSize(): number {
    return this.#elemSize
  }
  get isVarSize(): boolean {
    return this.#varSize
  }

  pack(value: unknown): Buffer {
    const numbers = this.#numbers
    if (numbers !== null && typeof value === 'number') {
      // Node's pool serves the small Buffer; the core checks the range and writes into it.
      const out = Buffer.allocUnsafe(this.#elemSize)
      native(() => binding.packNumberInto(numbers, value, out))
      return out
    }
    return this.packMany([value])
  }

  /** The element at `offset`: `elemSize` bytes for fixed dtypes, the rest of `buf` otherwise. */
  unpack(buf: Uint8Array, offset = 0, options?: { bigint?: boolean }): any {
    const numbers = this.#numbers
    if (numbers !== null && options?.bigint !== true && buf instanceof Uint8Array && offset >>> 0 === offset)
      return native(() => binding.unpackNumber(numbers, buf, offset))
    const b = toBuffer(buf)
    const end = this.#varSize ? b.length : offset + this.#elemSize
    return native(() => this.#p.unpackMany(b, Uint32Array.of(offset, end), options?.bigint ?? false))[0]
  }

  packMany(values: ArrayLike<unknown>): Buffer {
    return packBatch(this.#p, values).bytes
  }

  /** Pack many and also return where each element ends (what `unpackMany({ offsets })` takes). */
  packManyWithEnds(values: ArrayLike<unknown>): { bytes: Buffer; offsets: Uint32Array } {
    const { bytes, ends } = packBatch(this.#p, values)
    const offsets = new Uint32Array(ends.length + 1)
    offsets.set(ends, 1)
    return { bytes, offsets }
  }

  /** `{ count }` fixed-size elements from the start, or the elements between `offsets` (n + 1 of them). */
  unpackMany(buf: Uint8Array, options: UnpackManyOptions): any[] {
    const b = toBuffer(buf)
    let offsets: Uint32Array
    if ('count' in options) {
      const size = this.elemSize
      if (size === 0) throw new InvalidArgumentError(`dtype ${this.dtype}: a variable-size dtype needs { offsets }`)
      if (!Number.isInteger(options.count) || options.count < 0)
        throw new InvalidArgumentError(`dtype ${this.dtype}: count ${options.count} is not a count`)
      offsets = new Uint32Array(options.count + 1)
      for (let i = 0; i <= options.count; i++) offsets[i] = i * size
    } else {
      offsets = Uint32Array.from(options.offsets)
    }
    return native(() => this.#p.unpackMany(b, offsets, options.bigint ?? false))
  }
}

function toBuffer(buf: Uint8Array): Buffer {
  if (!(buf instanceof Uint8Array)) throw new InvalidArgumentError(`expected a Buffer or Uint8Array, got ${describe(buf)}`)
  return Buffer.isBuffer(buf) ? buf : bytesOf(buf)
}
