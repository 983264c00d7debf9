import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { ClosedError, ColumnVault, DatabaseBusyError, InvalidArgumentError, KVault } from '../src/index'
import { tempDir } from './temp-dirs'
import { lockFor } from './file-lock'

// Serial: a test's sync retries block the event loop, which would run out another's lock timer.

function tmp(): string {
  return path.join(tempDir('colbusy-'), 'c.db')
}

test.serial('busy files are retried with backoff, then DatabaseBusyError; nothing is lost', async (t) => {
  const file = tmp()
  const cv = new ColumnVault(file, { busyTimeoutMs: 10, retries: 2, backoffMs: 10 })
  const c = cv.createColumn('x', 'f64')
  const s = cv.createColumn('s', 'str')
  c.append(1)
  s.append('a')
  const w = await lockFor(file, 1500)
  const t0 = Date.now()
  t.throws(() => c.append(2), { instanceOf: DatabaseBusyError })
  // 3 attempts of >= 10 ms SQLite wait, plus 10 + 20 ms of backoff
  t.true(Date.now() - t0 >= 55, `gave up after ${Date.now() - t0} ms`)
  // Every kind of change gives up the same way, and changes nothing.
  t.throws(() => c.set(0, 5), { instanceOf: DatabaseBusyError })
  t.throws(() => s.insert(0, 'b'), { instanceOf: DatabaseBusyError })
  t.throws(() => s.delete(-1), { instanceOf: DatabaseBusyError })
  t.throws(() => cv.createColumn('y', 'i64'), { instanceOf: DatabaseBusyError })
  // Reads do not wait for the writer.
  t.deepEqual(Array.from(c.slice()), [1])
  t.deepEqual(s.toArray(), ['a'])
  // The cache keeps what a failed flush could not write.
  cv.enableCache({ flushIntervalMs: 0 })
  c.append(3)
  s.append('c')
  t.throws(() => cv.flushCache(), { instanceOf: DatabaseBusyError })
  t.is(c.length, 2)
  t.is(c.get(-1), 3)
  await new Promise((r) => w.once('exit', r))
  cv.flushCache()
  cv.close()
  const check = new ColumnVault(file)
  t.deepEqual(Array.from(check.column('x').slice()), [1, 3])
  t.deepEqual(check.column('s').toArray(), ['a', 'c'])
  t.false(check.has('y'))
  check.close()
})

test.serial('a lock released during the backoff lets the write through', async (t) => {
  const file = tmp()
  const cv = new ColumnVault(file, { busyTimeoutMs: 10, retries: 6, backoffMs: 20 })
  const s = cv.createColumn('s', 'str')
  s.extend(['a', 'b'])
  const w = await lockFor(file, 400)
  t.false(fs.existsSync(`${file}.released`))
  s.set(-1, 'B') // waits: 20, 40, 80, ... (1260 ms in all) until the locker commits
  t.true(fs.existsSync(`${file}.released`), 'the write went through only once the lock was released')
  t.deepEqual(s.toArray(), ['a', 'B'])
  cv.close()
  await new Promise((r) => w.once('exit', r))
})

test.serial('close writes cached appends with busy retries', async (t) => {
  const file = tmp()
  const cv = new ColumnVault(file, { busyTimeoutMs: 10, retries: 6, backoffMs: 20 })
  const c = cv.createColumn('x', 'i32')
  cv.enableCache({ flushIntervalMs: 0 })
  c.extend([1, 2, 3])
  const w = await lockFor(file, 300)
  cv.close()
  t.true(fs.existsSync(`${file}.released`))
  await new Promise((r) => w.once('exit', r))
  const check = new ColumnVault(file)
  t.deepEqual(Array.from(check.column('x').slice()), [1, 2, 3])
  check.close()
})

test.serial('one lifecycle: a close that cannot write the cache raises and leaves either store open with it; closing again writes it', async (t) => {
  const quick = { busyTimeoutMs: 10, retries: 1, backoffMs: 5 }
  const cvFile = tmp()
  const cv = new ColumnVault(cvFile, quick)
  const c = cv.createColumn('x', 'f64')
  cv.enableCache({ flushIntervalMs: 0 })
  c.extend([1, 2])
  const kvFile = tmp()
  const kv = new KVault(kvFile, { ...quick, cache: { flushIntervalMs: 0 } })
  kv.put('a', 1)

  const cvLock = await lockFor(cvFile, 700)
  const kvLock = await lockFor(kvFile, 700)
  t.throws(() => cv.close(), { instanceOf: DatabaseBusyError })
  t.throws(() => kv.close(), { instanceOf: DatabaseBusyError })
  // Still open, nothing lost.
  t.false(kv.closed)
  t.deepEqual(Array.from(c.slice()), [1, 2])
  t.is(kv.get('a'), 1)
  await Promise.all([cvLock, kvLock].map((w) => new Promise((r) => w.once('exit', r))))
  cv.close()
  kv.close()
  t.throws(() => c.length, { instanceOf: ClosedError })
  t.throws(() => kv.get('a'), { instanceOf: ClosedError })
  cv.close()
  kv.close()

  const cvCheck = new ColumnVault(cvFile)
  t.deepEqual(Array.from(cvCheck.column('x').slice()), [1, 2])
  cvCheck.close()
  const kvCheck = new KVault(kvFile)
  t.is(kvCheck.get('a'), 1)
  kvCheck.close()
})

test.serial('retry options are checked like KVault ones', (t) => {
  const file = tmp()
  for (const bad of [{ retries: -1 }, { backoffMs: Number.NaN }, { busyTimeoutMs: '5' as unknown as number }]) {
    t.throws(() => new ColumnVault(file, bad), { instanceOf: InvalidArgumentError, message: /must be a non-negative number/ })
  }
})
