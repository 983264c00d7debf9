import test from 'ava'

import { DataPacker, InvalidArgumentError } from '../src/index'

test('the dtype grammar: sizes, var-size, bad strings', (t) => {
  t.is(new DataPacker('i64').elemSize, 8)
  t.is(new DataPacker('str:10:latin1').elemSize, 10)
  t.is(new DataPacker('vec:f32:2:3').elemSize, 25)
  t.true(new DataPacker('msgpack').isVarSize)
  t.false(new DataPacker('cbor:16').isVarSize)
  for (const bad of ['q9', 'i64:3', 'bytes:0', 'str:5:klingon', 'vec:bool', 'vec:f32:0'])
    t.throws(() => new DataPacker(bad), { instanceOf: InvalidArgumentError, message: new RegExp(bad.replace(/[:]/g, ':')) })
})

test('pack / unpack / packMany / unpackMany', (t) => {
  const p = new DataPacker('f64')
  t.deepEqual(p.pack(1.5), Buffer.from(new Float64Array([1.5]).buffer))
  t.is(p.unpack(p.pack(-2.25)), -2.25)
  const many = p.packMany([1, 2, 3])
  t.is(many.length, 24)
  t.deepEqual(p.unpackMany(many, { count: 3 }), [1, 2, 3])
  t.is(p.unpack(many, 8), 2)

  const s = new DataPacker('str')
  const { bytes, offsets } = s.packManyWithEnds(['a', 'bcd', ''])
  t.deepEqual(s.unpackMany(bytes, { offsets }), ['a', 'bcd', ''])
  t.throws(() => s.unpackMany(bytes, { count: 3 }), { instanceOf: InvalidArgumentError })

  const u8 = new DataPacker('u8')
  t.throws(() => u8.pack(300), { instanceOf: InvalidArgumentError, message: /300 does not fit dtype u8/ })
  t.throws(() => new DataPacker('str:3').pack('abcd'), { instanceOf: InvalidArgumentError })
  t.throws(() => new DataPacker('str:ascii').pack('é'), { instanceOf: InvalidArgumentError, message: /ASCII/ })
  t.throws(() => new DataPacker('vec:f32:3').pack([1, 2]), { instanceOf: InvalidArgumentError, message: /shape/ })
  t.deepEqual(new DataPacker('str:6:utf16be').unpack(new DataPacker('str:6:utf16be').pack('hé')), 'hé')
  const m = new DataPacker('msgpack')
  t.deepEqual(m.pack({ a: 1 }), Buffer.from([0x81, 0xa1, 0x61, 0x01]))
  t.deepEqual(m.unpack(m.pack({ a: [1, 'x', null] })), { a: [1, 'x', null] })
  const c = new DataPacker('cbor')
  t.deepEqual(c.unpack(c.pack({ z: 0.5 })), { z: 0.5 })
  const i64 = new DataPacker('i64')
  t.is(i64.unpack(i64.pack(2n ** 62n), 0, { bigint: true }), 2n ** 62n)
  t.throws(() => i64.unpack(i64.pack(2n ** 62n)), { instanceOf: InvalidArgumentError })
})

test('withJsonSchema rejects values and names the failing path', (t) => {
  const p = DataPacker.withJsonSchema({
    type: 'object',
    properties: { lr: { type: 'number' }, tags: { type: 'array', items: { type: 'string' } } },
    required: ['lr'],
  })
  t.is(p.dtype, 'msgpack')
  t.deepEqual(p.unpack(p.pack({ lr: 0.1, tags: ['a'] })), { lr: 0.1, tags: ['a'] })
  t.throws(() => p.pack({ lr: 0.1, tags: ['a', 3] }), { instanceOf: InvalidArgumentError, message: /\/tags\/1/ })
  t.throws(() => p.pack({ tags: [] }), { instanceOf: InvalidArgumentError, message: /lr/ })
  t.throws(() => DataPacker.withJsonSchema({ type: 12 }), { instanceOf: InvalidArgumentError })
})

test('single numbers: every numeric dtype packs and unpacks one value exactly as a batch does, with the same checks', (t) => {
  const cases: [string, number[], number[]][] = [
    ['f64', [0, -0, 1.5, -1e308, Number.MIN_VALUE, Infinity, NaN], []],
    ['f32', [0, 1.5, -2.25, Math.fround(3.4e38)], [1e39]],
    ['i8', [-128, 0, 127], [128, -129, 1.5]],
    ['i16', [-32768, 32767], [32768]],
    ['i32', [-(2 ** 31), 2 ** 31 - 1], [2 ** 31]],
    ['u8', [0, 255], [-1, 256]],
    ['u16', [0, 65535], [65536]],
    ['u32', [0, 2 ** 32 - 1], [2 ** 32, -1]],
    ['i64', [-(2 ** 53), 2 ** 53, -1], [2 ** 54, 0.5]],
    ['u64', [0, 2 ** 53], [-1, 2 ** 54]],
  ]
  for (const [dtype, good, bad] of cases) {
    const p = new DataPacker(dtype)
    for (const v of good) {
      const one = p.pack(v)
      t.deepEqual(one, p.packMany([v]), `${dtype} ${v}`)
      t.is(Object.is(p.unpack(one), v), true, `${dtype} ${v} comes back`)
      // A plain Uint8Array at an offset reads the same.
      const framed = new Uint8Array(one.length + 3)
      framed.set(one, 3)
      t.is(Object.is(p.unpack(framed, 3), v), true, `${dtype} ${v} at offset 3 of a Uint8Array`)
    }
    for (const v of bad) {
      const e = t.throws(() => p.pack(v), { instanceOf: InvalidArgumentError }, `${dtype} ${v}`)
      t.regex(e!.message, /does not fit dtype/)
    }
  }
  const f64 = new DataPacker('f64')
  t.throws(() => f64.unpack(Buffer.alloc(7)), { instanceOf: InvalidArgumentError, message: /run past/ })
  t.throws(() => f64.unpack(Buffer.alloc(8), 1), { instanceOf: InvalidArgumentError })
  t.throws(() => f64.unpack('not bytes' as never), { instanceOf: InvalidArgumentError })
  // Past 2^53 a stored 64-bit integer is not a number: ask for a bigint.
  const u64 = new DataPacker('u64')
  const big = u64.pack(2n ** 60n)
  t.throws(() => u64.unpack(big), { instanceOf: InvalidArgumentError, message: /beyond 2\^53/ })
  t.is(u64.unpack(big, 0, { bigint: true }), 2n ** 60n)
})
