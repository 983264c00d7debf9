/**
 * Point reads keep a read snapshot open between calls (crates/ambervault-core/src/kv/snapshot.rs).
 * These specs pin down what that must never change: every get sees every commit made before it,
 * by this vault, another vault on the file, or another process, even inside one synchronous run
 * of code; and a vault that has read does not hold back other connections' checkpoints.
 */
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import { KVault } from '../src/index'
import { tempDir } from './temp-dirs'

const INDEX = path.join(__dirname, '..', 'src', 'index.ts')

function tmp(name = 'kv.db'): string {
  return path.join(tempDir('kvcoh-'), name)
}

/** Run `body` (JS with `KVault` and `file` in scope) in a child process and wait for it. */
function child(file: string, body: string): string {
  const script = `const { KVault } = require(${JSON.stringify(INDEX)}); const file = ${JSON.stringify(file)};\n${body}`
  const r = spawnSync(process.execPath, ['--import=tsx', '-e', script], { encoding: 'utf8', timeout: 60000 })
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
  return r.stdout.trim()
}

function walSize(file: string): number {
  try {
    return fs.statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}

test('a get sees a write another process committed just before it, within one synchronous run', (t) => {
  const file = tmp()
  const kv = new KVault(file)
  kv.put('k', 'one')
  kv.put('gone', 1)
  t.is(kv.get('k'), 'one') // the snapshot is now held: no await until the end of this test
  child(file, `const kv = new KVault(file); kv.put('k', 'two'); kv.put('new', Buffer.from([7])); kv.delete('gone'); kv.close()`)
  t.is(kv.get('k'), 'two')
  t.deepEqual(kv.get('new'), Buffer.from([7]))
  t.false(kv.has('gone'))
  child(file, `const kv = new KVault(file); kv.putMany([['k', 'three'], ['m', 4]]); kv.checkpoint(); kv.close()`)
  t.deepEqual(kv.getMany(['k', 'm', 'gone']), ['three', 4, undefined])
  t.is(kv.get('k'), 'three')
  kv.close()
})

test('another KVault on the file: its puts, deletes, batches and flushed cache are seen by the next get', (t) => {
  const file = tmp()
  const a = new KVault(file)
  const b = new KVault(file)
  b.put('k', 1)
  t.is(a.get('k'), 1)
  b.put('k', 2)
  t.is(a.get('k'), 2)
  b.delete('k')
  t.is(a.get('k'), undefined)
  t.false(a.has('k'))
  b.putMany([['x', 'x'], ['y', 'y']])
  t.deepEqual(a.getMany(['x', 'y']), ['x', 'y'])
  // The reader's own writes, counts and scans work while it holds a snapshot.
  a.put('own', true)
  t.is(a.get('own'), true)
  t.is(a.size, 3)
  t.is(a.get('x'), 'x')
  t.deepEqual([...a.keys({ asString: true })], ['own', 'x', 'y'])
  t.is(b.get('own'), true)
  // Another vault's cached writes show once it flushes, not before.
  b.enableCache({ flushIntervalMs: 0 })
  b.put('x', 'cached')
  t.is(a.get('x'), 'x')
  b.flushCache()
  t.is(a.get('x'), 'cached')
  a.close()
  b.close()
})

test('a vault that has read does not hold back TRUNCATE checkpoints of other connections', async (t) => {
  const file = tmp()
  const a = new KVault(file)
  const b = new KVault(file)
  a.putMany(Array.from({ length: 50 }, (_, i) => [`k${i}`, Buffer.alloc(4096, i)] as const))
  t.true(walSize(file) > 0)
  // Same thread, same synchronous run: the checkpoint releases this thread's snapshots first.
  t.is(a.get('k1')?.constructor, Buffer)
  b.checkpoint()
  t.is(walSize(file), 0)
  // Another process checkpointing after this vault read and went idle (the release runs at
  // the end of the synchronous run): nothing holds a read lock, so the WAL is truncated.
  b.put('k2', Buffer.alloc(4096, 9))
  t.true(walSize(file) > 0)
  t.deepEqual(a.get('k2'), Buffer.alloc(4096, 9))
  await new Promise((r) => setImmediate(r))
  const out = child(file, `const kv = new KVault(file, { busyTimeoutMs: 200, retries: 0 }); kv.checkpoint(); kv.close(); console.log('ok')`)
  t.is(out, 'ok')
  t.is(walSize(file), 0)
  t.deepEqual(a.get('k2'), Buffer.alloc(4096, 9))
  a.close()
  b.close()
})
