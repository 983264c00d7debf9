import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { spawnSync } from 'node:child_process'
import { buffer as collect } from 'node:stream/consumers'

import { KVault, InvalidArgumentError, NotFoundError } from '../src/index'
import { tempDir } from './temp-dirs'

function tmpdir(): string {
  return tempDir('kvstream-')
}

test('putStream / getStream / putFile / getToFile round-trip bytes, including a leading 0x89 0x4B', async (t) => {
  const dir = tmpdir()
  const kv = new KVault(path.join(dir, 'kv.db'))
  const data = Buffer.alloc(5 * 1024 * 1024 + 17)
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i, i)
  data[0] = 0x89
  data[1] = 0x4b
  async function* chunks() {
    for (let off = 0; off < data.length; off += 100_000) yield data.subarray(off, off + 100_000)
  }
  t.is(await kv.putStream('gen', chunks(), { size: data.length }), data.length)
  t.true((kv.get('gen') as Buffer).equals(data))
  t.true((await collect(kv.getStream('gen'))).equals(data))
  t.is(await kv.putStream('readable', Readable.from([Buffer.from('ab'), Buffer.from('cd')])), 4)
  t.is(kv.get('readable')?.toString(), 'abcd')
  const src = path.join(dir, 'src.bin')
  fs.writeFileSync(src, data)
  t.is(await kv.putFile('file', src), data.length)
  const out = path.join(dir, 'out.bin')
  t.is(await kv.getToFile('file', out), data.length)
  t.true(fs.readFileSync(out).equals(data))
  // Empty values stream too.
  t.is(await kv.putStream('empty', Readable.from([])), 0)
  t.is((await collect(kv.getStream('empty'))).length, 0)
  kv.close()
})

test('streams see cached writes and fail cleanly', async (t) => {
  const dir = tmpdir()
  const kv = new KVault(path.join(dir, 'kv.db'), { cache: { flushIntervalMs: 0 } })
  kv.put('cached', Buffer.from('pending'))
  t.is((await collect(kv.getStream('cached'))).toString(), 'pending')
  t.throws(() => kv.getStream('nope'), { instanceOf: NotFoundError, message: /"nope"/ })
  await t.throwsAsync(kv.getToFile('nope', path.join(dir, 'x.bin')), { instanceOf: NotFoundError })
  t.false(fs.existsSync(path.join(dir, 'x.bin')))
  await t.throwsAsync(kv.putStream('short', Readable.from([Buffer.from('abc')]), { size: 10 }), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(kv.putStream('objs', Readable.from([{ a: 1 }]) as never), { instanceOf: InvalidArgumentError })
  await t.throwsAsync(kv.putFile('missing', path.join(dir, 'no-such-file')), { message: /no-such-file/ })
  t.false(kv.has('short'))
  t.false(kv.has('objs'))
  kv.put('text', 'a string')
  t.throws(() => kv.getStream('text'), { instanceOf: InvalidArgumentError, message: /encoded value/ })
  kv.close()
})

// 256 MiB by default; AMBERVAULT_BIG_STREAM=1 streams a value just under SQLite's 2 GiB BLOB limit.
const big = process.env.AMBERVAULT_BIG_STREAM === '1'
const size = big ? 2 ** 31 - 64 * 1024 : 256 * 1024 * 1024

test(`a ${big ? '~2 GiB' : '256 MiB'} value streams in and out with flat memory`, (t) => {
  const dir = tmpdir()
  try {
    const child = path.join(__dirname, 'fixtures', 'kv-stream-child.ts')
    const r = spawnSync(process.execPath, ['--import=tsx', child, dir, String(size)], { encoding: 'utf8', timeout: 15 * 60 * 1000 })
    t.is(r.status, 0, r.stderr)
    const res = JSON.parse(r.stdout)
    t.is(res.stored, size)
    t.is(res.copied, size)
    t.true(res.fileSame, 'getToFile bytes match the source')
    t.true(res.streamSame, 'getStream bytes match the source')
    const grew = res.peak - res.baseline
    t.log(`value ${size} bytes; peak RSS ${(res.peak / 2 ** 20).toFixed(0)} MiB, baseline ${(res.baseline / 2 ** 20).toFixed(0)} MiB; ms ${JSON.stringify(res.ms)}`)
    t.true(grew < 96 * 2 ** 20, `RSS grew by ${(grew / 2 ** 20).toFixed(0)} MiB while streaming ${size / 2 ** 20} MiB`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
