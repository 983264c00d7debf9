/**
 * Value encodings of the KV format (docs/format.md, "Encodings" and "What JS values become"):
 * which encoding a JS value is written with, and how a stored payload comes back as a JS value.
 * The header framing itself is done by the core. MessagePack is written by src/msgpack.ts (which
 * also decides which JS numbers are integers) and read by msgpackr; CBOR is read by cbor-x.
 */
import { Packr } from 'msgpackr'
import { decode as cborDecode } from 'cbor-x'
import { CorruptDataError, InvalidArgumentError } from './errors'
import { isPlainObject, MsgpackWriter } from './msgpack'
import binding from './native'

/** The encoding codes, as the core defines them (crates/ambervault-node/src/wire.rs). */
export const Enc = {
  Raw: binding.KV_ENC_RAW,
  Pickle: binding.KV_ENC_PICKLE,
  Packed: binding.KV_ENC_PACKED,
  Json: binding.KV_ENC_JSON,
  MsgPack: binding.KV_ENC_MSGPACK,
  Cbor: binding.KV_ENC_CBOR,
  Utf8: binding.KV_ENC_UTF8,
} as const
export type Enc = number

/** Reads MessagePack as plain values: maps as objects, 64-bit integers as numbers when they are
 *  within ±2^53 (exact), else as bigint. */
// 'auto' is supported by msgpackr, missing from its type declarations.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' as 'bigint' })
const writer = new MsgpackWriter()

/** Display a key in error messages (as the core does). */
export function showKey(key: string | Uint8Array): string {
  if (typeof key === 'string') return JSON.stringify(key)
  return `0x${Buffer.from(key.buffer, key.byteOffset, Math.min(key.byteLength, 64)).toString('hex')}${key.byteLength > 64 ? '…' : ''}`
}

/** Reject what MessagePack cannot bring back as the same JS value, naming where it sits. */
function checkPackable(v: unknown, where: string, depth: number): void {
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return
    case 'object':
      if (v === null || v instanceof Uint8Array) return
      if (depth > 100) throw new InvalidArgumentError(`${where}: value is nested more than 100 levels deep`)
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) checkPackable(v[i], `${where}[${i}]`, depth + 1)
        return
      }
      if (isPlainObject(v)) {
        for (const k of Object.keys(v)) checkPackable((v as Record<string, unknown>)[k], `${where}.${k}`, depth + 1)
        return
      }
      throw new InvalidArgumentError(`${where}: cannot store a ${v.constructor?.name ?? 'object'} (use plain objects, arrays, strings, numbers, bigints, booleans, null or bytes)`)
    default:
      throw new InvalidArgumentError(`${where}: cannot store a value of type ${typeof v}`)
  }
}

/** MessagePack payload of a JS value that is not bytes or a string. */
export function packValue(value: unknown, key: string | Uint8Array): Buffer {
  checkPackable(value, `key ${showKey(key)}`, 0)
  return writer.encode(value)
}

const packedView = new DataView(new ArrayBuffer(8))

/**
 * Encoding 02, as the Python library reads it: 8 bytes that are a normal f64 are a float,
 * anything else (zero, subnormal, NaN patterns) is an i64.
 */
function readPacked(payload: Uint8Array, key: string | Uint8Array): number | bigint {
  if (payload.length !== 8) {
    throw new CorruptDataError(`key ${showKey(key)}: packed primitive (encoding 02) has ${payload.length} bytes, not 8`)
  }
  for (let i = 0; i < 8; i++) packedView.setUint8(i, payload[i])
  const f = packedView.getFloat64(0, true)
  const exp = packedView.getUint16(6, true) & 0x7ff0
  if (exp !== 0 && exp !== 0x7ff0) return f
  const i = packedView.getBigInt64(0, true)
  return i >= BigInt(Number.MIN_SAFE_INTEGER) && i <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(i) : i
}

const ENCODING_NAMES = ['raw', 'pickle', 'packed primitive', 'json', 'msgpack', 'cbor', 'utf8']

/** Turn a stored payload of encoding `enc` back into the JS value. */
export function decodeValue(enc: number, payload: Buffer, key: string | Uint8Array): unknown {
  switch (enc) {
    case Enc.Raw:
      return payload
    case Enc.Utf8:
      return payload.toString('utf8')
    case Enc.MsgPack:
      try {
        return packr.unpack(payload)
      } catch (e) {
        throw new CorruptDataError(`key ${showKey(key)}: invalid msgpack payload (${(e as Error).message})`, { cause: e })
      }
    case Enc.Packed:
      return readPacked(payload, key)
    case Enc.Json:
      try {
        return JSON.parse(payload.toString('utf8'))
      } catch (e) {
        throw new CorruptDataError(`key ${showKey(key)}: invalid JSON payload (${(e as Error).message})`, { cause: e })
      }
    case Enc.Cbor:
      try {
        return cborDecode(payload)
      } catch (e) {
        throw new CorruptDataError(`key ${showKey(key)}: invalid CBOR payload (${(e as Error).message})`, { cause: e })
      }
    case Enc.Pickle:
      throw new InvalidArgumentError(
        `key ${showKey(key)}: value has encoding 01 (Python pickle), which only Python can read; getBytes() returns its payload`,
      )
    default:
      throw new CorruptDataError(`key ${showKey(key)}: unknown value encoding ${enc} (${ENCODING_NAMES[enc] ?? '?'})`)
  }
}
