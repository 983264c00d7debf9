import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { KVault, InvalidArgumentError, ClosedError, VaultIoError, CorruptDataError, NotFoundError, VaultError } from '../src/index'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('kvtest-')
function tmp(name = 'kv.db'): string {
  return path.join(tempDir(), name)
}

test('values come back as what was put (auto-pack)', (t) => {
  const kv = new KVault(tmp())
  const nested = { a: [1, 2.5, 'x', null, true, { deep: -3 }], b: Buffer.from([1, 2, 3]), big: 2n ** 62n }
  const cases: [string, unknown][] = [
    ['bytes', Buffer.from('hello')],
    ['empty', Buffer.alloc(0)],
    ['magic', Buffer.from([0x89, 0x4b, 1, 4, 0, 0, 0, 0, 0x56, 0x4b, 9])],
    ['str', 'héllo wörld ✓'],
    ['emptystr', ''],
    ['int', 42],
    ['neg', -7],
    ['float', 1.5],
    ['nan', NaN],
    ['inf', -Infinity],
    ['bigint', -(2n ** 63n)],
    ['true', true],
    ['null', null],
    ['arr', [1, 'two', [3]]],
    ['obj', nested],
  ]
  for (const [k, v] of cases) kv.put(k, v as never)
  for (const [k, v] of cases) t.deepEqual(kv.get(k), v, k)
  t.true(Buffer.isBuffer(kv.get('bytes')))
  t.deepEqual(kv.getBytes('str'), Buffer.from('héllo wörld ✓'))
  t.deepEqual(kv.getBytes('magic'), cases[2][1])
  t.is(kv.get('missing'), undefined)
  t.is(kv.getBytes('missing'), undefined)
  kv.close()
})

test('point reads return exact bytes for every key and value size around the read buffer', (t) => {
  // Keys and values cross napi through a 64 KiB exchange buffer per vault (kvault.ts, #io):
  // sizes on each side of its half and of its end, and past it, take every path (value
  // copied through it, value as its own Buffer, buffer grown for a long key).
  const io = 64 << 10
  const sizes = [0, 1, io / 2 - 1, io / 2, io / 2 + 1, io - 1, io, io + 1, 4 * io]
  const bytes = (n: number, seed: number) => {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff
    return b
  }
  const file = tmp()
  for (const cache of [false, true]) {
    for (const [ki, klen] of sizes.entries()) {
      // A fresh vault per key size, so every key meets the first, unmet buffer size.
      const kv = new KVault(file, { cache: cache && { flushIntervalMs: 0 } })
      const key = bytes(klen, ki + 1)
      for (const [vi, vlen] of sizes.entries()) {
        const value = bytes(vlen, vi + 100)
        kv.put(key, value)
        t.deepEqual(kv.get(key), value, `key ${klen} B, value ${vlen} B, cache ${cache}`)
        t.deepEqual(kv.getBytes(key), value)
        t.true(kv.has(key))
      }
      // Multi-byte text on both sides, near the same edges (é: 2 bytes, ✓: 3, 😀: 4).
      for (const [ci, ch] of ['é', '✓', '😀'].entries()) {
        const skey = `${ch.repeat(Math.floor(klen / Buffer.byteLength(ch)))}#${ci}`
        for (const vlen of [1, io / 2 - 1, io / 2 + 1, io - 1, io + 1]) {
          const text = `${ch.repeat(Math.floor(vlen / Buffer.byteLength(ch)))}|${vlen}`
          kv.put(skey, text)
          t.is(kv.get(skey), text, `string key ${Buffer.byteLength(skey)} B, text ${Buffer.byteLength(text)} B`)
          t.deepEqual(kv.get(Buffer.from(skey)), text)
          t.deepEqual(kv.getBytes(skey), Buffer.from(text))
        }
        t.true(kv.delete(skey))
        t.false(kv.has(skey))
        t.is(kv.get(skey), undefined)
      }
      t.true(kv.delete(key))
      t.is(kv.get(key), undefined)
      t.is(kv.getBytes(key), undefined)
      kv.close()
    }
  }
  // Every key went away again, through and past the cache.
  const kv = new KVault(file)
  t.is(kv.size, 0)
  kv.close()
})

test('a string key and its UTF-8 bytes are one key; Map-like surface', (t) => {
  const kv = new KVault(tmp())
  t.is(kv.set('a', 1), kv)
  t.is(kv.get(Buffer.from('a')), 1)
  kv.put(new Uint8Array([0x61]), 2)
  t.is(kv.get('a'), 2)
  t.is(kv.size, 1)
  t.true(kv.has('a'))
  t.true(kv.delete('a'))
  t.false(kv.delete('a'))
  t.false(kv.has('a'))
  kv.put('x', 1)
  kv.put('y', 2)
  const seen: [string, unknown][] = []
  kv.forEach((v, k) => seen.push([k.toString(), v]))
  t.deepEqual(seen, [['x', 1], ['y', 2]])
  t.deepEqual(new Map([...kv].map(([k, v]) => [k.toString(), v])), new Map([['x', 1], ['y', 2]]))
  kv.clear()
  t.is(kv.size, 0)
  kv.close()
})

test('iteration is ordered, lazy and honours prefix, bounds, reverse and limit', (t) => {
  const kv = new KVault(tmp())
  const n = 5000 // more than several pages
  kv.putMany(Array.from({ length: n }, (_, i) => [`k:${String(i).padStart(8, '0')}`, i] as const))
  kv.putMany([[Buffer.from([0x6b, 0xff]), 'ff'], [Buffer.from([0x6b, 0xff, 0xff, 1]), 'ff2'], [Buffer.from([0x6c]), 'l']])
  const keys = [...kv.keys({ prefix: 'k:', asString: true })]
  t.is(keys.length, n)
  t.deepEqual(keys.slice(0, 2), ['k:00000000', 'k:00000001'])
  t.true(keys.every((k, i) => i === 0 || keys[i - 1] < k))
  t.true(Buffer.isBuffer(kv.keys().next().value))
  // 0xFF edge of the prefix bound
  t.deepEqual([...kv.values({ prefix: Buffer.from([0x6b, 0xff]) })], ['ff', 'ff2'])
  t.deepEqual([...kv.keys({ gte: 'k:00000010', lt: 'k:00000013', asString: true })], ['k:00000010', 'k:00000011', 'k:00000012'])
  t.deepEqual([...kv.keys({ gt: 'k:00000010', lte: 'k:00000012', asString: true })], ['k:00000011', 'k:00000012'])
  t.deepEqual([...kv.keys({ reverse: true, limit: 3 })].map((k) => k.toString('hex')), ['6c', '6bffff01', '6bff'])
  t.deepEqual([...kv.entries({ prefix: 'k:', reverse: true, limit: 2, asString: true })], [['k:00004999', 4999], ['k:00004998', 4998]])
  t.is([...kv.keys({ limit: 0 })].length, 0)
  // lazy: taking one entry of a big table reads one small page, and a generator sees later writes
  const it = kv.keys({ prefix: 'z' })
  kv.put('z1', 1)
  t.deepEqual(it.next().value, Buffer.from('z1'))
  kv.close()
})

test('putMany is atomic and getMany returns undefined for missing keys', (t) => {
  const kv = new KVault(tmp())
  kv.put('keep', 'yes')
  t.throws(() => kv.putMany([['a', 1], ['b', undefined as never]]), { instanceOf: InvalidArgumentError })
  t.is(kv.size, 1, 'a rejected batch stores nothing')
  t.is(kv.putMany(new Map<string, unknown>([['a', 1], ['b', 'two'], ['m', Buffer.from([0x89, 0x4b, 1])]]) as never), 3)
  t.deepEqual(kv.getMany(['a', 'nope', 'b', Buffer.from('keep'), 'm']), [1, undefined, 'two', 'yes', Buffer.from([0x89, 0x4b, 1])])
  t.deepEqual(kv.getMany([]), [])
  // Values reach the core as they are: a view into a larger ArrayBuffer must store only its
  // own bytes, and a long string must come back whole (as its own Buffer, past 4 KiB).
  const backing = Buffer.alloc(64, 0x61)
  backing.fill(0x62, 8, 24)
  const long = 'é'.repeat(3000)
  t.is(kv.putMany([['view', new Uint8Array(backing.buffer, backing.byteOffset + 8, 16)], ['long', long], ['empty', Buffer.alloc(0)]]), 3)
  t.deepEqual(kv.getMany(['view', 'long', 'empty']), [Buffer.alloc(16, 0x62), long, Buffer.alloc(0)])
  t.is(kv.get('long'), long)
  // The staging area grows past its first MiB, survives a rejected batch, and a putMany run
  // from inside the entries of another one does not disturb it.
  const big = Array.from({ length: 40 }, (_, i) => [`big${i}`, Buffer.alloc(40_000, i)] as const)
  t.throws(() => kv.putMany([...big, ['bad', undefined as never]]), { instanceOf: InvalidArgumentError })
  t.is(kv.get('big0'), undefined)
  function* nested(): Generator<[string, string]> {
    yield ['outer1', 'a']
    kv.putMany([['inner', 'b']])
    yield ['outer2', 'c']
  }
  t.is(kv.putMany(nested()), 2)
  t.is(kv.putMany(big), 40)
  t.deepEqual(kv.getMany(['outer1', 'inner', 'outer2']), ['a', 'b', 'c'])
  t.deepEqual(kv.get('big39'), Buffer.alloc(40_000, 39))
  // getMany stages its keys in the same area: keys past its first MiB, a getMany run from
  // inside the keys of another, and a bad key that leaves the area usable.
  const longKey = 'k'.repeat(1_500_000)
  kv.put(longKey, 'far')
  function* keysWithNested(): Generator<string> {
    yield 'outer1'
    t.deepEqual(kv.getMany(['inner', 'nope']), ['b', undefined])
    yield longKey
    yield 'outer2'
  }
  t.deepEqual(kv.getMany(keysWithNested()), ['a', 'far', 'c'])
  t.throws(() => kv.getMany(['a', 5 as never]), { instanceOf: InvalidArgumentError, message: /getMany key 1/ })
  t.throws(() => kv.getMany(null as never), { instanceOf: InvalidArgumentError })
  t.deepEqual(kv.getMany(new Set(['a', 'b'])), [1, 'two'])
  kv.close()
})

test('the write-back cache is invisible except in speed', (t) => {
  const file = tmp()
  const kv = new KVault(file, { cache: { flushIntervalMs: 0 } })
  const other = new KVault(file)
  kv.put('a', 1)
  kv.put('b', 2)
  t.false(other.has('a'), 'nothing reached the file yet')
  t.is(kv.get('a'), 1)
  t.true(kv.delete('a'))
  t.false(kv.has('a'))
  t.is(kv.get('a'), undefined)
  t.is(kv.size, 1)
  t.deepEqual([...kv.keys({ asString: true })], ['b'])
  t.is(other.get('b'), 2, 'size/iteration flushed')
  kv.put('c', 3)
  t.is(kv.flushCache(), 1)
  t.is(other.get('c'), 3)
  const r = kv.withCache(() => {
    kv.put('d', 4)
    return 'done'
  })
  t.is(r, 'done')
  t.is(other.get('d'), 4)
  kv.put('e', 5)
  kv.close()
  t.is(other.get('e'), 5, 'close flushes')
  other.close()
})

test('withCache flushes when fn throws and awaits promises', async (t) => {
  const file = tmp()
  const kv = new KVault(file)
  const other = new KVault(file)
  t.throws(() => kv.withCache(() => {
    kv.put('x', 1)
    throw new Error('boom')
  }), { message: 'boom' })
  t.is(other.get('x'), 1)
  await kv.withCache(async () => {
    kv.put('y', 2)
    await new Promise((r) => setTimeout(r, 5))
    kv.put('z', 3)
  })
  t.deepEqual(other.getMany(['y', 'z']), [2, 3])
  kv.close()
  other.close()
})

test('the interval flush writes pending entries and its timer does not hold the process', async (t) => {
  const file = tmp()
  const kv = new KVault(file, { cache: { flushIntervalMs: 20 } })
  const other = new KVault(file)
  kv.put('tick', 1)
  await new Promise((r) => setTimeout(r, 200))
  t.is(other.get('tick'), 1)
  kv.close()
  other.close()
  // A child that enables the cache and never closes must exit on its own and flush on exit.
  const script = `const { KVault } = require(${JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'))});
    const kv = new KVault(${JSON.stringify(file)}, { cache: { flushIntervalMs: 60000 } }); kv.put('fromChild', 'bye')`
  const { spawnSync } = await import('node:child_process')
  const res = spawnSync(process.execPath, ['--import=tsx', '-e', script], { timeout: 30000 })
  t.is(res.status, 0, res.stderr.toString())
  const check = new KVault(file, { readonly: true })
  t.is(check.get('fromChild'), 'bye')
  check.close()
})

test('the interval flush runs in the core: cached entries reach the file while the JS thread is busy', (t) => {
  const file = tmp()
  const kv = new KVault(file, { cache: { flushIntervalMs: 20 } })
  const other = new KVault(file)
  kv.put('during', 'a busy loop')
  // Block the JS thread (no timer can run) well past the interval.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400)
  t.is(other.get('during'), 'a busy loop')
  kv.disableCache()
  kv.put('after', 1)
  t.is(other.get('after'), 1, 'with the cache off a put is written at once')
  kv.close()
  other.close()
  t.throws(() => kv.get('during'), { instanceOf: ClosedError })
})

test('bad input raises typed errors and changes nothing', (t) => {
  const file = tmp()
  const kv = new KVault(file)
  kv.put('ok', 1)
  const inv = { instanceOf: InvalidArgumentError }
  t.throws(() => kv.put(1 as never, 'x'), inv)
  t.throws(() => kv.get(null as never), inv)
  t.throws(() => kv.put('k', undefined as never), inv)
  t.throws(() => kv.put('k', (() => 1) as never), inv)
  t.throws(() => kv.put('k', new Float32Array(2) as never), inv)
  t.throws(() => kv.put('k', { when: new Date() } as never), { instanceOf: InvalidArgumentError, message: /key "k"\.when.*Date/ })
  t.throws(() => kv.put('k', [Symbol('s')] as never), { instanceOf: InvalidArgumentError, message: /\[0\]/ })
  t.throws(() => [...kv.keys({ limit: -1 })], inv)
  t.throws(() => [...kv.keys({ prefix: 3 as never })], inv)
  t.throws(() => new KVault(tmp(), { table: 'kv; drop table x' }), inv)
  t.throws(() => new KVault(tmp(), { durability: 'fast' as never }), inv)
  t.throws(() => kv.enableCache({ capBytes: -5 }), inv)
  t.deepEqual([...kv.keys({ asString: true })], ['ok'])
  kv.close()
  kv.close()
  t.true(kv.closed)
  const closed = { instanceOf: ClosedError, message: new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }
  t.throws(() => kv.get('ok'), closed)
  t.throws(() => kv.put('a', 1), closed)
  t.throws(() => kv.size, closed)
  t.throws(() => [...kv.keys()], closed)
})

test('readonly vaults refuse writes; missing, garbage and truncated files give typed errors', (t) => {
  const file = tmp()
  const w = new KVault(file)
  w.putMany(Array.from({ length: 2000 }, (_, i) => [`key${i}`, Buffer.alloc(2000, i)] as const))
  w.checkpoint()
  w.close()
  const ro = new KVault(file, { readonly: true })
  t.is(ro.size, 2000)
  t.throws(() => ro.put('x', 1), { instanceOf: VaultIoError, message: /readonly.*"x"/ })
  t.throws(() => ro.delete('key1'), { instanceOf: VaultIoError })
  t.throws(() => ro.putMany([['y', 1]]), { instanceOf: VaultIoError })
  t.is(ro.size, 2000)
  ro.close()

  t.throws(() => new KVault(path.join(path.dirname(file), 'missing.db'), { readonly: true }), { instanceOf: VaultIoError, message: /missing\.db/ })
  const junk = tmp('junk.db')
  fs.writeFileSync(junk, Buffer.alloc(8192, 'x'))
  t.throws(() => new KVault(junk), { instanceOf: CorruptDataError, message: /junk\.db/ })
  const cut = tmp('cut.db')
  fs.copyFileSync(file, cut)
  fs.truncateSync(cut, Math.floor(fs.statSync(cut).size / 3))
  const err = t.throws(() => {
    const kv = new KVault(cut)
    try {
      for (let i = 0; i < 2000; i++) kv.get(`key${i}`)
      void kv.size
    } finally {
      kv.close()
    }
  })
  t.true(err instanceof VaultError && (err.code === 'CORRUPT' || err.code === 'IO_ERROR'), String(err))
  t.throws(() => new KVault(file, { readonly: true, table: 'other' }), { instanceOf: NotFoundError, message: /other/ })
})
