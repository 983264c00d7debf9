/**
 * Columns benchmark: ambervault side by side with its peers in one run (medians of a few runs,
 * ratios to the best peer). Run on a release build: `npm run build && node --import=tsx bench/columns.ts`.
 *
 * 1. 10M f64 values: one extend and one full slice read (ours at its default 4 KiB pages and at
 *    32 KiB), against the raw SQLite blob-write ceiling (the same bytes written as plain 16 MiB
 *    blobs through better-sqlite3 at 32 KiB pages, its fastest), better-sqlite3 with a row per
 *    value (batched in one transaction), the @duckdb/node-api appender, and Python kohakuvault 0.8.
 * 2. The KohakuVault workloads: append (cache off / on) vs extend, dtypes i64, f64, bytes:32,
 *    str:utf8, msgpack; 10k random single reads vs 1k 100-element slices; against Python
 *    kohakuvault, better-sqlite3 (a row per value: uncached appends one transaction each, cached
 *    appends and extends batched in one), the @duckdb/node-api appender (flushed per value when
 *    uncached) and, for the rows that write a batch, the raw blob ceiling (the same packed bytes
 *    inserted as plain blobs in one transaction). Every SQLite file here has 4 KiB pages: our
 *    default for a new column file, KohakuVault's and better-sqlite3's.
 *
 * 3. Uncached single appends at 32 KiB pages (`pageSize: 32768`, better-sqlite3 likewise). Every
 *    commit writes whole pages to the WAL; an append must write two (the chunk and
 *    `col_meta.length`, docs/format.md), a one-row INSERT one. Below it the Rust floor
 *    (examples/append_floor.rs) at both page sizes: a one-row INSERT, the KohakuVault layout's
 *    least commit (a BLOB write plus the length UPDATE) and our core, in microseconds per append.
 *
 * 4. 1,000 uncached single appends into a column already holding N_DEEP values: an append's cost
 *    must not grow with the column (a write at the end of a chunk walks the chunk's page chain).
 *
 * Env: N_BIG (10_000_000), N_SMALL (100_000), N_APPEND (10_000: uncached single appends),
 * N_DEEP (1_000_000),
 * RUNS (3), PEERS_BIG=0 skips the peers of table 1, PEERS_SMALL=0 those of table 2.
 */
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import { ColumnVault, DataPacker } from '../src/index'
import { devCache } from '../__test__/dev-cache'
import { floorBinary } from './lib/floor'
import { benchTemp, removeTemp } from './lib/temp'
import { median, time } from './lib/timing'

const N_BIG = Number(process.env.N_BIG ?? 10_000_000)
const N_SMALL = Number(process.env.N_SMALL ?? 100_000)
const N_APPEND = Number(process.env.N_APPEND ?? 10_000)
const N_DEEP = Number(process.env.N_DEEP ?? 1_000_000)
const PEERS_SMALL = process.env.PEERS_SMALL !== '0'
const RUNS = Number(process.env.RUNS ?? 3)
/** Our default page size for a new column file (KohakuVault's and SQLite's too) and the big one. */
const COLUMN_PAGE = 4096
const BIG_PAGE = 32768
const DIR = benchTemp('av-bench-')
let fileNo = 0
const fresh = (tag: string) => path.join(DIR, `${tag}-${fileNo++}.db`)

/** Median of RUNS timings; `setup` prepares untimed state and returns the timed part (and an
 *  optional untimed cleanup). */
function runs(setup: () => (() => void) | [() => void, () => void]): number {
  const xs: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const s = setup()
    const [fn, after] = Array.isArray(s) ? s : [s, () => {}]
    xs.push(time(fn))
    after()
  }
  return median(xs)
}

function optional<T>(name: string): T | null {
  try {
    return require(name) as T
  } catch (e) {
    console.warn(`(${name} unavailable: ${(e as Error).message.split('\n')[0]})`)
    return null
  }
}

const fmt = (s: number | null | undefined) => (s == null ? 'n/a' : s < 0.01 ? `${(s * 1e3).toFixed(2)} ms` : `${s.toFixed(3)} s`)

// ---------------------------------------------------------------- 1. 10M f64
const big = new Float64Array(N_BIG)
for (let i = 0; i < N_BIG; i++) big[i] = i * 0.5
const bigBytes = Buffer.from(big.buffer)

const table1: Record<string, { extend: number | null; read: number | null }> = {}

/** Our 10M f64 extend and full read, in a new file of the given page size (default: ColumnVault's). */
function oursBig(pageSize?: number): { extend: number; read: number } {
  const extend = runs(() => {
    const cv = new ColumnVault(fresh('av-big'), { pageSize })
    const col = cv.createColumn('x', 'f64')
    return [() => col.extend(big), () => cv.close()]
  })
  const cv = new ColumnVault(fresh('av-big-read'), { pageSize })
  cv.createColumn('x', 'f64').extend(big)
  const col = cv.column('x')
  const read = runs(() => () => {
    const s = col.slice() as Float64Array
    if (s.length !== N_BIG || s[N_BIG - 1] !== big[N_BIG - 1]) throw new Error('bad read')
  })
  cv.close()
  return { extend, read }
}
table1['ambervault Column f64'] = oursBig()
table1['ambervault Column f64, pageSize 32768'] = oursBig(BIG_PAGE)

type BetterSqlite = new (p: string) => any
/** better-sqlite3 when its native addon loads (it is built by its install script). */
function betterSqlite(): BetterSqlite | null {
  const Db = optional<BetterSqlite>('better-sqlite3')
  try {
    if (Db) new Db(':memory:').close()
    return Db
  } catch (e) {
    console.warn(`(better-sqlite3 unavailable: ${(e as Error).message.split('\n')[0]})`)
    return null
  }
}
const PEERS_BIG = process.env.PEERS_BIG !== '0'
const Database = PEERS_BIG ? betterSqlite() : null
function pragmas(db: any, pageSize = BIG_PAGE) {
  db.pragma(`page_size = ${pageSize}`)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
}

/**
 * The raw SQLite ceiling: a better-sqlite3 file of plain blobs, and `write`, which stores bytes as
 * 16 MiB blobs (KohakuVault's default chunk size) in one transaction.
 */
function blobTable(Db: any, file: string, pageSize = BIG_PAGE): { db: any; write: (bytes: Uint8Array) => void } {
  const CH = 16 * 1024 * 1024
  const db = new Db(file)
  pragmas(db, pageSize)
  db.exec('CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  const ins = db.prepare('INSERT INTO b(id, data) VALUES (?, ?)')
  const write = (bytes: Uint8Array) =>
    db.transaction(() => {
      for (let k = 0; k * CH < bytes.length; k++) ins.run(k, bytes.subarray(k * CH, (k + 1) * CH))
    })()
  return { db, write }
}
if (Database) {
  // The ceiling: the same bytes as plain blobs of the chunk size, one transaction.
  const extend = runs(() => {
    const b = blobTable(Database, fresh('blob'))
    return [() => b.write(bigBytes), () => b.db.close()]
  })
  const { db, write } = blobTable(Database, fresh('blob-read'))
  write(bigBytes)
  const sel = db.prepare('SELECT data FROM b ORDER BY id').pluck()
  const read = runs(() => () => {
    const parts = sel.all() as Buffer[]
    const out = Buffer.concat(parts)
    new Float64Array(out.buffer, out.byteOffset, out.length / 8)
  })
  db.close()
  table1['SQLite raw blob ceiling (better-sqlite3)'] = { extend, read }

  const rowsExtend = runs(() => {
    const d = new Database(fresh('rows'))
    pragmas(d)
    d.exec('CREATE TABLE t(v REAL NOT NULL)')
    const st = d.prepare('INSERT INTO t(v) VALUES (?)')
    return [
      () =>
        d.transaction(() => {
          for (let i = 0; i < N_BIG; i++) st.run(big[i])
        })(),
      () => d.close(),
    ]
  })
  const rf = fresh('rows-read')
  const d = new Database(rf)
  pragmas(d)
  d.exec('CREATE TABLE t(v REAL NOT NULL)')
  const st = d.prepare('INSERT INTO t(v) VALUES (?)')
  d.transaction(() => {
    for (let i = 0; i < N_BIG; i++) st.run(big[i])
  })()
  const q = d.prepare('SELECT v FROM t').pluck()
  const rowsRead = runs(() => () => {
    const out = new Float64Array(N_BIG)
    let i = 0
    for (const v of q.iterate()) out[i++] = v as number
  })
  d.close()
  table1['better-sqlite3, a row per value, batched'] = { extend: rowsExtend, read: rowsRead }
}

async function duck() {
  const duckdb = PEERS_BIG ? optional<any>('@duckdb/node-api') : null
  if (!duckdb) return
  const xs: number[] = []
  const rs: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const inst = await duckdb.DuckDBInstance.create(fresh('duck').replace(/\.db$/, '.duckdb'))
    const conn = await inst.connect()
    await conn.run('CREATE TABLE t(v DOUBLE)')
    const app = await conn.createAppender('t')
    xs.push(
      time(() => {
        for (let i = 0; i < N_BIG; i++) {
          app.appendDouble(big[i])
          app.endRow()
        }
        app.flushSync()
      }),
    )
    app.closeSync()
    const t0 = process.hrtime.bigint()
    const reader = await conn.runAndReadAll('SELECT v FROM t')
    const cols = reader.getColumns()[0] as number[]
    Float64Array.from(cols)
    rs.push(Number(process.hrtime.bigint() - t0) / 1e9)
    conn.closeSync?.()
  }
  table1['@duckdb/node-api appender'] = { extend: median(xs), read: median(rs) }
}

// ------------------------------------------------------- Python kohakuvault (both tables)
function python(): Record<string, number | null> | null {
  const venv = devCache('venv-kohakuvault')
  const py = path.join(venv, 'bin', 'python')
  if (!fs.existsSync(py)) {
    spawnSync('python3', ['-m', 'venv', venv])
    spawnSync(py, ['-m', 'pip', 'install', '-q', 'kohakuvault<0.9'])
  }
  const all: Record<string, number | null>[] = []
  for (let k = 0; k < RUNS; k++) {
    const dir = fs.mkdtempSync(path.join(DIR, 'py-'))
    const r = spawnSync(py, [path.join(__dirname, 'columns_kv.py'), dir, String(N_SMALL), String(N_BIG), String(N_APPEND), String(N_DEEP)], {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    })
    fs.rmSync(dir, { recursive: true, force: true })
    if (r.status !== 0) {
      console.warn(`(python kohakuvault unavailable: ${r.stderr.split('\n').slice(-3).join(' ')})`)
      return null
    }
    all.push(JSON.parse(r.stdout))
  }
  const out: Record<string, number | null> = {}
  for (const key of Object.keys(all[0])) {
    const xs = all.map((r) => r[key]).filter((x): x is number => typeof x === 'number')
    out[key] = xs.length === all.length ? median(xs) : null
  }
  return out
}

// ------------------------------------------------- 2. KohakuVault workloads, ambervault side
function valuesFor(dtype: string, n: number): unknown[] {
  switch (dtype) {
    case 'i64':
      return Array.from({ length: n }, (_, i) => i)
    case 'f64':
      return Array.from({ length: n }, (_, i) => i * 0.5)
    case 'bytes:32':
      return Array.from({ length: n }, (_, i) => {
        const b = Buffer.alloc(32)
        for (let k = 0; k < 4; k++) b.writeBigUInt64LE(BigInt(i), k * 8)
        return b
      })
    case 'str:utf8':
      return Array.from({ length: n }, (_, i) => `value number ${i}`)
    default:
      return Array.from({ length: n }, (_, i) => ({ i, tag: 'x' }))
  }
}

function ours(): Record<string, number> {
  const res: Record<string, number> = {}
  for (const dtype of ['i64', 'f64', 'bytes:32', 'str:utf8', 'msgpack']) {
    const vals = valuesFor(dtype, N_SMALL)
    for (const mode of ['append', 'append_cached', 'extend']) {
      res[`${dtype}|${mode}`] = runs(() => {
        const cv = new ColumnVault(fresh('small'))
        const c = cv.createColumn('c', dtype)
        if (mode === 'append_cached') cv.enableCache({ flushBytes: 16 << 20 })
        return [
          () => {
            if (mode === 'extend') c.extend(vals)
            else if (mode === 'append') for (let i = 0; i < N_APPEND; i++) c.append(vals[i])
            else for (const v of vals) c.append(v)
            if (mode === 'append_cached') cv.flushCache()
          },
          () => cv.close(),
        ]
      })
    }
    const file = fresh('small-read')
    const cv = new ColumnVault(file)
    const c = cv.createColumn('c', dtype)
    c.extend(vals)
    let seed = 1
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    const idx = Array.from({ length: 10_000 }, () => rnd(N_SMALL))
    const starts = Array.from({ length: 1_000 }, () => rnd(N_SMALL - 100))
    res[`${dtype}|get`] = runs(() => () => idx.forEach((i) => c.get(i)))
    res[`${dtype}|slice100`] = runs(() => () => starts.forEach((s) => c.slice(s, s + 100)))
    cv.close()
  }
  // Cached single appends: the values/s figure.
  res['f64|append_cached_1M'] = runs(() => {
    const cv = new ColumnVault(fresh('cached'))
    const c = cv.createColumn('c', 'f64')
    cv.enableCache({ flushBytes: 16 << 20 })
    return [
      () => {
        for (let i = 0; i < 1_000_000; i++) c.append(i)
        cv.flushCache()
      },
      () => cv.close(),
    ]
  })
  return res
}

// ------------------------------------------------- 2. the same workloads on the SQL peers
type Rows = Record<string, number | null>
const msgpackr = optional<any>('msgpackr')

/** A value as the SQL peers store it (msgpack documents as msgpack bytes, as we do). */
function sqlValue(dtype: string, v: unknown): unknown {
  if (dtype === 'msgpack') return msgpackr.pack(v)
  return v
}
function sqlType(dtype: string): [string, string] {
  switch (dtype) {
    case 'i64':
      return ['INTEGER', 'BIGINT']
    case 'f64':
      return ['REAL', 'DOUBLE']
    case 'str:utf8':
      return ['TEXT', 'VARCHAR']
    default:
      return ['BLOB', 'BLOB']
  }
}
const fromSql = (dtype: string, v: any) => {
  const raw = v?.bytes instanceof Uint8Array ? v.bytes : v // DuckDB hands blobs over wrapped
  return dtype === 'msgpack' ? msgpackr.unpack(raw) : raw
}

function readIndices() {
  let seed = 1
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  return { idx: Array.from({ length: 10_000 }, () => rnd(N_SMALL)), starts: Array.from({ length: 1_000 }, () => rnd(N_SMALL - 100)) }
}

function betterSqliteSmall(): Rows | null {
  const Db = PEERS_SMALL ? betterSqlite() : null
  if (!Db || !msgpackr) return null
  const res: Rows = {}
  const { idx, starts } = readIndices()
  for (const dtype of ['i64', 'f64', 'bytes:32', 'str:utf8', 'msgpack']) {
    const vals = valuesFor(dtype, N_SMALL).map((v) => sqlValue(dtype, v))
    const open = () => {
      const db = new Db(fresh('bs-small'))
      pragmas(db, COLUMN_PAGE)
      db.exec(`CREATE TABLE t(v ${sqlType(dtype)[0]} NOT NULL)`)
      return db
    }
    for (const mode of ['append', 'append_cached', 'extend']) {
      res[`${dtype}|${mode}`] = runs(() => {
        const db = open()
        const ins = db.prepare('INSERT INTO t(v) VALUES (?)')
        const fn =
          mode === 'append'
            ? () => {
                for (let i = 0; i < N_APPEND; i++) ins.run(vals[i])
              }
            : () => db.transaction(() => vals.forEach((v) => ins.run(v)))()
        return [fn, () => db.close()]
      })
    }
    const db = open()
    const ins = db.prepare('INSERT INTO t(v) VALUES (?)')
    db.transaction(() => vals.forEach((v) => ins.run(v)))()
    const one = db.prepare('SELECT v FROM t WHERE rowid = ?').pluck()
    const many = db.prepare('SELECT v FROM t WHERE rowid BETWEEN ? AND ? ORDER BY rowid').pluck()
    res[`${dtype}|get`] = runs(() => () => idx.forEach((i) => fromSql(dtype, one.get(i + 1))))
    res[`${dtype}|slice100`] = runs(() => () => starts.forEach((s) => many.all(s + 1, s + 100).map((v: unknown) => fromSql(dtype, v))))
    db.close()
  }
  return res
}

/** DuckDB's point reads are async round trips and its per-value flushes slow: a 20th of the
 *  reads and of the uncached appends, scaled up (noted in the table). */
const DUCK_READ_SHARE = 20

async function duckSmall(): Promise<Rows | null> {
  const duckdb = PEERS_SMALL ? optional<any>('@duckdb/node-api') : null
  if (!duckdb || !msgpackr) return null
  const res: Rows = {}
  const { idx, starts } = readIndices()
  const appendOne = (app: any, dtype: string, v: any) => {
    if (dtype === 'i64') app.appendBigInt(BigInt(v))
    else if (dtype === 'f64') app.appendDouble(v)
    else if (dtype === 'str:utf8') app.appendVarchar(v)
    else app.appendBlob(v)
    app.endRow()
  }
  for (const dtype of ['i64', 'f64', 'bytes:32', 'str:utf8', 'msgpack']) {
    const vals = valuesFor(dtype, N_SMALL).map((v) => sqlValue(dtype, v))
    const open = async () => {
      const inst = await duckdb.DuckDBInstance.create(fresh('duck-small').replace(/\.db$/, '.duckdb'))
      const conn = await inst.connect()
      await conn.run(`CREATE TABLE t(v ${sqlType(dtype)[1]})`)
      return conn
    }
    for (const mode of ['append', 'append_cached', 'extend']) {
      const xs: number[] = []
      for (let r = 0; r < RUNS; r++) {
        const conn = await open()
        const app = await conn.createAppender('t')
        xs.push(
          time(() => {
            if (mode === 'append')
              for (let i = 0; i < N_APPEND / DUCK_READ_SHARE; i++) {
                appendOne(app, dtype, vals[i])
                app.flushSync()
              }
            else {
              for (const v of vals) appendOne(app, dtype, v)
              app.flushSync()
            }
          }) * (mode === 'append' ? DUCK_READ_SHARE : 1),
        )
        app.closeSync()
        conn.closeSync?.()
      }
      res[`${dtype}|${mode}`] = median(xs)
    }
    const conn = await open()
    const app = await conn.createAppender('t')
    for (const v of vals) appendOne(app, dtype, v)
    app.flushSync()
    app.closeSync()
    const one = await conn.prepare('SELECT v FROM t WHERE rowid = $1')
    const many = await conn.prepare('SELECT v FROM t WHERE rowid BETWEEN $1 AND $2 ORDER BY rowid')
    const gets: number[] = []
    const slices: number[] = []
    for (let r = 0; r < RUNS; r++) {
      let t0 = process.hrtime.bigint()
      for (const i of idx.slice(0, idx.length / DUCK_READ_SHARE)) {
        one.bind([i])
        const rows = (await one.runAndReadAll()).getRows()
        fromSql(dtype, rows[0][0])
      }
      gets.push((Number(process.hrtime.bigint() - t0) / 1e9) * DUCK_READ_SHARE)
      t0 = process.hrtime.bigint()
      for (const s of starts.slice(0, starts.length / DUCK_READ_SHARE)) {
        many.bind([s, s + 99])
        ;(await many.runAndReadAll()).getRows().map((row: unknown[]) => fromSql(dtype, row[0]))
      }
      slices.push((Number(process.hrtime.bigint() - t0) / 1e9) * DUCK_READ_SHARE)
    }
    res[`${dtype}|get`] = median(gets)
    res[`${dtype}|slice100`] = median(slices)
    conn.closeSync?.()
  }
  return res
}

/** Table 3: uncached single appends of the first N_APPEND values, every file at 32 KiB pages. */
function bigPageAppends(): { ours: Rows; bsq: Rows } {
  const ours: Rows = {}
  const bsq: Rows = {}
  const Db = PEERS_SMALL ? betterSqlite() : null
  for (const dtype of ['i64', 'f64', 'bytes:32', 'str:utf8', 'msgpack']) {
    const vals = valuesFor(dtype, N_APPEND)
    ours[dtype] = runs(() => {
      const cv = new ColumnVault(fresh('big-pages'), { pageSize: BIG_PAGE })
      const c = cv.createColumn('c', dtype)
      return [() => vals.forEach((v) => c.append(v)), () => cv.close()]
    })
    if (!Db || !msgpackr) continue
    const rows = vals.map((v) => sqlValue(dtype, v))
    bsq[dtype] = runs(() => {
      const db = new Db(fresh('bs-big-pages'))
      pragmas(db, BIG_PAGE)
      db.exec(`CREATE TABLE t(v ${sqlType(dtype)[0]} NOT NULL)`)
      const ins = db.prepare('INSERT INTO t(v) VALUES (?)')
      return [() => rows.forEach((v) => ins.run(v)), () => db.close()]
    })
  }
  return { ours, bsq }
}

/** The Rust floor of table 3 at one page size: microseconds per committed append, or null. */
function appendFloor(bin: string | null, pageSize: number): Record<string, number> | null {
  if (!bin) return null
  const r = spawnSync(bin, [DIR, String(N_APPEND), String(pageSize), String(RUNS)], { encoding: 'utf8' })
  if (r.status !== 0) {
    console.warn(`append_floor failed: ${r.stderr}`)
    return null
  }
  return JSON.parse(r.stdout)
}

/** Table 4: 1,000 uncached single appends into a column (a table) already holding N_DEEP values;
 *  ambervault at its default 4 KiB pages and at 32 KiB, better-sqlite3 at 4 KiB. */
function deepAppends(): Record<string, { ours: number; oursBig: number; bsq: number | null }> {
  const Db = PEERS_SMALL ? betterSqlite() : null
  const res: Record<string, { ours: number; oursBig: number; bsq: number | null }> = {}
  for (const dtype of ['f64', 'str:utf8']) {
    const base = valuesFor(dtype, N_DEEP)
    const more = valuesFor(dtype, 1_000)
    const mineAt = (pageSize?: number) =>
      runs(() => {
        const cv = new ColumnVault(fresh('deep'), { pageSize })
        const c = cv.createColumn('c', dtype)
        c.extend(base as any)
        return [() => more.forEach((v) => c.append(v as any)), () => cv.close()]
      })
    const ours = mineAt()
    const oursBig = mineAt(BIG_PAGE)
    let bsq: number | null = null
    if (Db) {
      const rows = base.map((v) => sqlValue(dtype, v))
      const moreRows = more.map((v) => sqlValue(dtype, v))
      bsq = runs(() => {
        const db = new Db(fresh('bs-deep'))
        pragmas(db, COLUMN_PAGE)
        db.exec(`CREATE TABLE t(v ${sqlType(dtype)[0]} NOT NULL)`)
        const ins = db.prepare('INSERT INTO t(v) VALUES (?)')
        db.transaction(() => rows.forEach((v) => ins.run(v)))()
        return [() => moreRows.forEach((v) => ins.run(v)), () => db.close()]
      })
    }
    res[dtype] = { ours, oursBig, bsq }
  }
  return res
}

/** The ceiling of the rows that write a batch: the same packed bytes as plain blobs, one transaction. */
function blobCeilingSmall(): Rows | null {
  const Db = PEERS_SMALL ? betterSqlite() : null
  if (!Db) return null
  const res: Rows = {}
  for (const dtype of ['i64', 'f64', 'bytes:32', 'str:utf8', 'msgpack']) {
    const bytes = new DataPacker(dtype).packMany(valuesFor(dtype, N_SMALL))
    const t = runs(() => {
      const b = blobTable(Db, fresh('blob-small'), COLUMN_PAGE)
      return [() => b.write(bytes), () => b.db.close()]
    })
    res[`${dtype}|append_cached`] = t
    res[`${dtype}|extend`] = t
  }
  return res
}

async function main() {
  await duck()
  const py = python()
  if (py) table1['Python kohakuvault 0.8'] = { extend: py['big|extend'], read: py['big|read'] }
  const mine = ours()
  const bs = betterSqliteSmall()
  const dk = await duckSmall()
  const ceilSmall = blobCeilingSmall()
  const bigPages = bigPageAppends()
  const deep = deepAppends()
  const floorBin = floorBinary('append_floor')
  const floors = [COLUMN_PAGE, BIG_PAGE].map((p) => [p, appendFloor(floorBin, p)] as const)

  const mb = (N_BIG * 8) / 1e6
  console.log(`\n## 1. ${N_BIG.toLocaleString()} f64 values (${mb.toFixed(0)} MB): extend, then a full slice read (median of ${RUNS})\n`)
  console.log('| store | extend | extend MB/s | full read | read GB/s |')
  console.log('|---|---|---|---|---|')
  for (const [k, v] of Object.entries(table1))
    console.log(`| ${k} | ${fmt(v.extend)} | ${v.extend ? (mb / v.extend).toFixed(0) : 'n/a'} | ${fmt(v.read)} | ${v.read ? (mb / 1e3 / v.read).toFixed(2) : 'n/a'} |`)
  const ceil = table1['SQLite raw blob ceiling (better-sqlite3)']
  for (const k of ['ambervault Column f64', 'ambervault Column f64, pageSize 32768']) {
    const ab = table1[k]
    if (ceil?.extend && ab.extend) console.log(`\n${k}: extend / raw blob ceiling = ${(ab.extend / ceil.extend).toFixed(2)}x (goal <= 1.5x)`)
  }

  console.log(
    `\n## 2. KohakuVault workloads (median of ${RUNS}): append = ${N_APPEND.toLocaleString()} uncached single appends; ` +
      `append_cached / extend = ${N_SMALL.toLocaleString()} values; get = 10,000 random reads; slice100 = 1,000 slices of 100. ` +
      `Each peer column: its time and (in brackets) peer / ambervault, above 1x = ambervault ahead. ` +
      `DuckDB reads and uncached appends: 1/${DUCK_READ_SHARE} of them, scaled up. Every SQLite file at 4 KiB pages.\n`,
  )
  console.log('| dtype | workload | ambervault | kohakuvault | better-sqlite3 | duckdb | blob ceiling |')
  console.log('|---|---|---|---|---|---|---|')
  const cell = (theirs: number | null | undefined, ours: number) => (theirs == null ? 'n/a' : `${fmt(theirs)} (${(theirs / ours).toFixed(1)}x)`)
  const behind: string[] = []
  for (const key of Object.keys(mine)) {
    if (key.endsWith('_1M')) continue
    const [dtype, w] = key.split('|')
    const peers = [py?.[key], bs?.[key], dk?.[key]]
    for (const [k, p] of peers.entries()) if (p != null && p < mine[key]) behind.push(`${key} vs ${['kohakuvault', 'better-sqlite3', 'duckdb'][k]}`)
    const c = ceilSmall?.[key]
    console.log(
      `| ${dtype} | ${w} | ${fmt(mine[key])} | ${cell(py?.[key], mine[key])} | ${cell(bs?.[key], mine[key])} | ${cell(dk?.[key], mine[key])} | ${c == null ? '' : `${fmt(c)} (ours ${(mine[key] / c).toFixed(1)}x)`} |`,
    )
  }
  console.log(behind.length ? `\nrows where a peer is faster: ${behind.join(', ')}` : '\nambervault is ahead of every peer on every row')
  console.log(
    `\n## 3. ${N_APPEND.toLocaleString()} uncached single appends at 32 KiB pages (median of ${RUNS}). ` +
      `An append commits two pages (chunk + col_meta.length), a one-row INSERT one. Peer / ambervault in brackets.\n`,
  )
  console.log('| dtype | ambervault (pageSize 32768) | same, default 4 KiB | kohakuvault (4 KiB) | better-sqlite3 (32 KiB) |')
  console.log('|---|---|---|---|---|')
  for (const [dtype, t] of Object.entries(bigPages.ours)) {
    const key = `${dtype}|append`
    console.log(`| ${dtype} | ${fmt(t)} | ${fmt(mine[key])} | ${cell(py?.[key], t!)} | ${cell(bigPages.bsq[dtype], t!)} |`)
  }
  for (const [p, f] of floors)
    if (f)
      console.log(
        `\nRust floor at ${p / 1024} KiB pages, µs per committed append: one-row INSERT ${f.row_insert.toFixed(1)}, ` +
          `BLOB write + length UPDATE ${f.blob_and_length.toFixed(1)} (the least this layout commits), ColumnVault core ${f.core.toFixed(1)}`,
      )
  console.log(
    `\n## 4. 1,000 uncached single appends into a column already holding ${N_DEEP.toLocaleString()} values (median of ${RUNS}). ` +
      `Peer / ambervault (default pages) in brackets.\n`,
  )
  console.log('| dtype | ambervault | ambervault (pageSize 32768) | kohakuvault | better-sqlite3 (4 KiB) |')
  console.log('|---|---|---|---|---|')
  for (const [dtype, t] of Object.entries(deep))
    console.log(`| ${dtype} | ${fmt(t.ours)} | ${cell(t.oursBig, t.ours)} | ${cell(py?.[`${dtype}|deep_append`], t.ours)} | ${cell(t.bsq, t.ours)} |`)
  console.log(`\ncached single f64 appends: ${(1e6 / mine['f64|append_cached_1M'] / 1e6).toFixed(1)} M values/s (goal >= 10)`)
  removeTemp(DIR)
}

void main()
