/**
 * What JS numbers become (docs/format.md, "What JS numbers become"): a safe integer other than
 * -0 is a MessagePack / CBOR integer, every other number (-0, NaN, ±Infinity, fractions,
 * integers past 2^53 − 1) a float; -0 survives every path (KV values, the DataPacker, columns,
 * cached column documents). The interop tests read the same files with the real Python
 * `kohakuvault` package, which must see `int` and `float` as listed.
 */
import test from 'ava'
import path from 'node:path'

import { ColumnVault, DataPacker, InvalidArgumentError, KVault } from '../src/index'
import { py, pythonTest } from './kohakuvault-python'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('av-numbers-')
const pyTest = pythonTest('numbers')

const SAFE = 2 ** 53 - 1
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

/** Top-level numbers and their MessagePack bytes. */
const MSGPACK: [number, string][] = [
  [-0, 'cb8000000000000000'],
  [0, '00'],
  [5, '05'],
  [-1, 'ff'],
  [2 ** 32, 'cf0000000100000000'],
  [2 ** 40, 'cf0000010000000000'],
  [SAFE, 'cf001fffffffffffff'],
  [-SAFE, 'd3ffe0000000000001'],
  [-(2 ** 40), 'd3ffffff0000000000'],
  [2 ** 53, 'cb4340000000000000'],
  [1e20, 'cb4415af1d78b58c40'],
  [1.5, 'cb3ff8000000000000'],
  [NaN, 'cb7ff8000000000000'],
  [Infinity, 'cb7ff0000000000000'],
  [-Infinity, 'cbfff0000000000000'],
]

/** A document with every kind of number, nested in objects and arrays. */
const NESTED = { z: -0, safe: SAFE, neg: -SAFE, big: 2 ** 53, f: 1.5, list: [-0, 2 ** 40, [-0, SAFE]], o: { z: -0 } }

/** deepEqual that tells -0 from 0 and NaN from anything (Object.is at every leaf). */
function same(t: { true(v: boolean, m?: string): void }, got: unknown, want: unknown, where = '$'): void {
  if (typeof want === 'object' && want !== null) {
    t.true(typeof got === 'object' && got !== null, `${where}: ${String(got)} is not an object`)
    const keys = Object.keys(want)
    t.true(Object.keys(got as object).length === keys.length, `${where}: keys differ (${JSON.stringify(got)})`)
    for (const k of keys) same(t, (got as any)[k], (want as any)[k], `${where}.${k}`)
    return
  }
  t.true(Object.is(got, want), `${where}: got ${Object.is(got, -0) ? '-0' : String(got)}, want ${Object.is(want, -0) ? '-0' : String(want)}`)
}

test('KV values: the stored MessagePack type follows the number rule, and every number reads back as itself', (t) => {
  for (const cache of [false, true]) {
    const kv = new KVault(path.join(tempDir(), 'kv.db'), { cache: cache && { flushIntervalMs: 0 } })
    for (const [i, [v, bytes]] of MSGPACK.entries()) {
      kv.set(`n${i}`, v)
      t.is(hex(kv.getBytes(`n${i}`)!), bytes, `${v} (cache ${cache})`)
      same(t, kv.get(`n${i}`), v)
    }
    kv.set('nested', NESTED)
    kv.set('arr', [NESTED, -0])
    kv.putMany([['many', -0], ['many2', { z: -0, safe: SAFE }]])
    if (cache) kv.flushCache()
    same(t, kv.get('nested'), NESTED)
    same(t, kv.get('arr'), [NESTED, -0])
    same(t, kv.get('many'), -0)
    same(t, kv.get('many2'), { z: -0, safe: SAFE })
    // bigints: in the safe range they are integers like numbers (and read back as numbers);
    // beyond it they stay 64-bit and come back as bigint.
    kv.set('b', [5n, BigInt(SAFE), 2n ** 60n, -(2n ** 63n), 2n ** 64n - 1n])
    t.deepEqual(kv.get('b'), [5, SAFE, 2n ** 60n, -(2n ** 63n), 2n ** 64n - 1n])
    t.throws(() => kv.set('b', 2n ** 64n), { instanceOf: InvalidArgumentError, message: /64 bits/ })
    kv.close()
  }
})

test('DataPacker: f64 and f32 keep -0; msgpack and cbor documents follow the number rule', (t) => {
  const f64 = new DataPacker('f64')
  t.is(hex(f64.pack(-0)), '0000000000000080')
  t.is(hex(f64.packMany([0, -0])), '00000000000000000000000000000080')
  t.is(hex(f64.packMany(Float64Array.of(-0))), '0000000000000080')
  t.true(Object.is(f64.unpack(f64.pack(-0)), -0))
  const f32 = new DataPacker('f32')
  t.is(hex(f32.pack(-0)), '00000080')
  t.true(Object.is(f32.unpack(f32.pack(-0)), -0))
  t.is(hex(new DataPacker('i32').pack(-0)), '00000000')

  const msgpack = new DataPacker('msgpack')
  for (const [v, bytes] of MSGPACK) {
    t.is(hex(msgpack.pack(v)), bytes, String(v))
    if (!Number.isNaN(v) && Number.isFinite(v)) same(t, msgpack.unpack(msgpack.pack(v)), v)
  }
  same(t, msgpack.unpack(msgpack.pack(NESTED)), NESTED)
  same(t, msgpack.unpackMany(...withOffsets(msgpack, [NESTED, -0, SAFE])), [NESTED, -0, SAFE])

  const cbor = new DataPacker('cbor')
  const CBOR: [number, string][] = [
    [-0, 'f98000'],
    [5, '05'],
    [SAFE, '1b001fffffffffffff'],
    [-SAFE, '3b001ffffffffffffe'],
    [2 ** 53, 'fa5a000000'],
    [1.5, 'f93e00'],
  ]
  for (const [v, bytes] of CBOR) {
    t.is(hex(cbor.pack(v)), bytes, String(v))
    same(t, cbor.unpack(cbor.pack(v)), v)
  }
  same(t, cbor.unpack(cbor.pack(NESTED)), NESTED)
  // CBOR documents go through a document model with no NaN: refused, never stored as null.
  t.throws(() => cbor.pack([NaN]), { instanceOf: InvalidArgumentError })

  // Vectors given as plain arrays keep -0 as well.
  const vec = new DataPacker('vec:f64:2')
  t.is(hex(vec.pack([-0, 1]).subarray(1, 9)), '0000000000000080')
  same(t, Array.from(vec.unpack(vec.pack([-0, 1])) as Float64Array), [-0, 1])
})

function withOffsets(p: DataPacker, values: unknown[]): [Buffer, { offsets: Uint32Array }] {
  const { bytes, offsets } = p.packManyWithEnds(values)
  return [bytes, { offsets }]
}

/** The columns the interop test reads, filled through every write path. */
function fillColumns(file: string): Record<string, unknown[]> {
  const cv = new ColumnVault(file)
  const f64 = cv.createColumn('f64', 'f64')
  const f32 = cv.createColumn('f32', 'f32')
  const m = cv.createColumn('m', 'msgpack')
  const c = cv.createColumn('c', 'cbor')
  const v = cv.createColumn('v', 'vec:f64')
  f64.extend([-0, 1.5])
  f64.extend(Float64Array.of(-0))
  f64.append(-0)
  f64.append(7)
  f64.set(1, -0)
  f32.extend([-0, 2])
  f32.append(-0)
  m.extend([NESTED, -0, SAFE, 2 ** 53, 5])
  m.append(-0)
  m.append({ z: -0, safe: SAFE })
  m.set(4, -0)
  c.extend([NESTED, -0, SAFE, 1.5])
  c.append(-0)
  v.extend([[-0, 1]])
  v.extend([Float64Array.of(-0, 2)])
  // The same through the column cache (staged f64 values, held msgpack documents).
  cv.enableCache({ flushIntervalMs: 0 })
  f64.append(-0)
  f64.append(SAFE)
  m.append(-0)
  m.append({ z: -0, list: [-0, SAFE, 2 ** 40] })
  m.append(2 ** 53)
  cv.flushCache()
  cv.close()
  return {
    f64: [-0, -0, -0, -0, 7, -0, SAFE],
    f32: [-0, 2, -0],
    m: [NESTED, -0, SAFE, 2 ** 53, -0, -0, { z: -0, safe: SAFE }, -0, { z: -0, list: [-0, SAFE, 2 ** 40] }, 2 ** 53],
    c: [NESTED, -0, SAFE, 1.5, -0],
  }
}

test('columns: f64 and f32 extend, append, set and cached appends keep -0; msgpack and cbor columns keep the number rule', (t) => {
  const file = path.join(tempDir(), 'cols.db')
  const want = fillColumns(file)
  const cv = new ColumnVault(file)
  for (const [name, values] of Object.entries(want)) {
    same(t, Array.from(cv.column(name).toArray()), values, name)
  }
  const vecs = cv.column('v').toArray() as Float64Array[]
  same(t, vecs.map((x) => Array.from(x)), [[-0, 1], [-0, 2]])
  cv.close()
})

/** What Python read, as JS values with each number tagged by its Python type: values_interop.py
 *  prints `{"int": "..."}` and `{"float": repr}`. */
function fromPy(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(fromPy)
  if (typeof x !== 'object' || x === null) return x
  const o = x as Record<string, any>
  if ('int' in o) return ['int', Number(o.int)]
  if ('float' in o) return ['float', o.float === 'inf' ? Infinity : o.float === '-inf' ? -Infinity : parseFloat(o.float)]
  return Object.fromEntries(Object.entries('dict' in o ? o.dict : o).map(([k, v]) => [k, fromPy(v)]))
}

/** The Python type the number rule gives a JS number (`float` for every f32/f64 element). */
function tagged(v: unknown, floats = false): unknown {
  if (typeof v === 'number') return [!floats && Number.isSafeInteger(v) && !Object.is(v, -0) ? 'int' : 'float', v]
  if (Array.isArray(v)) return v.map((x) => tagged(x, floats))
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tagged(x, floats)]))
  return v
}

pyTest('Python reads JS numbers as int (safe integers) and float (-0.0, 2**53, NaN, ...), in KV values and columns', (t) => {
  const dir = tempDir()
  const kvFile = path.join(dir, 'kv.db')
  const kv = new KVault(kvFile)
  const values: Record<string, unknown> = { nested: NESTED, arr: [-0, SAFE, [2 ** 40, -0]] }
  for (const [i, [v]] of MSGPACK.entries()) values[`n${i}`] = v
  for (const [k, v] of Object.entries(values)) kv.set(k, v as never)
  kv.close()
  const raw = py('kv-read', kvFile)
  t.deepEqual(raw.n6, { int: '9007199254740991' })
  t.deepEqual(raw.n0, { float: '-0.0' })
  t.deepEqual(raw.n9, { float: '9007199254740992.0' })
  const got = fromPy(raw) as Record<string, unknown>
  for (const [k, v] of Object.entries(values)) {
    // kohakuvault decodes MessagePack through serde_json, which has no NaN or ±Infinity: it
    // returns None for the float 64 stored (the bytes are checked in the first test).
    if (typeof v === 'number' && !Number.isFinite(v)) t.is(raw[k], null, k)
    else same(t, got[k], tagged(v), k)
  }

  const colFile = path.join(dir, 'cols.db')
  const want = fillColumns(colFile)
  // kohakuvault 0.8 has no f32 column dtype ("Unknown dtype: f32"): that column is ours alone.
  const names = Object.keys(want).filter((n) => n !== 'f32')
  const cols = fromPy(py('col-read', colFile, ...names)) as Record<string, unknown>
  for (const name of names) same(t, cols[name], tagged(want[name], name === 'f64'), name)
})

pyTest('JS reads what Python wrote: 2**53 - 1 as a number, 2**60 as a bigint, -0.0 as -0', (t) => {
  const file = path.join(tempDir(), 'py.db')
  py('kv-write', file)
  const kv = new KVault(file)
  same(t, kv.get('py_safe'), { n: SAFE, neg: -SAFE, list: [2 ** 40, -0, 1.5] })
  t.deepEqual(kv.get('py_big'), { n: 2n ** 60n })
  same(t, kv.get('py_negzero'), [-0])
  // Written back from JS, Python sees the same types.
  kv.set('py_safe', kv.get('py_safe') as never)
  kv.close()
  same(t, fromPy(py('kv-read', file).py_safe), { n: ['int', SAFE], neg: ['int', -SAFE], list: [['int', 2 ** 40], ['float', -0], ['float', 1.5]] })
})
