/**
 * The few protobuf messages of a TensorBoard event file that an import reads: Event, Summary
 * and its Value, Image, Audio, HistogramProto, SummaryMetadata, TensorProto and TensorShapeProto
 * (field numbers from tensorboard/compat/proto: event.proto, summary.proto, histogram.proto,
 * tensor.proto, tensor_shape.proto, types.proto). Decoding is protobufjs's (its light build from
 * a JSON descriptor, no .proto parsing at run time): it handles packed and unpacked repeated
 * fields, 64-bit varints and unknown fields, which a hand-written reader would have to get right
 * again. Fields the import never looks at (graphs, run metadata, audio sample rates...) are
 * left out of the descriptor and skipped as unknown fields.
 */
import { Root } from 'protobufjs/light'
import type { Type } from 'protobufjs/light'
import { CorruptDataError } from '../../errors'

const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id })

const SCHEMA = {
  nested: {
    Event: {
      fields: {
        wallTime: { type: 'double', id: 1 },
        step: { type: 'int64', id: 2 },
        summary: { type: 'Summary', id: 5 },
      },
    },
    Summary: {
      fields: { value: repeated('Value', 1) },
    },
    Value: {
      // Which of the value fields a Value holds (summary.proto's oneof `value`).
      oneofs: { kind: { oneof: ['simpleValue', 'image', 'histo', 'audio', 'tensor'] } },
      fields: {
        tag: { type: 'string', id: 1 },
        nodeName: { type: 'string', id: 7 },
        metadata: { type: 'SummaryMetadata', id: 9 },
        simpleValue: { type: 'float', id: 2 },
        image: { type: 'Image', id: 4 },
        histo: { type: 'HistogramProto', id: 5 },
        audio: { type: 'Audio', id: 6 },
        tensor: { type: 'TensorProto', id: 8 },
      },
    },
    Image: {
      fields: {
        height: { type: 'int32', id: 1 },
        width: { type: 'int32', id: 2 },
        colorspace: { type: 'int32', id: 3 },
        encodedImageString: { type: 'bytes', id: 4 },
      },
    },
    Audio: {
      fields: {
        encodedAudioString: { type: 'bytes', id: 4 },
        contentType: { type: 'string', id: 5 },
      },
    },
    HistogramProto: {
      fields: {
        min: { type: 'double', id: 1 },
        max: { type: 'double', id: 2 },
        num: { type: 'double', id: 3 },
        sum: { type: 'double', id: 4 },
        sumSquares: { type: 'double', id: 5 },
        bucketLimit: repeated('double', 6),
        bucket: repeated('double', 7),
      },
    },
    SummaryMetadata: {
      fields: {
        pluginData: { type: 'PluginData', id: 1 },
        displayName: { type: 'string', id: 2 },
        // An enum (DataClass) on the wire is a varint: read as its number.
        dataClass: { type: 'int32', id: 4 },
      },
    },
    PluginData: {
      fields: {
        pluginName: { type: 'string', id: 1 },
        content: { type: 'bytes', id: 2 },
      },
    },
    TensorProto: {
      fields: {
        dtype: { type: 'int32', id: 1 },
        tensorShape: { type: 'TensorShapeProto', id: 2 },
        tensorContent: { type: 'bytes', id: 4 },
        halfVal: repeated('int32', 13),
        floatVal: repeated('float', 5),
        doubleVal: repeated('double', 6),
        intVal: repeated('int32', 7),
        stringVal: repeated('bytes', 8),
        int64Val: repeated('int64', 10),
        boolVal: repeated('bool', 11),
        uint32Val: repeated('uint32', 16),
        uint64Val: repeated('uint64', 17),
      },
    },
    TensorShapeProto: {
      fields: {
        dim: repeated('Dim', 2),
        unknownRank: { type: 'bool', id: 3 },
      },
      nested: {
        Dim: { fields: { size: { type: 'int64', id: 1 } } },
      },
    },
  },
}

/** An int64 as protobufjs returns it: a Long (when the `long` package is there) or a number. */
type Int64 = number | { toNumber(): number }

export interface HistogramProto {
  min: number
  max: number
  num: number
  sum: number
  sumSquares: number
  bucketLimit: number[]
  bucket: number[]
}

export interface TensorProto {
  dtype: number
  tensorShape: { dim: Array<{ size: Int64 }>; unknownRank: boolean } | null
  tensorContent: Uint8Array
  halfVal: number[]
  floatVal: number[]
  doubleVal: number[]
  intVal: number[]
  stringVal: Uint8Array[]
  int64Val: Int64[]
  boolVal: boolean[]
  uint32Val: number[]
  uint64Val: Int64[]
}

export interface SummaryValue {
  tag: string
  nodeName: string
  metadata: { pluginData: { pluginName: string } | null; dataClass: number } | null
  /** Which value field is set (undefined: none of the kinds read here). */
  kind: 'simpleValue' | 'image' | 'histo' | 'audio' | 'tensor' | undefined
  simpleValue: number
  image: { height: number; width: number; colorspace: number; encodedImageString: Uint8Array } | null
  histo: HistogramProto | null
  audio: { encodedAudioString: Uint8Array; contentType: string } | null
  tensor: TensorProto | null
}

export interface TbEvent {
  wallTime: number
  step: number
  /** The summary's values; empty for events that carry something else (file version, graph...). */
  values: SummaryValue[]
}

const root = Root.fromJSON(SCHEMA)
root.resolveAll()
const EventType: Type = root.lookupType('Event')

export function int64(v: Int64): number {
  return typeof v === 'number' ? v : v.toNumber()
}

/** Decode one record's data as an Event (a CorruptDataError saying why if it is not one). */
export function decodeEvent(data: Uint8Array): TbEvent {
  let m: { wallTime: number; step: Int64; summary: { value: SummaryValue[] } | null }
  try {
    m = EventType.decode(data) as unknown as typeof m
  } catch (e) {
    throw new CorruptDataError(`not an Event message (${(e as Error).message})`, { cause: e })
  }
  return { wallTime: m.wallTime, step: int64(m.step), values: m.summary?.value ?? [] }
}

/** TensorFlow DataType numbers (types.proto) of the dtypes read here. */
export const DT = {
  FLOAT: 1, DOUBLE: 2, INT32: 3, UINT8: 4, INT16: 5, INT8: 6, STRING: 7, INT64: 9, BOOL: 10,
  BFLOAT16: 14, UINT16: 17, HALF: 19, UINT32: 22, UINT64: 23,
} as const

export function tensorShape(t: TensorProto): number[] {
  return (t.tensorShape?.dim ?? []).map((d) => int64(d.size))
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1)
}

/** IEEE half-precision bits as a number. */
function half(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exp = (bits >> 10) & 0x1f
  const frac = bits & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 31) return frac ? NaN : sign * Infinity
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
function bfloat16(bits: number): number {
  u32[0] = (bits & 0xffff) << 16
  return f32[0]
}

/**
 * `values` stretched to `n` elements the way TensorFlow reads a TensorProto: fewer values than
 * elements repeat the last one (writers compress a run of equal trailing values to one), none
 * at all means zeros.
 */
function fill<T>(values: ArrayLike<T>, n: number, zero: T, what: string): T[] {
  if (values.length > n) throw new CorruptDataError(`${what}: ${values.length} values for ${n} elements`)
  const out = Array.from(values)
  const last = values.length ? values[values.length - 1] : zero
  while (out.length < n) out.push(last)
  return out
}

/** The elements of a numeric (or bool) tensor as f64s, row-major; null for other dtypes. */
export function tensorNumbers(t: TensorProto, what: string): Float64Array | null {
  const n = elementCount(tensorShape(t))
  const c = t.tensorContent
  if (c && c.length > 0) {
    const v = new DataView(c.buffer, c.byteOffset, c.byteLength)
    const size = ({ [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.INT32]: 4, [DT.UINT8]: 1, [DT.INT16]: 2, [DT.INT8]: 1, [DT.INT64]: 8, [DT.BOOL]: 1, [DT.BFLOAT16]: 2, [DT.UINT16]: 2, [DT.HALF]: 2, [DT.UINT32]: 4, [DT.UINT64]: 8 } as Record<number, number>)[t.dtype]
    if (size === undefined) return null
    if (c.length !== n * size) throw new CorruptDataError(`${what}: ${c.length} content bytes for ${n} elements of ${size} bytes`)
    const out = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      const o = i * size
      switch (t.dtype) {
        case DT.FLOAT: out[i] = v.getFloat32(o, true); break
        case DT.DOUBLE: out[i] = v.getFloat64(o, true); break
        case DT.INT32: out[i] = v.getInt32(o, true); break
        case DT.UINT8: case DT.BOOL: out[i] = v.getUint8(o); break
        case DT.INT16: out[i] = v.getInt16(o, true); break
        case DT.INT8: out[i] = v.getInt8(o); break
        case DT.INT64: out[i] = Number(v.getBigInt64(o, true)); break
        case DT.UINT64: out[i] = Number(v.getBigUint64(o, true)); break
        case DT.UINT16: out[i] = v.getUint16(o, true); break
        case DT.UINT32: out[i] = v.getUint32(o, true); break
        case DT.HALF: out[i] = half(v.getUint16(o, true)); break
        case DT.BFLOAT16: out[i] = bfloat16(v.getUint16(o, true)); break
      }
    }
    return out
  }
  switch (t.dtype) {
    case DT.FLOAT: return Float64Array.from(fill(t.floatVal, n, 0, what))
    case DT.DOUBLE: return Float64Array.from(fill(t.doubleVal, n, 0, what))
    case DT.INT32: case DT.UINT8: case DT.INT16: case DT.INT8: case DT.UINT16:
      return Float64Array.from(fill(t.intVal, n, 0, what))
    case DT.INT64: return Float64Array.from(fill(t.int64Val, n, 0, what), int64)
    case DT.UINT64: return Float64Array.from(fill(t.uint64Val, n, 0, what), int64)
    case DT.UINT32: return Float64Array.from(fill(t.uint32Val, n, 0, what))
    case DT.BOOL: return Float64Array.from(fill(t.boolVal, n, false, what), Number)
    case DT.HALF: return Float64Array.from(fill(t.halfVal, n, 0, what), half)
    case DT.BFLOAT16: return Float64Array.from(fill(t.halfVal, n, 0, what), bfloat16)
    default: return null
  }
}

/** The elements of a string tensor (bytes each), row-major; null for other dtypes. */
export function tensorStrings(t: TensorProto, what: string): Uint8Array[] | null {
  if (t.dtype !== DT.STRING) return null
  return fill(t.stringVal, elementCount(tensorShape(t)), new Uint8Array(0), what)
}
