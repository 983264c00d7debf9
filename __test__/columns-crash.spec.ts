/**
 * Crashes and concurrency: a writer killed with SIGKILL in the middle of large extends leaves a
 * column that is a prefix of what was written (never zeros or garbage), and readers in another
 * process see consistent prefixes while a writer appends.
 */
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawn } from 'node:child_process'

import { ColumnVault } from '../src/index'
import { tempDir } from './temp-dirs'

const WRITER = path.join(__dirname, 'fixtures', 'columns-writer.ts')

function tmpFile(name: string): string {
  return path.join(tempDir('av-crash-'), name)
}

function startWriter(file: string, batch: number, max = Infinity) {
  const child = spawn(process.execPath, ['--import=tsx', WRITER, file, String(batch), String(max)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let committed = 0
  let err = ''
  child.stdout.on('data', (d: Buffer) => {
    const lines = d.toString().trim().split('\n')
    committed = Number(lines.at(-1))
  })
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  return { child, committed: () => committed, stderr: () => err }
}

function checkPrefix(t: any, file: string, atLeast: number) {
  const cv = new ColumnVault(file)
  const x = cv.column('x').slice() as Float64Array
  t.true(x.length >= atLeast, `length ${x.length} >= last reported ${atLeast}`)
  let bad = -1
  for (let i = 0; i < x.length; i++)
    if (x[i] !== i) {
      bad = i
      break
    }
  t.is(bad, -1, `element ${bad} is ${x[bad]}, not its index`)
  const texts = cv.column('t').toArray()
  texts.forEach((s: string, i: number) => {
    if (!/^row \d+:\d$/.test(s)) t.fail(`text ${i} is garbage: ${JSON.stringify(s)}`)
  })
  cv.close()
  return x.length
}

test('kill -9 in the middle of large extends leaves a clean prefix', async (t) => {
  const file = tmpFile('crash.db')
  for (let round = 0; round < 3; round++) {
    const w = startWriter(file, 50_000)
    // Let it write a few batches, then kill it at an arbitrary moment.
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (w.committed() > (round + 1) * 150_000) {
          clearInterval(check)
          setTimeout(resolve, 7 * round + 3)
        }
      }, 5)
    })
    w.child.kill('SIGKILL')
    await new Promise((r) => w.child.once('exit', r))
    t.is(w.stderr(), '')
    const len = checkPrefix(t, file, w.committed())
    t.true(len % 50_000 === 0, `length ${len} is a whole number of batches`)
  }
})

test('readers in this process see consistent prefixes while another process appends', async (t) => {
  const file = tmpFile('readers.db')
  const w = startWriter(file, 2_000, 400_000)
  const done = new Promise((r) => w.child.once('exit', r))
  let finished = false
  void done.then(() => (finished = true))
  while (!fs.existsSync(file) || w.committed() === 0) await new Promise((r) => setTimeout(r, 5))
  const cv = new ColumnVault(file)
  let reads = 0
  let lastLen = 0
  while (!finished) {
    if (!cv.has('x')) continue
    const col = cv.column('x')
    const len = col.length
    t.true(len >= lastLen, 'length never goes back')
    lastLen = len
    if (len > 0) {
      const from = Math.max(0, len - 3000)
      const tail = col.slice(from, len) as Float64Array
      t.is(tail.length, len - from)
      for (let i = 0; i < tail.length; i++) if (tail[i] !== from + i) t.fail(`bad value at ${from + i}: ${tail[i]}`)
      t.true((col.get(-1) as number) >= len - 1, 'the last element is at least as far as the length seen')
    }
    reads++
    await new Promise((r) => setImmediate(r))
  }
  t.true(reads > 5, `${reads} reads happened during the writes`)
  t.is(cv.column('x').length, 400_000)
  cv.close()
})
