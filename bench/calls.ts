/**
 * Per-call costs of the hot paths (issue #19's speed goals), with the peer doing the same thing in
 * the same run and the Node-API floor beside them. Run on a release build:
 * `npm run build && npm run bench calls`.
 *
 * Rows, each the median over ROUNDS interleaved rounds (the machine is shared and noisy):
 * - the floor: a native function and a class getter that do nothing but return a value: what a
 *   call into a napi module costs here (a class member also pays the check of its receiver);
 * - `col.length`, `col.get(i)` of an f64 column (random i: a cache miss per read in an 8 MB
 *   column; i in order: the call's own cost) beside better-sqlite3 reading one row by rowid;
 * - `kv.has(key)` and `kv.get(key)` of 1 KiB values, random keys of 100,000 (a b-tree descent
 *   through cold memory) and one key again and again, beside lmdb-js (`doesExist`,
 *   `getBinary`) and better-sqlite3;
 * - `DataPacker('f64').pack(x)` / `unpack(buf)` beside msgpackr and Buffer's own
 *   writeDoubleLE/readDoubleLE;
 * - throughput: a full read of N_READ f64 values (GB/s) beside the same bytes read as plain blobs
 *   through better-sqlite3, and N_APPEND cached single appends + one flush (values/s).
 *
 * Env: CALLS_N (200_000 calls per round), ROUNDS (7), N_READ (10_000_000), N_APPEND (1_000_000).
 */
import path from 'node:path'
import Database from 'better-sqlite3'
import { open as lmdbOpen } from 'lmdb'
import { pack as mpPack, unpack as mpUnpack } from 'msgpackr'

import binding from '../src/native'
import { ColumnVault, DataPacker, KVault } from '../src/index'
import { benchTemp } from './lib/temp'
import { median, time } from './lib/timing'

const CALLS = Number(process.env.CALLS_N ?? 200_000)
const ROUNDS = Number(process.env.ROUNDS ?? 7)
const N_READ = Number(process.env.N_READ ?? 10_000_000)
const N_APPEND = Number(process.env.N_APPEND ?? 1_000_000)
const KEYS = 100_000
const COL_N = 1_000_000
const DIR = benchTemp('av-calls-')
const file = (name: string) => path.join(DIR, name)

/** Random indexes, the same for every system (a fixed LCG so runs compare). */
const picks = new Uint32Array(CALLS)
{
  let s = 12345
  for (let i = 0; i < CALLS; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    picks[i] = s
  }
}
const keyOf = (i: number) => `key:${String(i).padStart(8, '0')}`
const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i))
const randomKeys = Array.from(picks, (p) => keys[p % KEYS])
const randomRows = Uint32Array.from(picks, (p) => p % COL_N)

// ---- the stores, filled once
const value = Buffer.alloc(1024, 7)
const cv = new ColumnVault(file('cols.db'))
const col = cv.createColumn('x', 'f64')
col.extend(Float64Array.from({ length: COL_N }, (_, i) => i * 0.5))

const kv = new KVault(file('kv.db'))
for (let i = 0; i < KEYS; i += 1000) kv.putMany(keys.slice(i, i + 1000).map((k) => [k, value] as const))

const lmdb = lmdbOpen({ path: file('lmdb'), encoding: 'binary', compression: false })
lmdb.transactionSync(() => {
  for (const k of keys) lmdb.putSync(k, value)
})

const bsq = new Database(file('bsq.db'))
bsq.pragma('journal_mode = WAL')
bsq.exec('CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID; CREATE TABLE t(v REAL NOT NULL)')
{
  const ins = bsq.prepare('INSERT INTO kv VALUES (?, ?)')
  const insT = bsq.prepare('INSERT INTO t(v) VALUES (?)')
  bsq.transaction(() => {
    for (const k of keys) ins.run(Buffer.from(k), value)
    for (let i = 0; i < COL_N; i++) insT.run(i * 0.5)
  })()
}
const bsqGet = bsq.prepare('SELECT value FROM kv WHERE key = ?').pluck()
const bsqHas = bsq.prepare('SELECT 1 FROM kv WHERE key = ?').pluck()
const bsqRow = bsq.prepare('SELECT v FROM t WHERE rowid = ?').pluck()

const packer = new DataPacker('f64')
const nativePacker = new binding.NativePacker('f64')
const packed = packer.pack(1.5)
const buf8 = Buffer.alloc(8)
const mpPacked = mpPack(1.5)

/** Something each loop folds its results into, so nothing is optimised away. */
let sink = 0

type Row = { what: string; system: string; run: () => void; goalNs?: number; ns: number[] }
const rows: Row[] = []
const row = (what: string, system: string, run: () => void, goalNs?: number) => rows.push({ what, system, run, goalNs, ns: [] })

row('Node-API call floor', 'a function (nativeVersion())', () => {
  for (let i = 0; i < CALLS; i++) sink += binding.nativeVersion().length
})
row('Node-API call floor', 'a class getter (NativePacker.elemSize)', () => {
  for (let i = 0; i < CALLS; i++) sink += nativePacker.elemSize
})
row('`col.length`', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += col.length
}, 100)
row('`col.get(i)`, f64, random i', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += col.get(randomRows[i])
}, 300)
row('`col.get(i)`, f64, random i', 'better-sqlite3 (row by rowid)', () => {
  for (let i = 0; i < CALLS; i++) sink += bsqRow.get(randomRows[i] + 1) as number
})
row('`col.get(i)`, f64, i in order', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += col.get(i)
}, 300)
row('`col.get(i)`, f64, i in order', 'better-sqlite3 (row by rowid)', () => {
  for (let i = 0; i < CALLS; i++) sink += bsqRow.get(i + 1) as number
})
row('`kv.has(key)`, random key', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += kv.has(randomKeys[i]) ? 1 : 0
}, 500)
row('`kv.has(key)`, random key', 'lmdb-js (doesExist)', () => {
  for (let i = 0; i < CALLS; i++) sink += lmdb.doesExist(randomKeys[i]) ? 1 : 0
})
row('`kv.has(key)`, random key', 'better-sqlite3', () => {
  for (let i = 0; i < CALLS; i++) sink += bsqHas.get(Buffer.from(randomKeys[i])) ? 1 : 0
})
row('`kv.has(key)`, the same key', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += kv.has(keys[7]) ? 1 : 0
}, 500)
row('`kv.has(key)`, the same key', 'lmdb-js (doesExist)', () => {
  for (let i = 0; i < CALLS; i++) sink += lmdb.doesExist(keys[7]) ? 1 : 0
})
row('`kv.get(key)`, 1 KiB, random key', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += (kv.get(randomKeys[i]) as Buffer).length
})
row('`kv.get(key)`, 1 KiB, random key', 'lmdb-js (getBinary)', () => {
  for (let i = 0; i < CALLS; i++) sink += (lmdb.getBinary(randomKeys[i]) as Buffer).length
})
row('`kv.get(key)`, 1 KiB, random key', 'better-sqlite3', () => {
  for (let i = 0; i < CALLS; i++) sink += (bsqGet.get(Buffer.from(randomKeys[i])) as Buffer).length
})
row('`kv.get(key)`, 1 KiB, the same key', 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += (kv.get(keys[7]) as Buffer).length
})
row('`kv.get(key)`, 1 KiB, the same key', 'lmdb-js (getBinary)', () => {
  for (let i = 0; i < CALLS; i++) sink += (lmdb.getBinary(keys[7]) as Buffer).length
})
row("`DataPacker('f64').pack(x)`", 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += packer.pack(i).length
}, 300)
row("`DataPacker('f64').pack(x)`", 'msgpackr pack', () => {
  for (let i = 0; i < CALLS; i++) sink += mpPack(i + 0.5).length
})
row("`DataPacker('f64').pack(x)`", 'Buffer.alloc(8) + writeDoubleLE (JS floor)', () => {
  for (let i = 0; i < CALLS; i++) {
    const b = Buffer.allocUnsafe(8)
    b.writeDoubleLE(i)
    sink += b.length
  }
})
row("`DataPacker('f64').unpack(buf)`", 'ambervault', () => {
  for (let i = 0; i < CALLS; i++) sink += packer.unpack(packed)
}, 300)
row("`DataPacker('f64').unpack(buf)`", 'msgpackr unpack', () => {
  for (let i = 0; i < CALLS; i++) sink += mpUnpack(mpPacked) as number
})
row("`DataPacker('f64').unpack(buf)`", 'readDoubleLE (JS floor)', () => {
  buf8.writeDoubleLE(1.5)
  for (let i = 0; i < CALLS; i++) sink += buf8.readDoubleLE(0)
})

for (let r = 0; r < ROUNDS; r++) {
  for (const x of rows) x.ns.push((time(x.run) * 1e9) / CALLS)
}

const ns = (x: Row) => median(x.ns)
const fmt = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} µs` : `${v.toFixed(0)} ns`)
console.log(`Per call, median of ${ROUNDS} rounds of ${CALLS.toLocaleString('en')} calls (random keys of ${KEYS.toLocaleString('en')}, rows of ${COL_N.toLocaleString('en')}).\n`)
console.log('| call | system | per call | goal | peer time / ours (> 1: we are faster) |')
console.log('|---|---|---|---|---|')
for (const x of rows) {
  const ours = rows.find((o) => o.what === x.what && o.system === 'ambervault')
  const ratio = ours && ours !== x ? `${(ns(x) / ns(ours)).toFixed(2)}×` : ''
  console.log(`| ${x.what} | ${x.system} | ${fmt(ns(x))} | ${x.goalNs ? `≤ ${fmt(x.goalNs)}` : ''} | ${ratio} |`)
}

// ---- throughput rows
const reads: number[] = []
const blobReads: number[] = []
const appends: number[] = []
{
  const big = new ColumnVault(file('big.db'))
  const c = big.createColumn('x', 'f64')
  const data = Float64Array.from({ length: N_READ }, (_, i) => i)
  c.extend(data)
  // The peer at its fastest (bench/columns' blob ceiling): 32 KiB pages, checkpointed.
  const blob = new Database(file('blob.db'))
  blob.pragma('page_size = 32768')
  blob.pragma('journal_mode = WAL')
  blob.exec('CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  const CH = 16 << 20
  const bytes = Buffer.from(data.buffer)
  const ins = blob.prepare('INSERT INTO b VALUES (?, ?)')
  blob.transaction(() => {
    for (let k = 0; k * CH < bytes.length; k++) ins.run(k, bytes.subarray(k * CH, (k + 1) * CH))
  })()
  blob.pragma('wal_checkpoint(TRUNCATE)')
  const sel = blob.prepare('SELECT data FROM b ORDER BY id').pluck()
  for (let r = 0; r < Math.min(ROUNDS, 5); r++) {
    reads.push(time(() => (sink += (c.slice() as Float64Array).length)))
    blobReads.push(time(() => {
      const out = Buffer.concat(sel.all() as Buffer[])
      sink += new Float64Array(out.buffer, out.byteOffset, out.length / 8).length
    }))
    const cached = new ColumnVault(file(`cached-${r}.db`))
    const a = cached.createColumn('x', 'f64')
    cached.enableCache({ flushBytes: 16 << 20 })
    appends.push(time(() => {
      for (let i = 0; i < N_APPEND; i++) a.append(i)
      cached.flushCache()
    }))
    cached.close()
  }
  big.close()
  blob.close()
}
const gbs = (s: number) => `${((N_READ * 8) / s / 1e9).toFixed(2)} GB/s`
console.log(`\nThroughput, median of ${Math.min(ROUNDS, 5)} rounds.\n`)
console.log('| measure | ambervault | peer in the same run | goal |')
console.log('|---|---|---|---|')
console.log(`| f64 full column read, ${N_READ.toLocaleString("en")} values | ${gbs(median(reads))} | ${gbs(median(blobReads))} (the same bytes as 16 MiB blobs, better-sqlite3) | ≥ 1.2 GB/s |`)
console.log(`| cached single appends + flush, ${N_APPEND.toLocaleString("en")} f64 | ${(N_APPEND / median(appends) / 1e6).toFixed(1)}M values/s | | ≥ 10M values/s |`)

cv.close()
kv.close()
lmdb.close()
bsq.close()
if (sink === -1) console.log(sink)
