/**
 * KVault benchmark: 50k puts and 50k gets of 1 KiB and 16 KiB values (keys `k:00000000`...,
 * one constant value), cache on and off, side by side in one run with better-sqlite3 (batched
 * transactions), lmdb-js, and the Python kohakuvault 0.8 package when pip can install it.
 * Prints ops/s, MB/s and our ratio to each peer (medians of REPEATS runs; > 1 means we are faster).
 *
 *   npm run build            # release native module
 *   node --import=tsx bench/kv.ts        (KV_N=50000 KV_REPEATS=3 to change the workload)
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import Database from 'better-sqlite3'
import { open as lmdbOpen } from 'lmdb'

import { KVault } from '../src/index'
import { median, time } from './lib/timing'

const N = Number(process.env.KV_N ?? 50000)
const REPEATS = Number(process.env.KV_REPEATS ?? 3)
const BATCH = 1000
const SIZES = [1024, 16 * 1024]
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kvbench-'))
const keys = Array.from({ length: N }, (_, i) => `k:${String(i).padStart(8, '0')}`)

type Result = { system: string; op: 'put' | 'get'; size: number; seconds: number }
const results: Result[] = []

async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

function record(system: string, size: number, puts: number[], gets: number[]) {
  results.push({ system, op: 'put', size, seconds: median(puts) })
  results.push({ system, op: 'get', size, seconds: median(gets) })
}

let seq = 0
const fresh = (name: string) => path.join(root, `${name}-${seq++}`)

function benchAmber(size: number, value: Buffer) {
  const variants: [string, (kv: KVault) => void][] = [
    ['ambervault cache off (putMany x1000)', (kv) => {
      for (let i = 0; i < N; i += BATCH) kv.putMany(keys.slice(i, i + BATCH).map((k) => [k, value] as const))
    }],
    ['ambervault cache off (single puts)', (kv) => {
      for (const k of keys) kv.put(k, value)
    }],
    ['ambervault cache on', (kv) => {
      kv.enableCache({ flushIntervalMs: 0 })
      for (const k of keys) kv.put(k, value)
      kv.flushCache()
    }],
  ]
  for (const [name, put] of variants) {
    const puts: number[] = []
    const gets: number[] = []
    for (let r = 0; r < REPEATS; r++) {
      const kv = new KVault(fresh('amber.db'))
      puts.push(time(() => put(kv)))
      let last: unknown
      gets.push(time(() => {
        for (const k of keys) last = kv.get(k)
      }))
      if ((last as Buffer).length !== size) throw new Error('ambervault get returned the wrong value')
      kv.close()
    }
    record(name, size, puts, gets)
  }
}

function benchBetterSqlite(size: number, value: Buffer) {
  const puts: number[] = []
  const gets: number[] = []
  for (let r = 0; r < REPEATS; r++) {
    const db = new Database(fresh('bsq.db'))
    db.pragma('page_size = 32768')
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec('CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL)')
    const up = db.prepare('INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
    const get = db.prepare('SELECT value FROM kv WHERE key = ?').pluck()
    const batch = db.transaction((ks: string[]) => {
      for (const k of ks) up.run(Buffer.from(k), value)
    })
    puts.push(time(() => {
      for (let i = 0; i < N; i += BATCH) batch(keys.slice(i, i + BATCH))
    }))
    let last: Buffer | undefined
    gets.push(time(() => {
      for (const k of keys) last = get.get(Buffer.from(k)) as Buffer
    }))
    if (last?.length !== size) throw new Error('better-sqlite3 get returned the wrong value')
    db.close()
  }
  record('better-sqlite3 (txn x1000)', size, puts, gets)
}

async function benchLmdb(size: number, value: Buffer) {
  const puts: number[] = []
  const gets: number[] = []
  for (let r = 0; r < REPEATS; r++) {
    const db = lmdbOpen({ path: fresh('lmdb'), encoding: 'binary' })
    puts.push(await timeAsync(async () => {
      for (let i = 0; i < N; i += BATCH) {
        db.transactionSync(() => {
          for (let j = i; j < Math.min(N, i + BATCH); j++) db.putSync(keys[j], value)
        })
      }
    }))
    let last: Buffer | undefined
    gets.push(time(() => {
      for (const k of keys) last = db.get(k) as Buffer
    }))
    if (last?.length !== size) throw new Error('lmdb get returned the wrong value')
    await db.close()
  }
  record('lmdb (txn x1000)', size, puts, gets)
}

function pythonEnv(): string | null {
  const venv = path.join(os.tmpdir(), 'ambervault-kohakuvault-venv')
  const python = path.join(venv, 'bin', 'python')
  if (spawnSync(python, ['-c', 'import kohakuvault']).status === 0) return python
  if (spawnSync('python3', ['-m', 'venv', venv]).status !== 0) return null
  const pip = spawnSync(python, ['-m', 'pip', 'install', '-q', 'kohakuvault<0.9'], { stdio: 'inherit' })
  return pip.status === 0 ? python : null
}

function benchPython(python: string, size: number) {
  const r = spawnSync(python, [path.join(__dirname, 'kv_python.py'), root, String(N), String(size), String(REPEATS)], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.warn(`python kohakuvault bench failed: ${r.stderr}`)
    return
  }
  const res = JSON.parse(r.stdout) as Record<string, number>
  for (const tag of ['cache off', 'cache on']) {
    results.push({ system: `kohakuvault (py) ${tag}`, op: 'put', size, seconds: res[`put|${tag}`] })
    results.push({ system: `kohakuvault (py) ${tag}`, op: 'get', size, seconds: res[`get|${tag}`] })
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

function printTable() {
  const ours = (r: Result) => r.system.startsWith('ambervault')
  const rows: string[][] = [['op', 'size', 'system', 'ops/s', 'MB/s', 'ours/peer (cache off | cache on)']]
  for (const size of SIZES) {
    for (const op of ['put', 'get'] as const) {
      const group = results.filter((r) => r.size === size && r.op === op)
      const off = group.find((r) => r.system === 'ambervault cache off (putMany x1000)')!
      const on = group.find((r) => r.system === 'ambervault cache on')!
      for (const r of group) {
        const ops = N / r.seconds
        const mbs = (N * size) / r.seconds / 1e6
        const ratio = ours(r) ? '' : `${fmt(r.seconds / off.seconds, 2)}x | ${fmt(r.seconds / on.seconds, 2)}x`
        rows.push([op, `${size / 1024} KiB`, r.system, fmt(ops), fmt(mbs, 1), ratio])
      }
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`
  console.log(line(rows[0]))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows.slice(1)) console.log(line(r))
}

async function main() {
  console.log(`KVault bench: ${N} puts + ${N} gets per run, median of ${REPEATS}, node ${process.version}, ${os.cpus().length} cpus`)
  const python = pythonEnv()
  if (!python) console.warn('python kohakuvault unavailable (pip install failed): its rows are left out')
  for (const size of SIZES) {
    const value = Buffer.alloc(size, 1)
    benchAmber(size, value)
    benchBetterSqlite(size, value)
    await benchLmdb(size, value)
    if (python) benchPython(python, size)
  }
  printTable()
  fs.rmSync(root, { recursive: true, force: true })
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
