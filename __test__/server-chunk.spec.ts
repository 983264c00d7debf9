/**
 * The team server's chunk format (src/server/pg/chunk.ts) and chunk summaries
 * (src/server/pg/summary.ts): bit-exact round trips of any f64, typed errors for any damaged
 * object, the bytes a point costs (a format property: seeded data, no timing), and a downsample
 * that keeps the same points as the local reader's.
 */
import test from 'ava'
// zlib's crc32 (Node >= 20.15) checks that the chunk's own CRC-32 is the standard one.
import { crc32 as zlibCrc32, deflateRawSync } from 'node:zlib'

import { Board, CorruptDataError, InvalidArgumentError, openRun } from '../src/index'
import { MAX_CHUNK_POINTS, decodeChunk, encodeChunk, type PointColumns } from '../src/server/pg/chunk'
import { downsample } from '../src/board/downsample'
import { decodeLod, encodeLod } from '../src/server/pg/lod'
import { tempDir } from './temp-dirs'

const FIELDS = ['step', 'globalStep', 'timestamp', 'value'] as const

/** mulberry32: the same numbers on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const cols = (n: number, f: (field: (typeof FIELDS)[number], i: number) => number): PointColumns => {
  const c = { step: new Float64Array(n), globalStep: new Float64Array(n), timestamp: new Float64Array(n), value: new Float64Array(n) }
  for (const k of FIELDS) for (let i = 0; i < n; i++) c[k][i] = f(k, i)
  return c
}

/** Steps +1, global steps +1, ms timestamps 100 ± 50 ms apart, a random-walk value. */
function typical(n: number, seed: number): PointColumns {
  const r = rng(seed)
  const c = cols(n, () => 0)
  let t = 1_700_000_000_000
  let v = 1
  for (let i = 0; i < n; i++) {
    c.step[i] = 1000 + i
    c.globalStep[i] = 50_000 + i
    t += 100 + Math.round((r() - 0.5) * 100)
    c.timestamp[i] = t
    v += (r() - 0.5) * 0.02
    c.value[i] = v
  }
  return c
}

const fromBits = (hi: number, lo: number): number => {
  const f = new Float64Array(1)
  const w = new Uint32Array(f.buffer)
  w[1] = hi
  w[0] = lo
  return f[0]
}
/** Values whose bits a careless codec loses: NaN payloads, -0, ±Infinity, subnormals, edges. */
const SPECIAL = [
  fromBits(0x7ff80000, 0), fromBits(0x7ff80000, 1), fromBits(0xfff00000, 1), fromBits(0x7fffffff, 0xffffffff),
  fromBits(0xfff80000, 0xdeadbeef), -0, 0, Infinity, -Infinity, 5e-324, -5e-324, fromBits(0x000fffff, 0xffffffff),
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 50, -(2 ** 50), 2 ** 50 + 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 63),
  0.1, -1.5, 1e300,
]

/** The bytes of every column, so NaN payloads and -0 compare exactly. */
const bytesOf = (c: PointColumns) => FIELDS.map((k) => Buffer.from(c[k].buffer, c[k].byteOffset, c[k].byteLength).toString('hex'))

function roundTrips(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, c: PointColumns, label: string): Buffer {
  const buf = encodeChunk(c)
  t.deepEqual(bytesOf(decodeChunk(buf)), bytesOf(c), label)
  return buf
}

test('every f64 bit pattern comes back bit-exact, in every column', (t) => {
  const r = rng(1)
  const n = 4096
  const random = cols(n, () => fromBits((r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0))
  roundTrips(t, random, 'random bits')
  // Special values at random places among integers (the integer path must hand over to the float one).
  const mixed = cols(n, (k, i) => (r() < 0.05 ? SPECIAL[Math.floor(r() * SPECIAL.length)] : k === 'value' ? r() : i))
  roundTrips(t, mixed, 'specials among integers')
  for (const x of SPECIAL) {
    roundTrips(t, cols(3, (_, i) => (i === 1 ? x : i)), `special ${x} alone among integers`)
    roundTrips(t, cols(200, () => x), `a column of ${x}`)
  }
  // Big deltas between float bit patterns (sign flips, -2^63 as a 64-bit delta).
  roundTrips(t, cols(6, (_, i) => [0, -0, 0, fromBits(0x80000000, 0), fromBits(0, 0), fromBits(0x7fffffff, 0xffffffff)][i]), 'sign flips')
})

test('integers that repeat, jump, go backwards; fractional timestamps; integers at the ±2^50 edge', (t) => {
  const r = rng(2)
  const n = 4096
  roundTrips(t, cols(n, (k, i) => (k === 'step' ? Math.floor(i / 3) : k === 'globalStep' ? (i % 7 === 0 ? i * 1000 : i) : k === 'timestamp' ? 1.7e12 - i * 13 : i)), 'repeat, jump, backwards')
  roundTrips(t, cols(n, (k, i) => (k === 'timestamp' ? 1.7e9 + i * 0.1 + r() * 1e-3 : k === 'value' ? r() : i)), 'fractional timestamps (seconds)')
  roundTrips(t, cols(n, (k, i) => (i % 2 ? 2 ** 50 : -(2 ** 50)) - (k === 'step' ? i % 2 : 0)), '±2^50 alternating')
  roundTrips(t, cols(n, () => Math.floor((r() - 0.5) * 2 ** 51)), 'random integers within ±2^50')
  roundTrips(t, cols(n, () => Math.floor((r() - 0.5) * 2 ** 60)), 'random integers past 2^53')
})

test('empty, one point, 4096 points, the cap; bad columns are InvalidArgumentError', (t) => {
  const empty = roundTrips(t, cols(0, () => 0), 'empty')
  t.is(decodeChunk(empty).value.length, 0)
  roundTrips(t, cols(1, (k) => (k === 'value' ? NaN : 7)), 'one point')
  roundTrips(t, typical(4096, 3), '4096 points')
  roundTrips(t, cols(MAX_CHUNK_POINTS, (_, i) => i), 'the cap')
  t.throws(() => encodeChunk(cols(MAX_CHUNK_POINTS + 1, () => 0)), { instanceOf: InvalidArgumentError })
  const c = cols(3, () => 1)
  t.throws(() => encodeChunk({ ...c, value: new Float64Array(2) }), { instanceOf: InvalidArgumentError })
  t.throws(() => encodeChunk({ ...c, timestamp: [1, 2, 3] as unknown as Float64Array }), { instanceOf: InvalidArgumentError })
  t.throws(() => encodeChunk(null as unknown as PointColumns), { instanceOf: InvalidArgumentError })
  t.throws(() => decodeChunk('AC' as unknown as Buffer), { instanceOf: InvalidArgumentError })
  // A view into a bigger buffer at an odd offset decodes the same.
  const buf = encodeChunk(typical(100, 4))
  const shifted = Buffer.alloc(buf.length + 3)
  buf.copy(shifted, 3)
  t.deepEqual(bytesOf(decodeChunk(shifted.subarray(3))), bytesOf(typical(100, 4)))
})

/** A chunk put together by hand, with a right CRC, to reach the checks behind it. */
function handmade(count: number[], columns: Array<{ codec: number; payload: number[] | Buffer }>): Buffer {
  const body = [0x41, 0x43, 1, ...count]
  for (const c of columns) body.push(c.codec, ...varint(c.payload.length))
  const head = Buffer.concat([Buffer.from(body), ...columns.map((c) => Buffer.from(c.payload))])
  const crc = Buffer.alloc(4)
  crc.writeUInt32LE(zlibCrc32(head))
  return Buffer.concat([head, crc])
}
function varint(v: number): number[] {
  const out: number[] = []
  while (v >= 128) {
    out.push((v % 128) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return out
}

test('a truncated, padded or flipped chunk is a CorruptDataError', (t) => {
  const buf = encodeChunk(typical(300, 5))
  for (let len = 0; len < buf.length; len++) t.throws(() => decodeChunk(buf.subarray(0, len)), { instanceOf: CorruptDataError }, `first ${len} bytes`)
  t.throws(() => decodeChunk(Buffer.concat([buf, Buffer.from([0])])), { instanceOf: CorruptDataError })
  for (let i = 0; i < buf.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const bad = Buffer.from(buf)
      bad[i] ^= bit
      t.throws(() => decodeChunk(bad), { instanceOf: CorruptDataError }, `bit ${bit} of byte ${i}`)
    }
  }
})

test('a chunk with a right checksum but impossible contents is a CorruptDataError, without a big allocation', (t) => {
  const bad = (label: string, b: Buffer) => t.throws(() => decodeChunk(b), { instanceOf: CorruptDataError }, label)
  const none = { codec: 1, payload: [] }
  const ints = (bytes: number[]) => [{ codec: 1, payload: bytes }, none, none, none]
  bad('count over the cap', handmade(varint(MAX_CHUNK_POINTS + 1), [none, none, none, none]))
  bad('count 2^49 with no payload', handmade(varint(2 ** 49), [none, none, none, none]))
  bad('count 2^60 (a 9-byte varint)', handmade(varint(2 ** 60), [none, none, none, none]))
  bad('unknown codec', handmade([0], [{ codec: 3, payload: [] }, none, none, none]))
  bad('unknown version', Buffer.from([0x41, 0x43, 2, ...encodeChunk(cols(0, () => 0)).subarray(3)]))
  bad('bad magic', Buffer.from([0x41, 0x44, ...encodeChunk(cols(0, () => 0)).subarray(2)]))
  bad('bytes in an empty column', handmade([0], ints([0])))
  bad('integers run out', handmade([3], [{ codec: 1, payload: [2, 2] }, ...ints([0, 0, 0, 0]).slice(1)]))
  bad('bytes after the last integer', handmade([1], [{ codec: 1, payload: [2, 0] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }]))
  bad('an integer past 2^50', handmade([1], [{ codec: 1, payload: varint(2 ** 52) }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }]))
  bad('floats one byte short', handmade([1], [{ codec: 2, payload: [0, 0, 0, 0, 0, 0, 0] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }]))
  // A deflate bomb: 1 MiB of zeros where 8 bytes (one float) are due.
  const bomb = deflateRawSync(Buffer.alloc(1 << 20))
  bad('inflates past its size', handmade([1], [{ codec: 0x82, payload: bomb }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }]))
  bad('not deflate', handmade([1], [{ codec: 0x82, payload: [0xff, 0xff, 0xff] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }, { codec: 1, payload: [2] }]))
  // Random damage behind a fixed-up checksum: decodes to something or fails typed, never otherwise.
  const r = rng(6)
  const good = encodeChunk(typical(500, 7))
  for (let k = 0; k < 2000; k++) {
    const b = Buffer.from(good.subarray(0, good.length - 4))
    for (let j = 1 + Math.floor(r() * 3); j > 0; j--) b[Math.floor(r() * b.length)] = Math.floor(r() * 256)
    const crc = Buffer.alloc(4)
    crc.writeUInt32LE(zlibCrc32(b))
    try {
      decodeChunk(Buffer.concat([b, crc]))
    } catch (e) {
      if (!(e instanceof CorruptDataError)) t.fail(`mutation ${k} threw ${String(e)}`)
    }
  }
  t.pass()
})

test('bytes per point: a typical series is well under 24, the worst case 32 plus a header', (t) => {
  const n = 4096
  const perPoint = (c: PointColumns) => encodeChunk(c).length / n
  const typ = perPoint(typical(n, 8))
  t.true(typ <= 24, `typical ${typ}`)
  // What the format does today (steps free, timestamps ~0.84 B, random-walk values ~5.7 B).
  t.true(typ < 8, `typical ${typ}`)
  const r = rng(9)
  const loss = typical(n, 10)
  for (let i = 0; i < n; i++) loss.value[i] = Math.fround(2.3 * Math.exp(-i / 2000) + 0.05 * r())
  t.true(perPoint(loss) < 5, `float32 loss ${perPoint(loss)}`)
  const random = cols(n, () => fromBits((r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0))
  t.true(perPoint(random) <= 32 + 64 / n, `random ${perPoint(random)}`)
  // The summary row: the lod of blocks of 64 costs under 1 B a point.
  const lod = encodeLod(typical(n, 8)).length / n
  t.true(lod <= 1, `lod ${lod}`)
})

/** The local reader's rule (crates/ambervault-core/src/board/reader.rs) for one bucket, written plainly. */
function bucketKeeps(v: Float64Array, lo: number, hi: number): number[] {
  const finite = [...Array(hi - lo).keys()].map((i) => i + lo).filter((i) => Number.isFinite(v[i]))
  const firstSpecial = [...Array(hi - lo).keys()].map((i) => i + lo).find((i) => !Number.isFinite(v[i]))
  const idx = new Set<number>()
  if (finite.length === 0) idx.add(lo)
  else {
    idx.add(finite.reduce((a, i) => (v[i] < v[a] ? i : a)))
    idx.add(finite.reduce((a, i) => (v[i] > v[a] ? i : a)))
  }
  if (firstSpecial !== undefined) idx.add(firstSpecial)
  return [...idx].sort((a, b) => a - b)
}
const take = (c: PointColumns, idx: number[]) => cols(idx.length, (k, j) => c[k][idx[j]])

test('a lod keeps each block\'s extremes and the chunk\'s first and last points', (t) => {
  const r = rng(11)
  const n = 1000
  const c = typical(n, 12)
  for (let i = 0; i < n; i++) if (r() < 0.02) c.value[i] = [NaN, Infinity, -Infinity][Math.floor(r() * 3)]
  c.value[n - 1] = NaN
  for (let i = 128; i < 192; i++) c.value[i] = NaN // a NaN-only block
  const want = new Set<number>([0, n - 1])
  for (let lo = 0; lo < n; lo += 64) for (const i of bucketKeeps(c.value, lo, Math.min(n, lo + 64))) want.add(i)
  t.deepEqual(bytesOf(decodeLod(encodeLod(c))), bytesOf(take(c, [...want].sort((a, b) => a - b))))
  t.deepEqual([...decodeLod(encodeLod(c, 1)).step], [...c.step], 'blocks of 1 keep every point')
  // Only NaN: each block's first point, and the last point.
  t.deepEqual([...decodeLod(encodeLod(cols(130, (k, i) => (k === 'value' ? NaN : i)))).step], [0, 64, 128, 129])
  t.is(decodeLod(encodeLod(cols(0, () => 0))).value.length, 0)
  t.throws(() => encodeLod(c, 0), { instanceOf: InvalidArgumentError })
  t.throws(() => encodeLod(c, 1.5), { instanceOf: InvalidArgumentError })
  t.throws(() => decodeLod(Buffer.from('not a lod')), { instanceOf: CorruptDataError })
})

test('downsample keeps each bucket\'s extremes in step order; a spike anywhere survives, also through lods', (t) => {
  const n = 10_000
  const base = typical(n, 13)
  const maxPoints = 100
  for (const at of [0, 1, 63, 64, 99, 100, 4321, 5000, 9935, 9998, 9999]) {
    for (const spike of [1e9, -1e9, NaN, Infinity]) {
      const c = { ...base, value: Float64Array.from(base.value) }
      c.value[at] = spike
      const d = downsample(c, maxPoints)
      t.true(d.value.length <= maxPoints + (Number.isFinite(spike) ? 0 : 1), `${d.value.length} points`)
      t.true(d.step.some((s, i) => s === c.step[at] && Object.is(d.value[i], spike)), `spike ${spike} at ${at}`)
      t.true(d.step.every((s, i) => i === 0 || s > d.step[i - 1]))
      // Through per-chunk lods (chunks of 4096, blocks of 64), merged and downsampled.
      const lods = [0, 4096, 8192].map((lo) => decodeLod(encodeLod(take(c, [...Array(Math.min(n, lo + 4096) - lo).keys()].map((i) => i + lo)))))
      const merged = cols(lods.reduce((a, l) => a + l.value.length, 0), () => 0)
      let o = 0
      for (const l of lods) {
        for (const k of FIELDS) merged[k].set(l[k], o)
        o += l.value.length
      }
      const dl = downsample(merged, maxPoints)
      t.true(dl.step.some((s, i) => s === c.step[at] && Object.is(dl.value[i], spike)), `spike ${spike} at ${at} through lods`)
    }
  }
  // The rule, point for point, against the plain version, with non-finite values about.
  const r = rng(14)
  const c = typical(n, 15)
  for (let i = 0; i < n; i++) if (r() < 0.001) c.value[i] = [NaN, Infinity, -Infinity][Math.floor(r() * 3)]
  for (const m of [2, 3, 100, 999, 9999]) {
    // Two extremes per bucket of floor((m - 2) / 2), and the series' first and last points.
    const want = new Set<number>([0, n - 1])
    const buckets = Math.max(1, Math.floor((m - 2) / 2))
    for (let b = 0; b < buckets; b++) for (const i of bucketKeeps(c.value, Math.floor((b * n) / buckets), Math.floor(((b + 1) * n) / buckets))) want.add(i)
    t.deepEqual(bytesOf(downsample(c, m)), bytesOf(take(c, [...want].sort((a, b) => a - b))), `maxPoints ${m}`)
  }
  t.is(downsample(c, n), c, 'no more points than asked: the series itself')
  t.throws(() => downsample(c, 1), { instanceOf: InvalidArgumentError })
  t.throws(() => downsample(c, 10.5), { instanceOf: InvalidArgumentError })
})

test('downsample keeps the very points the local reader keeps', async (t) => {
  const board = new Board({ baseDir: tempDir('av-server-chunk-'), captureOutput: false })
  const r = rng(16)
  let v = 0
  for (let i = 0; i < 5000; i++) {
    v += r() - 0.5
    board.log({ m: i === 1234 ? NaN : i === 4000 ? -Infinity : i === 2500 ? 1e6 : v })
  }
  await board.finish()
  const run = openRun(board.runDir)
  const all = run.scalars('m')
  for (const m of [2, 77, 500, 4999]) {
    const local = run.scalars('m', { maxPoints: m })
    t.deepEqual(bytesOf(downsample(all, m)), bytesOf(local), `maxPoints ${m}`)
  }
})
