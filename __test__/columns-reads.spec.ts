import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { ColumnVault, DataPacker, InvalidArgumentError } from '../src/index'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('av-reads-')
function tmp(name = 'c.db'): string {
  return path.join(tempDir(), name)
}
const tick = () => new Promise((r) => setImmediate(r))

test('get and slice resolve indices and bounds like arrays, for every kind of column', (t) => {
  const cv = new ColumnVault(tmp(), { minChunkBytes: 16, maxChunkBytes: 64 })
  const models: [string, unknown[]][] = [
    ['f64', Array.from({ length: 50 }, (_, i) => i * 1.5)],
    ['i32', Array.from({ length: 50 }, (_, i) => i - 25)],
    ['str', Array.from({ length: 50 }, (_, i) => 'é'.repeat(i % 7) + i)],
    ['bytes:4', Array.from({ length: 50 }, (_, i) => Buffer.from([i, 0, i, 1]))],
    ['msgpack', Array.from({ length: 50 }, (_, i) => ({ i, s: 'x'.repeat(i % 5) }))],
  ]
  for (const [dtype, model] of models) {
    const c = cv.createColumn(`c-${dtype}`, dtype)
    c.extend(model)
    const same = (a: unknown, b: unknown) => t.deepEqual(Buffer.isBuffer(a) ? [...(a as Buffer)] : a, Buffer.isBuffer(b) ? [...(b as Buffer)] : b, dtype)
    for (const i of [0, 7, 8, 49, -1, -50]) same(c.get(i), model.at(i))
    for (const [a, b] of [[undefined, undefined], [3, 17], [-10, -2], [-99, 5], [40, 99], [30, 10], [8, undefined]] as const) {
      const got = Array.from(c.slice(a, b) as ArrayLike<unknown>)
      t.is(got.length, model.slice(a, b).length, `${dtype} ${a}..${b}`)
      got.forEach((v, k) => same(v, model.slice(a, b)[k]))
    }
    for (const bad of [50, -51]) t.throws(() => c.get(bad), { instanceOf: InvalidArgumentError, message: /out of range/ })
    t.throws(() => c.get(1.5), { instanceOf: InvalidArgumentError })
    t.throws(() => c.slice(0.5), { instanceOf: InvalidArgumentError })
  }
  cv.close()
})

test('held reads see other vaults\' writes at once and are released when the code goes idle', async (t) => {
  const file = tmp()
  const a = new ColumnVault(file)
  const b = new ColumnVault(file)
  const ca = a.createColumn('x', 'f64')
  ca.extend(new Float64Array([1, 2, 3]))
  const cb = b.column('x')
  t.is(ca.get(-1), 3)
  cb.append(4)
  // Same tick: the held snapshot is renewed because b committed.
  t.is(ca.get(-1), 4)
  t.is(ca.length, 4)
  cb.set(0, -1)
  t.deepEqual(Array.from(ca.slice() as Float64Array), [-1, 2, 3, 4])
  cb.clear()
  t.is(ca.length, 0)
  cb.extend(new Float64Array(10_000).fill(7))
  t.is(ca.get(9_999), 7)
  // Once this synchronous run ends the snapshot is released: b can fold the WAL away entirely.
  await tick()
  b.checkpoint()
  t.is(fs.statSync(`${file}-wal`).size, 0)
  a.close()
  b.close()
})

test('msgpack batches are packed in JS once and checked by the core; bad documents store nothing', (t) => {
  const file = tmp()
  const cv = new ColumnVault(file)
  const m = cv.createColumn('m', 'msgpack')
  const docs = [{ a: 1, b: [1, 2.5, 'x'], big: 2 ** 40, neg: -(2 ** 33) }, null, 'text', 42, [true, false], { nested: { deep: [{}] } }]
  m.extend(docs)
  t.deepEqual(m.toArray(), docs)
  // Stored in the canonical form (what the Python package writes): integral numbers as
  // integers, minimal headers, whatever msgpackr chose.
  const one = new DataPacker('msgpack')
  t.deepEqual([...one.pack({ n: 2 ** 40 })], [0x81, 0xa1, 0x6e, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0])
  t.deepEqual([...one.pack('y'.repeat(100)).subarray(0, 2)], [0xd9, 100])
  t.deepEqual(one.packMany(docs), Buffer.concat(docs.map((d) => one.pack(d))))
  // JSON's rules for undefined.
  m.extend([{ u: undefined, k: 1 }, [undefined, 2]])
  t.deepEqual(m.slice(-2), [{ k: 1 }, [null, 2]])
  const before = m.length
  for (const bad of [[{ when: new Date(0) }], [1, new Map([[1, 2]])], [{ f: () => 1 }, undefined]])
    t.throws(() => m.extend(bad), { instanceOf: InvalidArgumentError })
  t.is(m.length, before)
  // Single appends go over as one packed document, checked at their own call.
  m.append({ single: [1, 'two'] })
  t.deepEqual(m.get(-1), { single: [1, 'two'] })
  t.throws(() => m.append(new Date(0)), { instanceOf: InvalidArgumentError })
  t.throws(() => m.append(undefined), { instanceOf: InvalidArgumentError })
  t.is(m.length, before + 1)

  const fixed = cv.createColumn('f', 'msgpack:16')
  fixed.extend([{ a: 1 }, 'short'])
  t.deepEqual(fixed.toArray(), [{ a: 1 }, 'short'])
  t.throws(() => fixed.extend([{ a: 1 }, 'x'.repeat(40)]), { instanceOf: InvalidArgumentError, message: /do not fit in 16/ })
  t.is(fixed.length, 2)

  // Cached single appends are checked at their own call.
  cv.enableCache({ flushIntervalMs: 0 })
  m.append({ ok: true })
  t.throws(() => m.append({ when: new Date(0) }), { instanceOf: InvalidArgumentError })
  cv.flushCache()
  t.deepEqual(m.get(-1), { ok: true })
  t.is(m.length, before + 2)

  const schema = DataPacker.withJsonSchema({ type: 'object', required: ['id'] })
  t.notThrows(() => schema.packMany([{ id: 1 }]))
  t.throws(() => schema.packMany([{ id: 1 }, {}]), { instanceOf: InvalidArgumentError, message: /JSON Schema/ })
  cv.close()
})

test('joined strings and byte strings pack like single values', (t) => {
  const words = ['', 'abc', 'héllo', '日本語', '😀x', 'a\u0000b', 'lone \ud800 surrogate']
  for (const dtype of ['str', 'str:utf8', 'str:32', 'str:utf16le', 'str:latin1']) {
    const p = new DataPacker(dtype)
    let single: Buffer | Error
    try {
      single = Buffer.concat(words.map((w) => p.pack(w)))
    } catch (e) {
      single = e as Error
    }
    if (single instanceof Error) t.throws(() => p.packMany(words), { instanceOf: InvalidArgumentError }, dtype)
    else t.deepEqual(p.packMany(words), single, dtype)
  }
  t.is(new DataPacker('str').unpack(new DataPacker('str').pack('a\ud800b')), 'a\ufffdb')

  const cv = new ColumnVault(tmp())
  const s = cv.createColumn('s', 'str:8')
  s.extend(['fits', 'ünï'])
  t.throws(() => s.extend(['ok', 'much too long']), { instanceOf: InvalidArgumentError, message: /value 1/ })
  t.deepEqual(s.toArray(), ['fits', 'ünï'])
  const b = cv.createColumn('b', 'bytes:3')
  b.extend([Buffer.from('ab'), new Uint8Array([1, 2, 3])])
  t.throws(() => b.extend([Buffer.from('abcd')]), { instanceOf: InvalidArgumentError })
  t.deepEqual(b.toArray().map((x: Buffer) => [...x]), [[97, 98], [1, 2, 3]])
  cv.close()
})

test('bytes and UTF-8 str reads come back joined and cut in JS: same values as one by one, across chunks', (t) => {
  const file = tmp()
  // Small chunks: a 100-element slice spans many data chunks, and index entries straddle them.
  const cv = new ColumnVault(file, { minChunkBytes: 16, maxChunkBytes: 64 })
  const words = ['', 'a', 'héllo', '日本語', '😀x', 'a\0b', '', 'y'.repeat(40), 'end']
  const strs = Array.from({ length: 120 }, (_, i) => words[i % words.length] + (i % 4 === 0 ? '' : String(i)))
  const s = cv.createColumn('s', 'str')
  const s16 = cv.createColumn('s16', 'str:16')
  const b = cv.createColumn('b', 'bytes')
  const b32 = cv.createColumn('b32', 'bytes:32')
  s.extend(strs)
  s16.extend(strs.map((x) => x.slice(0, 4)))
  // One element holding every ASCII character: no separator is left, the values come one by one.
  const every = cv.createColumn('every', 'str')
  every.extend(['x', String.fromCharCode(...Array.from({ length: 128 }, (_, k) => k)), ''])
  const bufs = Array.from({ length: 120 }, (_, i) => Buffer.from(Array.from({ length: i % 7 === 0 ? 0 : i * 3 }, (_, k) => (k * 7 + i) & 0xff)))
  b.extend(bufs)
  // Fixed size: zero padding (and trailing zero bytes of the value itself) are dropped on read.
  const fixed = Array.from({ length: 120 }, (_, i) => Buffer.from([i, 1, 2, 3, i % 3 === 0 ? 0 : 9]))
  b32.extend(fixed)
  const trimmed = (x: Buffer) => x.subarray(0, x.length - (x.at(-1) === 0 ? 1 : 0))
  for (const [a, z] of [[0, 120], [3, 103], [-17, -1], [50, 51], [60, 60]] as const) {
    t.deepEqual(s.slice(a, z), strs.slice(a, z), `str ${a}..${z}`)
    t.deepEqual(s16.slice(a, z), strs.slice(a, z).map((x) => x.slice(0, 4)))
    t.deepEqual(b.slice(a, z).map((x: Buffer) => [...x]), bufs.slice(a, z).map((x) => [...x]), `bytes ${a}..${z}`)
    t.deepEqual(b32.slice(a, z).map((x: Buffer) => [...x]), fixed.slice(a, z).map((x) => [...trimmed(x)]))
  }
  t.deepEqual(every.toArray(), ['x', String.fromCharCode(...Array.from({ length: 128 }, (_, k) => k)), ''])
  t.true(b.slice(1, 2)[0] instanceof Buffer)
  // get of bytes: every element, the large ones read again into a larger Buffer.
  for (let i = 0; i < 120; i++) {
    t.deepEqual([...b.get(i)], [...bufs[i]], `bytes get ${i}`)
    t.deepEqual([...b32.get(i - 120)], [...trimmed(fixed[i])], `bytes:32 get ${i}`)
    t.is(s.get(i), strs[i])
  }
  // Each result is its own: changing one leaves the column and the others alone.
  const got = b32.get(5) as Buffer
  got[0] = 99
  t.is(b32.get(5)[0], 5)
  // Cached appends are read the same way.
  cv.enableCache({ flushIntervalMs: 0 })
  s.append('cached é')
  b.append(Buffer.from([1, 2, 3]))
  t.deepEqual(s.slice(-2), [strs[119], 'cached é'])
  t.deepEqual([...b.get(-1)], [1, 2, 3])
  t.deepEqual(b.slice(-1).map((x: Buffer) => [...x]), [[1, 2, 3]])
  cv.close()
})

test('a str column whose text is not UTF-8 is a CorruptDataError for joined slices too', (t) => {
  const file = tmp()
  const cv = new ColumnVault(file)
  cv.createColumn('s', 'str').extend(['ok', 'fine'])
  cv.close()
  // Overwrite the stored bytes of 'fine' with a byte that is not UTF-8.
  const Database = require('better-sqlite3')
  const db = new Database(file)
  const row = db.prepare("SELECT rowid, data FROM col_chunks WHERE col_id = (SELECT col_id FROM col_meta WHERE name = 's_data')").get()
  const data = Buffer.from(row.data)
  data[data.indexOf('fine')] = 0xff
  db.prepare('UPDATE col_chunks SET data = ? WHERE rowid = ?').run(data, row.rowid)
  db.close()
  const again = new ColumnVault(file)
  const s = again.column('s')
  t.is(s.get(0), 'ok')
  t.throws(() => s.slice(), { code: 'CORRUPT' })
  t.throws(() => s.get(1), { code: 'CORRUPT' })
  again.close()
})
