import test from 'ava'
import path from 'node:path'

import { ColumnVault, Column, VarSizeColumn, InvalidArgumentError, NotFoundError, ClosedError } from '../src/index'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('av-cols-')
function tmp(name = 'c.db'): string {
  return path.join(tempDir(), name)
}

test('create, ensure, column, has, listColumns, deleteColumn', (t) => {
  const cv = new ColumnVault(tmp())
  const a = cv.createColumn('a', 'f64')
  t.true(a instanceof Column)
  t.false(a instanceof VarSizeColumn)
  t.true(cv.createColumn('s', 'str') instanceof VarSizeColumn)
  t.throws(() => cv.createColumn('a', 'f64'), { instanceOf: InvalidArgumentError, message: /"a" already exists/ })
  t.is(cv.ensure('a', 'f64').name, 'a')
  t.throws(() => cv.ensure('a', 'i64'), { instanceOf: InvalidArgumentError, message: /dtype f64, not i64/ })
  t.throws(() => cv.column('nope'), { instanceOf: NotFoundError, message: /nope/ })
  t.throws(() => cv.createColumn('b', 'q9'), { instanceOf: InvalidArgumentError, message: /q9/ })
  t.true(cv.has('s'))
  t.false(cv.has('b'))
  a.extend(new Float64Array([1, 2]))
  t.deepEqual(cv.listColumns(), [
    { name: 'a', dtype: 'f64', length: 2 },
    { name: 's', dtype: 'str', length: 0 },
  ])
  t.true(cv.deleteColumn('s'))
  t.false(cv.deleteColumn('s'))
  t.false(cv.has('s'))
  cv.close()
  t.throws(() => cv.has('a'), { instanceOf: ClosedError })
  t.throws(() => a.length, { instanceOf: ClosedError })
})

test('numeric columns take and return typed arrays; negative indices; insert/delete/set', (t) => {
  const cv = new ColumnVault(tmp())
  const f = cv.createColumn('f', 'f64')
  f.extend(new Float64Array([0.5, 1.5, 2.5]))
  f.extend([3.5, 4.5])
  f.append(5.5)
  const s = f.slice()
  t.true(s instanceof Float64Array)
  t.deepEqual(Array.from(s), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
  t.is(f.get(-1), 5.5)
  t.deepEqual(Array.from(f.slice(-3, -1)), [3.5, 4.5])
  f.set(-2, 9)
  f.insert(0, -1)
  f.delete(1)
  t.deepEqual(f.toArray(), [-1, 1.5, 2.5, 3.5, 9, 5.5])
  f.setSlice(1, new Float64Array([7, 8]))
  t.deepEqual([...f], [-1, 7, 8, 3.5, 9, 5.5])
  t.throws(() => f.get(6), { instanceOf: InvalidArgumentError, message: /"f".*out of range/ })
  t.throws(() => f.get(-7), { instanceOf: InvalidArgumentError })

  const types: [string, new (n: number) => any][] = [
    ['f32', Float32Array], ['i32', Int32Array], ['i16', Int16Array], ['i8', Int8Array],
    ['u8', Uint8Array], ['u16', Uint16Array], ['u32', Uint32Array],
  ]
  for (const [dtype, Ctor] of types) {
    const c = cv.createColumn(`c_${dtype}`, dtype)
    const src = new Ctor(5).map((_: number, i: number) => i * 3)
    c.extend(src)
    const back = c.slice()
    t.true(back instanceof Ctor, dtype)
    t.deepEqual(Array.from(back), Array.from(src), dtype)
  }
})

test('values that do not fit are errors and nothing is written', (t) => {
  const cv = new ColumnVault(tmp())
  const u = cv.createColumn('u', 'u8')
  u.extend([1, 2])
  t.throws(() => u.extend([3, 300]), { instanceOf: InvalidArgumentError, message: /300 does not fit dtype u8/ })
  t.throws(() => u.append(-1), { instanceOf: InvalidArgumentError })
  t.throws(() => u.append(1.5), { instanceOf: InvalidArgumentError })
  t.throws(() => u.append('x'), { instanceOf: InvalidArgumentError, message: /not a number/ })
  t.deepEqual(Array.from(u.slice()), [1, 2])
  const s = cv.createColumn('s', 'str:4')
  t.throws(() => s.append('toolong'), { instanceOf: InvalidArgumentError, message: /str:4/ })
  t.is(s.length, 0)
  const v = cv.createColumn('v', 'vec:f32:3')
  t.throws(() => v.append(new Float32Array(4)), { instanceOf: InvalidArgumentError, message: /shape/ })
  t.is(v.length, 0)
})

test('i64 and u64 never lose precision silently', (t) => {
  const cv = new ColumnVault(tmp())
  const c = cv.createColumn('i', 'i64')
  c.extend([1, -2, 2 ** 53])
  t.deepEqual(Array.from(c.slice()), [1, -2, 2 ** 53])
  t.throws(() => c.append(2 ** 60), { instanceOf: InvalidArgumentError })
  c.extend(new BigInt64Array([2n ** 62n, -(2n ** 63n)]))
  t.throws(() => c.slice(), { instanceOf: InvalidArgumentError, message: /bigint/ })
  t.is(c.get(0), 1)
  const big = c.slice(0, undefined, { bigint: true })
  t.true(big instanceof BigInt64Array)
  t.is(big[3], 2n ** 62n)
  t.is(c.get(-1, { bigint: true }), -(2n ** 63n))
  c.append(2n ** 40n)
  t.is(c.get(-1), 2 ** 40)
  t.throws(() => c.append(2n ** 63n), { instanceOf: InvalidArgumentError })
  const u = cv.createColumn('u', 'u64')
  u.extend(new BigUint64Array([2n ** 64n - 1n]))
  t.is(u.get(0, { bigint: true }), 2n ** 64n - 1n)
  t.throws(() => u.append(-1), { instanceOf: InvalidArgumentError })
})

test('variable-size columns: strings, bytes, msgpack, cbor, free vectors; updates of every size', (t) => {
  const file = tmp()
  const cv = new ColumnVault(file, { minChunkBytes: 16, maxChunkBytes: 128 })
  const s = cv.createColumn('s', 'str')
  const model = Array.from({ length: 200 }, (_, i) => 'é'.repeat(i % 23) + i)
  s.extend(model)
  s.set(3, model[3].toUpperCase()) // same size
  model[3] = model[3].toUpperCase()
  s.set(4, 'x') // smaller
  model[4] = 'x'
  s.set(5, 'L'.repeat(300)) // larger than a chunk
  model[5] = 'L'.repeat(300)
  s.delete(-1)
  model.pop()
  s.insert(2, 'inserted')
  model.splice(2, 0, 'inserted')
  t.deepEqual(s.toArray(), model)
  t.is(s.get(-1), model.at(-1))
  ;(s as VarSizeColumn).compact()
  t.deepEqual(s.slice(10, 20), model.slice(10, 20))

  const m = cv.createColumn('m', 'msgpack')
  const docs = [{ a: 1, b: [1, 2.5, 'x'] }, null, 'text', 42, [true, false]]
  m.extend(docs)
  t.deepEqual(m.toArray(), docs)
  const c = cv.createColumn('c', 'cbor')
  c.extend(docs)
  t.deepEqual(c.toArray(), docs)
  const b = cv.createColumn('b', 'bytes')
  b.extend([Buffer.from('ab'), new Uint8Array([0, 1, 0]), Buffer.alloc(0)])
  t.deepEqual(b.toArray().map((x: Buffer) => [...x]), [[97, 98], [0, 1, 0], []])
  const v = cv.createColumn('v', 'vec:f64')
  v.extend([new Float64Array([1, 2]), new Float64Array([3])])
  t.deepEqual(v.toArray().map((x: Float64Array) => Array.from(x)), [[1, 2], [3]])
  cv.close()

  const again = new ColumnVault(file)
  t.deepEqual(again.column('s').toArray(), model)
  t.deepEqual(again.column('m').toArray(), docs)
  again.close()
})

test('chunk-boundary stress: min 16 B, max 512 B to 4 KiB, against a plain array', (t) => {
  for (const max of [512, 1000, 4096]) {
    const file = tmp()
    const cv = new ColumnVault(file, { minChunkBytes: 16, maxChunkBytes: max })
    const f = cv.createColumn('f', 'f64')
    const s = cv.createColumn('s', 'str')
    const fm: number[] = []
    const sm: string[] = []
    for (let round = 0; round < 80; round++) {
      const n = ((round * 7) % 40) + 1
      const batch = Float64Array.from({ length: n }, (_, k) => fm.length + k + 0.5)
      f.extend(batch)
      fm.push(...batch)
      const strs = Array.from({ length: n }, (_, k) => 'y'.repeat((round * 11 + k * 5) % 90) + `${round}/${k}`)
      s.extend(strs)
      sm.push(...strs)
      const a = (round * 13) % fm.length
      const bnd = Math.min(fm.length, a + ((round * 31) % 200))
      t.deepEqual(Array.from(f.slice(a, bnd)), fm.slice(a, bnd))
      t.deepEqual(s.slice(a, bnd), sm.slice(a, bnd))
    }
    cv.close()
    const again = new ColumnVault(file)
    t.deepEqual(Array.from(again.column('f').slice()), fm, `max ${max}`)
    t.deepEqual(again.column('s').toArray(), sm, `max ${max}`)
    // clear() then append on a multi-chunk column
    const f2 = again.column('f')
    f2.clear()
    t.is(f2.length, 0)
    f2.extend(new Float64Array(300).fill(2))
    t.deepEqual(Array.from(f2.slice(295)), [2, 2, 2, 2, 2])
    again.close()
  }
})

test('fixed-size str, bytes, msgpack and vectors round trip; padding is trimmed', (t) => {
  const cv = new ColumnVault(tmp())
  const s = cv.createColumn('s', 'str:8:utf16le')
  s.extend(['ab', 'wxyz'])
  t.deepEqual(s.toArray(), ['ab', 'wxyz'])
  const b = cv.createColumn('b', 'bytes:4')
  b.append(Buffer.from([1, 2]))
  t.deepEqual([...b.get(0)], [1, 2])
  const m = cv.createColumn('m', 'msgpack:32')
  m.append({ k: 'v' })
  t.deepEqual(m.get(0), { k: 'v' })
  const v = cv.createColumn('v', 'vec:i32:2:2')
  v.append([[1, 2], [3, 4]])
  v.append(new Int32Array([5, 6, 7, 8]))
  t.deepEqual(v.get(0), [[1, 2], [3, 4]])
  t.deepEqual(v.get(1), [[5, 6], [7, 8]])
  const flags = cv.createColumn('flags', 'bool')
  flags.extend([true, false, true])
  t.deepEqual(flags.toArray(), [true, false, true])
  t.throws(() => flags.append(2), { instanceOf: InvalidArgumentError })
})

test('a ColumnVault shares a file with other tables and opens from a KVault-like object', (t) => {
  const file = tmp()
  const cv = new ColumnVault({ path: file })
  cv.createColumn('x', 'i32').extend(new Int32Array([1, 2, 3]))
  cv.checkpoint()
  cv.close()
  const again = new ColumnVault(file)
  t.deepEqual(Array.from(again.column('x').slice()), [1, 2, 3])
  again.close()
})

test('cached appends: length, get, slice and set see them; flush, interval and close write them', async (t) => {
  const file = tmp()
  const cv = new ColumnVault(file)
  const f = cv.createColumn('f', 'f64')
  const s = cv.createColumn('s', 'str')
  const i = cv.createColumn('i', 'i32')
  cv.enableCache({ flushIntervalMs: 0 })
  for (let k = 0; k < 10_000; k++) f.append(k)
  s.append('a')
  s.extend(['b', 'c'])
  i.append(5)
  t.throws(() => i.append(2 ** 40), { instanceOf: InvalidArgumentError })
  t.is(cv.column('f').length, 10_000, 'another handle on the column sees them too')
  t.is(f.length, 10_000)
  t.is(f.get(-1), 9999)
  t.deepEqual(Array.from(f.slice(9998)), [9998, 9999])
  t.deepEqual(s.toArray(), ['a', 'b', 'c'])
  f.append(1e6)
  f.set(-1, 7)
  t.is(f.get(-1), 7)
  // another handle on the file sees only what was flushed
  const other = new ColumnVault(file)
  const before = other.column('f').length
  cv.flushCache()
  t.is(other.column('f').length, 10_001)
  t.true(before <= 10_001)
  // interval flushing
  cv.enableCache({ flushIntervalMs: 20 })
  f.append(1)
  f.extend(new Float64Array([2, 3]))
  const t0 = Date.now()
  while (other.column('f').length !== 10_004 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10))
  t.is(other.column('f').length, 10_004)
  // close flushes
  f.append(4)
  cv.close()
  t.is(other.column('f').length, 10_005)
  t.is(other.column('f').get(-1), 4)
  other.close()
})

test('cached appends reach the file at normal process exit', (t) => {
  const file = tmp()
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process')
  const code = `
    const { ColumnVault } = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'))});
    const cv = new ColumnVault(${JSON.stringify(file)});
    const c = cv.createColumn('x', 'f64');
    cv.enableCache({ flushIntervalMs: 0 });
    for (let i = 0; i < 1000; i++) c.append(i);
    c.extend(['a'].length ? [1000] : []);
  `
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', code], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const cv = new ColumnVault(file)
  t.is(cv.column('x').length, 1001)
  t.is(cv.column('x').get(-1), 1000)
  cv.close()
})

test('cached string and byte-string appends are held in JS, handed over in one batch, and stay exact', (t) => {
  const file = tmp()
  const cv = new ColumnVault(file)
  const plain = new ColumnVault(tmp('plain.db'))
  const strs = ['a', '', 'héllo', 'a😀b', '\ud800 lone', 'x'.repeat(300)]
  const s = cv.createColumn('s', 'str')
  const s16 = cv.createColumn('s16', 'str:utf16le')
  const s4 = cv.createColumn('s4', 'str:4')
  const b4 = cv.createColumn('b4', 'bytes:4')
  const b = cv.createColumn('b', 'bytes')
  const ref = plain.createColumn('s', 'str')
  cv.enableCache({ flushIntervalMs: 0 })
  for (const v of strs) {
    s.append(v)
    s16.append(v)
    ref.append(v)
  }
  s.extend(['between'])
  s.append('last')
  // a reused buffer: each append keeps the bytes it had at its call
  const buf = Buffer.alloc(4)
  for (let k = 0; k < 3; k++) {
    buf.writeUInt32LE(k + 1)
    b4.append(buf)
    b.append(buf.subarray(0, k + 1))
  }
  s4.append('abcd')
  // values the packer would reject still fail at their own call, and nothing else is lost
  t.throws(() => s4.append('abcde'), { instanceOf: InvalidArgumentError })
  t.throws(() => b4.append(Buffer.alloc(5)), { instanceOf: InvalidArgumentError })
  t.throws(() => s.append(5), { instanceOf: InvalidArgumentError })
  t.deepEqual(s.toArray(), [...ref.toArray(), 'between', 'last'], 'same strings as the uncached path, in order')
  t.deepEqual(s16.toArray(), ref.toArray())
  t.deepEqual(s4.toArray(), ['abcd'])
  t.deepEqual(
    b4.toArray().map((x: Buffer) => Array.from(x)),
    [[1], [2], [3]],
    'bytes:4 trims the zero padding on read',
  )
  t.deepEqual(
    b.toArray().map((x: Buffer) => Array.from(x)),
    [[1], [2, 0], [3, 0, 0]],
  )
  s.append('after read')
  cv.close()
  plain.close()
  const again = new ColumnVault(file)
  t.is(again.column('s').get(-1), 'after read')
  t.is(again.column('b4').length, 3)
  again.close()
})

test('cached msgpack appends are held in JS and handed over in batches; bad ones still fail at their own call', (t) => {
  const file = tmp()
  const cv = new ColumnVault(file)
  const plain = new ColumnVault(tmp('plain.db'))
  const m = cv.createColumn('m', 'msgpack')
  const ref = plain.createColumn('m', 'msgpack')
  cv.enableCache({ flushIntervalMs: 0 })
  const nullProto = Object.assign(Object.create(null), { n: 1 })
  // Every size class of the encoding: integers, strings, arrays and maps around each boundary.
  const ints = [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -0]
  const lens = [0, 1, 31, 32, 255, 256, 65535, 65536]
  const strs = lens.flatMap((n) => ['a'.repeat(n), 'é'.repeat(n >> 1), '😀'.repeat(n >> 2)])
  const wide = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, k) => [`k${k}`, k]))
  const nest = (d: number): unknown => (d === 0 ? 'leaf' : [nest(d - 1)])
  const docs = [
    { i: 1, tag: 'x' }, null, 'text', -0.5, 1.5e300, true, false, [1, [2, { a: 'é😀' }]], { u: undefined, k: 1 }, nullProto, {}, [],
    ...ints, ...strs, { [strs[9]]: strs[10] },
    ...[15, 16, 65535, 65536].flatMap((n) => [wide(n), Array.from({ length: n }, (_, k) => k % 3)]),
    { a: { b: wide(20) } }, nest(63), nest(64), nest(70), 'z'.repeat(3 << 20),
  ]
  for (const d of docs) {
    m.append(d)
    ref.append(d)
  }
  // Packed at its own call: a later change to the value does not reach the column.
  const mutable = { k: 1, list: [1] }
  m.append(mutable)
  ref.append({ k: 1, list: [1] })
  mutable.k = 2
  mutable.list.push(2)
  // Values the fast path leaves to the core: each is accepted or refused at its own call exactly
  // as without the cache, and nothing appended before it is lost.
  const odd: unknown[] = [{ when: new Date(0) }, new Map([[1, 2]]), new Map([['s', 2]]), '\ud800', { k: 'a\udc00' }, { ['\ud800']: 1 }, [1, , 3], Buffer.from([1, 2]), undefined, () => 1, 10n]
  const outcome = (f: () => void) => {
    try {
      f()
      return 'stored'
    } catch (e) {
      return (e as Error).constructor.name
    }
  }
  let stored = 0
  for (const v of odd) {
    const got = outcome(() => m.append(v))
    t.is(got, outcome(() => ref.append(v)), `same outcome for ${String(v)}`)
    if (got === 'stored') stored++
  }
  t.is(outcome(() => m.append({ when: new Date(0) })), 'InvalidArgumentError')
  t.is(m.length, ref.length)
  t.deepEqual(m.toArray(), ref.toArray())
  t.deepEqual(m.get(docs.length), { k: 1, list: [1] })
  // Past the stage size: length, get and slice see every held document, in order.
  for (let k = 0; k < 20_000; k++) m.append({ k })
  t.is(m.length, ref.length + 20_000)
  t.deepEqual(m.get(-1), { k: 19_999 })
  t.deepEqual(m.slice(-3), [{ k: 19_997 }, { k: 19_998 }, { k: 19_999 }])
  m.append({ last: true })
  cv.close()
  plain.close()
  const again = new ColumnVault(file)
  const back = again.column('m')
  t.is(back.length, docs.length + 1 + stored + 20_001)
  t.deepEqual(back.get(-1), { last: true })
  again.close()
})
