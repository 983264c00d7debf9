import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { KVault, DatabaseBusyError } from '../src/index'
import { tempDir } from './temp-dirs'
import { lockFor } from './file-lock'

function tmp(): string {
  return path.join(tempDir('kvbusy-'), 'kv.db')
}

test('busy files are retried with backoff, then DatabaseBusyError; nothing is lost', async (t) => {
  const file = tmp()
  const kv = new KVault(file, { busyTimeoutMs: 10, retries: 2, backoffMs: 10 })
  kv.put('before', 1)
  const w = await lockFor(file, 1500)
  const t0 = Date.now()
  t.throws(() => kv.put('x', 1), { instanceOf: DatabaseBusyError, message: /kv\.db/ })
  // 3 attempts of >= 10 ms SQLite wait, plus 10 + 20 ms of backoff
  t.true(Date.now() - t0 >= 55, `gave up after ${Date.now() - t0} ms`)
  // The cache keeps what a failed flush could not write.
  kv.enableCache({ flushIntervalMs: 0 })
  kv.put('cached', 2)
  t.throws(() => kv.flushCache(), { instanceOf: DatabaseBusyError })
  t.is(kv.get('cached'), 2)
  await new Promise((r) => w.once('exit', r))
  t.is(kv.flushCache(), 1)
  kv.close()
  const check = new KVault(file, { readonly: true })
  t.deepEqual(check.getMany(['before', 'x', 'cached']), [1, undefined, 2])
  check.close()
})

test('a lock released during the backoff lets the write through', async (t) => {
  const file = tmp()
  const kv = new KVault(file, { busyTimeoutMs: 10, retries: 6, backoffMs: 20 })
  const w = await lockFor(file, 400)
  t.false(fs.existsSync(`${file}.released`))
  kv.put('k', 'v') // waits: 20, 40, 80, ... (1260 ms in all) until the locker commits
  t.true(fs.existsSync(`${file}.released`), 'the write went through only once the lock was released')
  t.is(kv.get('k'), 'v')
  kv.close()
  await new Promise((r) => w.once('exit', r))
})
