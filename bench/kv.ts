/**
 * KVault benchmark: 50k puts and 50k gets of 1 KiB and 16 KiB values (keys `k:00000000`...,
 * one constant value), cache on and off, side by side in one run with better-sqlite3 (batched
 * transactions), lmdb-js, and the Python kohakuvault 0.8 package when pip can install it.
 *
 * The machine is shared and noisy, so every system runs once per round, the rounds interleave
 * the systems (a slow minute hurts all of them alike), and the table shows medians of
 * KV_REPEATS rounds. Ratios are peer time / our time: > 1 means we are faster.
 *
 * Like for like: our putMany and cache-on puts compare with the batched peers (better-sqlite3
 * and lmdb with 1000 puts per transaction); our uncached single put is one durable transaction
 * per call, so it compares with better-sqlite3 in autocommit (one INSERT per transaction, same
 * pragmas) and with Python kohakuvault's cache-off puts, which are the same.
 *
 * The "floor" rows are the same 50k gets done by Rust alone (examples/kv_floor.rs in the core,
 * release build): a held SQLite statement with one read transaction per get (with and without
 * mmap), the same inside one read transaction, and `KvStore::get_with` (our core without
 * napi and TypeScript). They say how far the JS API is from SQLite's own cost.
 *
 *   npm run build            # release native module
 *   npm run bench kv         (KV_N=50000 KV_REPEATS=5 KV_SIZES=1024,16384 to change the workload)
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import Database from 'better-sqlite3'
import { open as lmdbOpen } from 'lmdb'

import { KVault } from '../src/index'
import { devCache } from '../__test__/dev-cache'
import { floorBinary } from './lib/floor'
import { benchTemp, removeTemp } from './lib/temp'
import { median, time } from './lib/timing'

const N = Number(process.env.KV_N ?? 50000)
const REPEATS = Number(process.env.KV_REPEATS ?? 5)
const BATCH = 1000
const SIZES = (process.env.KV_SIZES ?? '1024,16384').split(',').map(Number)
const root = benchTemp('kvbench-')
const keys = Array.from({ length: N }, (_, i) => `k:${String(i).padStart(8, '0')}`)

/** Seconds of each round, per system, size and op. */
const runs = new Map<string, number[]>()
const order: string[] = []
const slot = (system: string, op: 'put' | 'get', size: number) => `${system}|${op}|${size}`

function add(system: string, op: 'put' | 'get', size: number, seconds: number) {
  const k = slot(system, op, size)
  if (!runs.has(k)) {
    runs.set(k, [])
    if (!order.includes(system)) order.push(system)
  }
  runs.get(k)!.push(seconds)
}

async function timeAsync(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e9
}

let seq = 0
const fresh = (name: string) => path.join(root, `${name}-${seq++}`)

/** Remove a store right after its run: one 16 KiB round would otherwise need ~6 GB of disk. */
function drop(file: string) {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { recursive: true, force: true })
}

const OURS_PUTMANY = 'ambervault putMany x1000 (cache off)'
const OURS_SINGLE = 'ambervault put, cache off (1 txn per put)'
const OURS_CACHE = 'ambervault put, cache on'
const BSQ_BATCHED = 'better-sqlite3 (txn x1000)'
const BSQ_AUTOCOMMIT = 'better-sqlite3 autocommit (1 txn per put)'

function amberRound(size: number, value: Buffer) {
  const variants: [string, (kv: KVault) => void][] = [
    [OURS_PUTMANY, (kv) => {
      for (let i = 0; i < N; i += BATCH) kv.putMany(keys.slice(i, i + BATCH).map((k) => [k, value] as const))
    }],
    [OURS_SINGLE, (kv) => {
      for (const k of keys) kv.put(k, value)
    }],
    [OURS_CACHE, (kv) => {
      kv.enableCache({ flushIntervalMs: 0 })
      for (const k of keys) kv.put(k, value)
      kv.flushCache()
    }],
  ]
  for (const [name, put] of variants) {
    const file = fresh('amber.db')
    const kv = new KVault(file)
    add(name, 'put', size, time(() => put(kv)))
    let last: unknown
    add(name, 'get', size, time(() => {
      for (const k of keys) last = kv.get(k)
    }))
    if ((last as Buffer).length !== size) throw new Error('ambervault get returned the wrong value')
    kv.close()
    drop(file)
  }
}

/** A better-sqlite3 file with our table and our connection pragmas (docs/format.md). */
function betterSqliteOpen(file: string) {
  const db = new Database(file)
  db.pragma('page_size = 32768')
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.exec('CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL)')
  const up = db.prepare('INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
  return { db, up }
}

function betterSqliteRound(size: number, value: Buffer) {
  const file = fresh('bsq.db')
  const { db, up } = betterSqliteOpen(file)
  const get = db.prepare('SELECT value FROM kv WHERE key = ?').pluck()
  const batch = db.transaction((ks: string[]) => {
    for (const k of ks) up.run(Buffer.from(k), value)
  })
  add(BSQ_BATCHED, 'put', size, time(() => {
    for (let i = 0; i < N; i += BATCH) batch(keys.slice(i, i + BATCH))
  }))
  let last: Buffer | undefined
  add(BSQ_BATCHED, 'get', size, time(() => {
    for (const k of keys) last = get.get(Buffer.from(k)) as Buffer
  }))
  if (last?.length !== size) throw new Error('better-sqlite3 get returned the wrong value')
  db.close()
  drop(file)

  // The peer of our uncached single put: one INSERT per transaction (its gets are the above).
  const file1 = fresh('bsq1.db')
  const one = betterSqliteOpen(file1)
  add(BSQ_AUTOCOMMIT, 'put', size, time(() => {
    for (const k of keys) one.up.run(Buffer.from(k), value)
  }))
  one.db.close()
  drop(file1)
}

async function lmdbRound(size: number, value: Buffer) {
  const dir = fresh('lmdb')
  const db = lmdbOpen({ path: dir, encoding: 'binary' })
  add('lmdb (txn x1000)', 'put', size, await timeAsync(async () => {
    for (let i = 0; i < N; i += BATCH) {
      db.transactionSync(() => {
        for (let j = i; j < Math.min(N, i + BATCH); j++) db.putSync(keys[j], value)
      })
    }
  }))
  let last: Buffer | undefined
  add('lmdb (txn x1000)', 'get', size, time(() => {
    for (const k of keys) last = db.get(k) as Buffer
  }))
  if (last?.length !== size) throw new Error('lmdb get returned the wrong value')
  await db.close()
  drop(dir)
}

function pythonEnv(): string | null {
  const venv = devCache('venv-kohakuvault')
  const python = path.join(venv, 'bin', 'python')
  if (spawnSync(python, ['-c', 'import kohakuvault']).status === 0) return python
  if (spawnSync('python3', ['-m', 'venv', venv]).status !== 0) return null
  const pip = spawnSync(python, ['-m', 'pip', 'install', '-q', 'kohakuvault<0.9'], { stdio: 'inherit' })
  return pip.status === 0 ? python : null
}

function pythonRound(python: string, size: number) {
  const r = spawnSync(python, [path.join(__dirname, 'kv_python.py'), root, String(N), String(size), '1'], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.warn(`python kohakuvault bench failed: ${r.stderr}`)
    return
  }
  const res = JSON.parse(r.stdout) as Record<string, number>
  for (const tag of ['cache off', 'cache on']) {
    add(`kohakuvault (py) ${tag}`, 'put', size, res[`put|${tag}`])
    add(`kohakuvault (py) ${tag}`, 'get', size, res[`get|${tag}`])
  }
}

const FLOORS: [string, string][] = [
  ['sqlite', 'floor: Rust, held SQLite stmt, txn per get'],
  ['sqlite_no_mmap', 'floor: Rust, same, mmap off'],
  ['sqlite_one_txn', 'floor: Rust, held SQLite stmt, one txn'],
  ['core', 'floor: Rust, KvStore::get_with + copy'],
]

function floorRun(bin: string, size: number) {
  const r = spawnSync(bin, [root, String(N), String(size), String(REPEATS)], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.warn(`kv_floor failed: ${r.stderr}`)
    return
  }
  const res = JSON.parse(r.stdout) as Record<string, number>
  for (const [field, system] of FLOORS) add(system, 'get', size, res[field])
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
}

/** The table of one value size. */
function printTable(size: number) {
  const med = (system: string, op: 'put' | 'get') => {
    const xs = runs.get(slot(system, op, size))
    return xs ? median(xs) : undefined
  }
  const ours = [OURS_PUTMANY, OURS_SINGLE, OURS_CACHE]
  const header = ['op', 'size', 'system', 'ops/s', 'MB/s', 'peer time / ours: putMany | single put | cache on']
  const rows: string[][] = [header]
  for (const op of ['put', 'get'] as const) {
    for (const system of order) {
      const s = med(system, op)
      if (s === undefined) continue
      const ratio = ours.includes(system)
        ? ''
        : ours.map((o) => {
          const mine = med(o, op)
          return mine === undefined ? '-' : `${fmt(s / mine, 2)}x`
        }).join(' | ')
      rows.push([op, `${size / 1024} KiB`, system, fmt(N / s), fmt((N * size) / s / 1e6, 1), ratio])
    }
  }
  const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`
  console.log(line(rows[0]))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const r of rows.slice(1)) console.log(line(r))
  console.log('like for like: putMany and cache on vs the (txn x1000) peers and kohakuvault cache on; single put vs better-sqlite3 autocommit and kohakuvault cache off')
}

async function main() {
  console.log(`KVault bench: ${N} puts + ${N} gets per run, median of ${REPEATS} interleaved rounds, node ${process.version}, ${os.cpus().length} cpus`)
  const python = pythonEnv()
  if (!python) console.warn('python kohakuvault unavailable (pip install failed): its rows are left out')
  const floor = floorBinary('kv_floor')
  if (!floor) console.warn('cargo build of examples/kv_floor failed: the floor rows are left out')
  for (const size of SIZES) {
    const value = Buffer.alloc(size, 1)
    for (let r = 0; r < REPEATS; r++) {
      amberRound(size, value)
      betterSqliteRound(size, value)
      await lmdbRound(size, value)
      if (python) pythonRound(python, size)
    }
    if (floor) floorRun(floor, size)
    printTable(size) // as each size completes, so a long run that dies still leaves numbers
  }
  removeTemp(root)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
