import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { Worker } from 'node:worker_threads'

import { KVault } from '../src/index'
import { tempDir } from './temp-dirs'

const fixture = path.join(__dirname, 'fixtures', 'kv-writer.ts')

function tmp(): string {
  return path.join(tempDir('kvconc-'), 'kv.db')
}

function runWorker(data: object): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(`require('tsx/cjs'); require(${JSON.stringify(fixture)})`, { eval: true, workerData: data })
    w.on('error', reject)
    w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))))
  })
}

function runChild(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import=tsx', fixture, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', (d) => (err += d))
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}: ${err}`))))
  })
}

test('4 worker threads and 2 processes write one file at once; every key is there', async (t) => {
  const file = tmp()
  new KVault(file).close() // create the file once, so nobody races on the schema
  const count = 400
  const modes = ['put', 'cache', 'many', 'put']
  await Promise.all([
    ...modes.map((mode, i) => runWorker({ file, prefix: `w${i}`, count, mode })),
    runChild([file, 'p0', String(count), 'put']),
    runChild([file, 'p1', String(count), 'cache']),
  ])
  const kv = new KVault(file, { readonly: true })
  t.is(kv.size, 6 * count)
  for (const prefix of ['w0', 'w1', 'w2', 'w3', 'p0', 'p1']) {
    const keys = [...kv.keys({ prefix: `${prefix}:`, asString: true })]
    t.is(keys.length, count, prefix)
    t.deepEqual(kv.get(`${prefix}:000123`), { i: 123, who: prefix })
  }
  kv.close()
})

test('kill -9 in the middle of a large putMany leaves all of the batch or none of it', async (t) => {
  for (let round = 0; round < 2; round++) {
    const file = tmp()
    const count = 60000 // 60k x 4 KiB = 240 MiB in one transaction
    const child = spawn(process.execPath, ['--import=tsx', fixture, file, 'batch', String(count), 'crash'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const exited = new Promise((r) => child.on('exit', r))
    // Wait until SQLite is writing the transaction into the WAL (pages spill as the batch grows).
    const wal = `${file}-wal`
    const deadline = Date.now() + 60000
    const threshold = round === 0 ? 4 << 20 : 64 << 20
    while (Date.now() < deadline && !out.includes('committed')) {
      if (out.includes('writing') && fs.existsSync(wal) && fs.statSync(wal).size > threshold) break
      await new Promise((r) => setTimeout(r, 2))
    }
    child.kill('SIGKILL')
    await exited
    const kv = new KVault(file)
    t.is(kv.get('before'), 'committed')
    const n = [...kv.keys({ prefix: 'batch:' })].length
    t.true(n === 0 || n === count, `round ${round}: ${n} of ${count} batch keys survived`)
    if (!out.includes('committed')) t.is(n, 0, 'killed before the commit: nothing of the batch')
    t.log(`round ${round}: killed ${out.includes('committed') ? 'after' : 'before'} commit, ${n} keys`)
    kv.close()
  }
})
