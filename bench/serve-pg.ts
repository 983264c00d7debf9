/**
 * The team server on PostgreSQL + S3 against the data dir backend, side by side in one run (issue
 * #18, "Numbers"):
 *   npx tsx bench/serve-pg.ts [--runs 20] [--steps 20000] [--metrics 10] [--batch 50000] [--replicas 2]
 *                             [--ingest-repeat 3] [--points 1000000] [--list-runs 1000] [--repeat 10]
 *                             [--pg-fsync on|off|keep] [--profile DIR]
 * 1. Ingest: `runs` runs of `steps` steps x `metrics` scalars plus every other log type (bench/lib/
 *    serve-workload: histograms, tensors, densities, tables with images, images, output), logged
 *    once with Board, then synced with `syncRun` (all runs at once) into ONE `amber serve
 *    --data-dir` child, and into `replicas` `amber serve --db --bucket` children on one database
 *    and bucket (run i to replica i % replicas); `ingest-repeat` times each, in ABBA order (file,
 *    pg, pg, file, ...), each on an empty data dir / database. points/s = all points / wall time
 *    from the first request to the last run's finish (on PostgreSQL that includes sealing every
 *    run's tail into the bucket: finish seals what is left); the median of the repeats. Batch
 *    latency is per scalar POST, from send to the acknowledgement (after COMMIT / after the
 *    SQLite commit), 2xx answers only, over all repeats; 503 "busy" answers (each server takes 4
 *    bodies at once) are counted, and retried as `amber sync` does. The CPU time of each part
 *    (this client, the servers, PostgreSQL's processes, the S3 server; from /proc) is reported
 *    beside the machine's: the machine is shared, so the wall time depends on what else runs,
 *    and the CPU seconds per point say what the wall time would be on an idle machine.
 * 2. At rest: after the sync (servers stopped, any tail left sealed), the bytes of PostgreSQL's
 *    scalar tables (amber_series, amber_tail, amber_chunks: pg_total_relation_size, so heap,
 *    TOAST and indexes) after a plain VACUUM and after VACUUM FULL, and of the chunk objects in
 *    the bucket (chunks/, from the bucket listing; media and record blobs excluded), per point;
 *    the data dir's data/run.db per point (and its scalar pages alone, from SQLite's dbstat).
 * 3. Chart overview: one run with a `points`-point metric (logged with Board into the data dir,
 *    synced to PostgreSQL and sealed); GET /api/runs/:p/:f/scalars?name=m (the server's default
 *    maxPoints, 10,000), first request and median of `repeat`, the two backends alternating.
 * 4. Run list: `list-runs` small runs (run folders copied from ten written by Board; on
 *    PostgreSQL stored through the storage API); GET /api/runs, median of `repeat`, alternating.
 * Servers of parts 3 and 4 run in this process (startServer), those of part 1 are children.
 *
 * Services: AMBER_TEST_PG_URL / AMBER_TEST_S3_ENDPOINT (+ AWS credentials) when set; otherwise the
 * bench starts its own through scripts/services.sh (PostgreSQL 15 and moto on 127.0.0.1) and stops
 * them at the end. Each part gets a database of its own and a key prefix in the bucket, dropped at
 * the end. Durability: `--pg-fsync on` (the default) runs PostgreSQL with its defaults, fsync=on
 * and synchronous_commit=on (a COMMIT returns after its WAL is flushed to disk: it survives a
 * power loss); scripts/services.sh makes its test cluster with fsync=off, so on services the bench
 * started it turns fsync back on (ALTER SYSTEM + reload); `off` keeps fsync off (a commit survives
 * a crash of PostgreSQL, not of the OS); `keep` changes nothing. The data dir backend acknowledges
 * after the SQLite commit of its writer, WAL with synchronous=NORMAL (survives a crash of the
 * server process, not necessarily a power loss: the WAL is fsynced at checkpoints, not per commit).
 * `--profile DIR`: the server children of part 1 write V8 CPU profiles (--cpu-prof) into DIR.
 */
import { spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { Client } from 'pg'
import { Board, syncRun } from '../src/index'
import type { SyncResult } from '../src/index'
import { startServer } from '../src/server/server'
import type { TeamServer } from '../src/server/server'
import { openPgStorage } from '../src/server/pg'
import type { PgStorage } from '../src/server/pg'
import { Bucket } from '../src/server/pg/bucket'
import { AMBER, arg, freePort, latency, logRuns, quantile, recordsPerRun, resetLatency, startServerChild, stopServerChild, strArg, timeUploads } from './lib/serve-workload'
import { benchTemp, removeTemp } from './lib/temp'
import { median } from './lib/timing'

const RUNS = arg('runs', 20)
const STEPS = arg('steps', 20_000)
const METRICS = arg('metrics', 10)
const BATCH = arg('batch', 50_000)
const REPLICAS = arg('replicas', 2)
const BIG = arg('points', 1_000_000)
const LIST = arg('list-runs', 1000)
const REPEAT = arg('repeat', 10)
const INGEST_REPEAT = arg('ingest-repeat', 3)
const PG_FSYNC = strArg('pg-fsync', 'on')
const PROFILE = strArg('profile', '')
if (!['on', 'off', 'keep'].includes(PG_FSYNC)) throw new Error(`--pg-fsync on|off|keep (got ${PG_FSYNC})`)
const ROOT = resolve(__dirname, '..')
const T0 = performance.now()
setTimeout(() => {
  process.stderr.write('bench/serve-pg: 15 minute cap reached\n')
  process.exit(1)
}, 900_000).unref()

const say = (s: string) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${s}\n`)
const trueMedian = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const ms = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1))

// ---------------------------------------------------------------------------------------------
// Services

interface Services {
  pgUrl: string
  s3Endpoint: string
  bucket: string
  /** Started here (and stopped at the end), or given by the environment. */
  own: boolean
  stop(): void
}

function parseEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z_]\w*)=(.*)$/.exec(line)
    if (m) out[m[1]] = m[2].replace(/^'(.*)'$/, '$1')
  }
  return out
}

function services(): Services {
  if (process.env.AMBER_TEST_PG_URL && process.env.AMBER_TEST_S3_ENDPOINT) {
    return { pgUrl: process.env.AMBER_TEST_PG_URL, s3Endpoint: process.env.AMBER_TEST_S3_ENDPOINT, bucket: process.env.AMBER_TEST_S3_BUCKET ?? 'amber-test', own: false, stop: () => undefined }
  }
  // Not a benchTemp folder: the env file must outlive the temp folders' removal at exit, until stop.
  const envFile = join(tmpdir(), `amber-bench-serve-pg-${process.pid}.env`)
  const script = join(ROOT, 'scripts', 'services.sh')
  const r = spawnSync('bash', [script, 'start', '--env', envFile, '--owner', String(process.pid)], { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] })
  process.stderr.write(r.stderr ?? '')
  if (!existsSync(envFile)) throw new Error(`scripts/services.sh start failed (${r.status})`)
  const env = parseEnvFile(envFile)
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    spawnSync('bash', [script, 'stop', '--env', envFile], { stdio: 'ignore' })
    rmSync(envFile, { force: true })
  }
  process.on('exit', stop)
  for (const [k, v] of Object.entries(env)) if (process.env[k] === undefined) process.env[k] = v
  const pgUrl = process.env.AMBER_TEST_PG_URL
  const s3Endpoint = process.env.AMBER_TEST_S3_ENDPOINT
  if (!pgUrl || !s3Endpoint) {
    stop()
    throw new Error('bench/serve-pg needs PostgreSQL and an S3 server: scripts/services.sh could not start them (see above)')
  }
  return { pgUrl, s3Endpoint, bucket: process.env.AMBER_TEST_S3_BUCKET ?? 'amber-test', own: true, stop }
}

async function admin<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/** A fresh database next to the one `pgUrl` names; its URL. */
async function createDb(svc: Services, name: string): Promise<string> {
  await admin(svc.pgUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name}`).then(() => c.query(`CREATE DATABASE ${name}`)))
  const u = new URL(svc.pgUrl)
  u.pathname = `/${name}`
  return u.toString()
}

async function dropDb(svc: Services, name: string): Promise<void> {
  await admin(svc.pgUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((e) => say(`could not drop ${name}: ${(e as Error).message}`))
}

/** The durability settings in force (after `--pg-fsync`). */
async function durability(svc: Services): Promise<string> {
  return admin(svc.pgUrl, async (c) => {
    if (PG_FSYNC !== 'keep') {
      if (!svc.own) say(`--pg-fsync ${PG_FSYNC} ignored: the services are not the bench's own (AMBER_TEST_PG_URL is set); their settings are used as they are`)
      else {
        await c.query(`ALTER SYSTEM SET fsync = ${PG_FSYNC}`)
        await c.query('SELECT pg_reload_conf()')
        await new Promise((r) => setTimeout(r, 300))
      }
    }
    const show = async (k: string) => (await c.query(`SHOW ${k}`)).rows[0][k] as string
    return `fsync=${await show('fsync')}, synchronous_commit=${await show('synchronous_commit')}, wal_sync_method=${await show('wal_sync_method')}, full_page_writes=${await show('full_page_writes')}`
  })
}

// ---------------------------------------------------------------------------------------------
// Part 1: ingest

interface IngestResult {
  points: number
  secs: number
  /** Latencies (ms) of the stored scalar batches and of the other uploads. */
  scalarMs: number[]
  otherMs: number[]
  otherByKind: Record<string, number[]>
  refused: number
  retries: number
  /** CPU seconds spent during the sync, per part (where it could be read). */
  cpu: Record<string, number>
}

// CPU time of processes, from /proc (Linux): what each part of the system spent during a sync.
const TICK = 100
function procTimes(pid: number): { self: number; children: number; ppid: number } | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ')
    // Fields after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    return { self: (Number(f[11]) + Number(f[12])) / TICK, children: (Number(f[13]) + Number(f[14])) / TICK, ppid: Number(f[1]) }
  } catch {
    return null
  }
}
/** CPU seconds of a process and its descendants, the exited ones included (as far as waited for). */
function treeCpu(root: number): number {
  const all = new Map<number, number>()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    const t = procTimes(Number(e))
    if (t) all.set(Number(e), t.ppid)
  }
  let sum = 0
  const walk = (pid: number) => {
    const t = procTimes(pid)
    if (!t) return
    sum += t.self + t.children
    for (const [c, pp] of all) if (pp === pid) walk(c)
  }
  walk(root)
  return sum
}
function postmasterPid(): number | null {
  const dir = process.env.AMBER_TEST_PG_DATA
  try {
    return dir ? Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]) : null
  } catch {
    return null
  }
}
function cpuNow(servers: ChildProcess[]): Record<string, number> {
  const u = process.cpuUsage()
  const out: Record<string, number> = { client: (u.user + u.system) / 1e6, servers: servers.reduce((a, s) => a + (s.pid ? treeCpu(s.pid) : 0), 0) }
  const pm = postmasterPid()
  if (pm) out.postgres = treeCpu(pm)
  const moto = Number(process.env.AMBER_TEST_S3_PID)
  if (moto) out.s3 = treeCpu(moto)
  return out
}
function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / TICK
}

async function syncAll(label: string, dirs: string[], urls: string[], token: string, servers: ChildProcess[]): Promise<IngestResult> {
  resetLatency()
  const cpu0 = cpuNow(servers)
  const busy0 = machineBusy()
  const t0 = performance.now()
  const results: SyncResult[] = await Promise.all(dirs.map((d, i) => syncRun(d, { url: urls[i % urls.length], token, batchPoints: BATCH, retryForMs: 120_000 })))
  const secs = (performance.now() - t0) / 1000
  const cpu1 = cpuNow(servers)
  const cpu: Record<string, number> = {}
  for (const k of Object.keys(cpu1)) cpu[k] = cpu1[k] - (cpu0[k] ?? 0)
  cpu.machine = machineBusy() - busy0
  const points = results.reduce((a, r) => a + r.sentPoints, 0)
  if (points !== dirs.length * STEPS * METRICS) throw new Error(`${label}: stored ${points} points, expected ${dirs.length * STEPS * METRICS}`)
  const records = results.reduce((a, r) => a + r.sentRecords, 0)
  if (records !== dirs.length * recordsPerRun(STEPS)) throw new Error(`${label}: stored ${records} records, expected ${dirs.length * recordsPerRun(STEPS)}`)
  if (results.some((r) => r.status !== 'finished')) throw new Error(`${label}: a run did not finish`)
  return { points, secs, scalarMs: [...latency.scalarOk], otherMs: [...latency.otherByKind.values()].flat(), otherByKind: Object.fromEntries([...latency.otherByKind].map(([k, v]) => [k, [...v]])), refused: latency.refused, retries: results.reduce((a, r) => a + r.retries, 0), cpu }
}

/** Node flags of a server child: a CPU profile per child with `--profile DIR`. */
function childArgs(tag: string): string[] {
  return PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(PROFILE)}`, `--cpu-prof-name=${tag}-${process.pid}.cpuprofile`] : []
}

function cliToken(flags: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', AMBER, 'token', 'create', ...flags, '--project', '*'], { encoding: 'utf8' })
  const token = r.stdout.trim()
  if (r.status !== 0 || !token) throw new Error(`amber token create ${flags.join(' ')}: ${r.stderr}`)
  return token
}

/** Bytes of the data dir's run stores, and of their scalar pages (the series columns, their rows, steps). */
function fileBytes(dataDir: string): { runDb: number; scalarPages: number; all: number } {
  let runDb = 0
  let scalarPages = 0
  let all = 0
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) all += statSync(p).size
    }
  }
  walk(dataDir)
  for (const project of readdirSync(dataDir, { withFileTypes: true })) {
    if (!project.isDirectory() || project.name.startsWith('.')) continue
    for (const run of readdirSync(join(dataDir, project.name), { withFileTypes: true })) {
      const f = join(dataDir, project.name, run.name, 'data', 'run.db')
      if (!run.isDirectory() || !existsSync(f)) continue
      runDb += statSync(f).size
      const db = new Database(f, { readonly: true })
      try {
        // Column chunks of scalar series (col_chunks rows of the series/<id> columns and their
        // index) are not told apart from other columns by dbstat: the store has no other columns.
        const rows = db.prepare("SELECT name, sum(pgsize) AS b FROM dbstat WHERE name IN ('col_chunks', 'col_meta', 'series', 'steps') OR name LIKE 'sqlite_autoindex_col_%' OR name LIKE 'sqlite_autoindex_series%' GROUP BY name").all() as Array<{ name: string; b: number }>
        for (const r of rows) scalarPages += r.b
      } finally {
        db.close()
      }
    }
  }
  return { runDb, scalarPages, all }
}

async function ingestFile(dirs: string[]): Promise<{ r: IngestResult; bytes: ReturnType<typeof fileBytes> }> {
  const data = benchTemp('amber-bench-servepg-file-')
  let server: ChildProcess | undefined
  try {
    const token = cliToken(['--data-dir', data])
    const port = await freePort()
    server = await startServerChild(['--data-dir', data], port, childArgs('file'))
    say(`file backend: syncing ${dirs.length} runs into one server...`)
    const r = await syncAll('file', dirs, [`http://127.0.0.1:${port}`], token, [server])
    await stopServerChild(server)
    return { r, bytes: fileBytes(data) }
  } finally {
    if (server) await stopServerChild(server)
    removeTemp(data)
  }
}

interface AtRest {
  tailRowsLeft: number
  beforeVacuum: number
  vacuum: number
  vacuumFull: number
  perTable: string
  chunkObjects: number
  chunkBytes: number
  otherObjects: string
  lodBytes: number
  storedPoints: number
}

async function tableBytes(storage: PgStorage): Promise<number> {
  const r = await storage.db.query<{ b: number }>("SELECT (pg_total_relation_size('amber_series') + pg_total_relation_size('amber_tail') + pg_total_relation_size('amber_chunks'))::bigint AS b")
  return Number(r[0].b)
}

async function atRest(db: string, bucket: string, svc: Services): Promise<AtRest> {
  const storage = await openPgStorage({ db, bucket, s3Endpoint: svc.s3Endpoint, housekeepingMs: 0 })
  try {
    const tailRowsLeft = Number((await storage.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM amber_tail'))[0].n)
    if (tailRowsLeft > 0) for (const { id } of await storage.db.query<{ id: number }>('SELECT id FROM amber_runs')) await storage.sealer.sealRun(id, true)
    const storedPoints = Number((await storage.db.query<{ n: number }>('SELECT sum(count)::bigint AS n FROM amber_series'))[0].n)
    const beforeVacuum = await tableBytes(storage)
    await storage.db.query('VACUUM amber_series, amber_tail, amber_chunks')
    const vacuum = await tableBytes(storage)
    await storage.db.query('VACUUM FULL amber_series, amber_tail, amber_chunks')
    const vacuumFull = await tableBytes(storage)
    const parts = await storage.db.query<{ t: string; heap: number; toast: number; idx: number }>(
      `SELECT t, pg_relation_size(t)::bigint AS heap, (pg_table_size(t) - pg_relation_size(t))::bigint AS toast, pg_indexes_size(t)::bigint AS idx
       FROM unnest(ARRAY['amber_series', 'amber_tail', 'amber_chunks']) AS t`,
    )
    const perTable = parts.map((p) => `${p.t} ${p.heap}+${p.toast}+${p.idx}`).join(', ')
    const lodBytes = Number((await storage.db.query<{ b: number }>('SELECT coalesce(sum(length(lod)), 0)::bigint AS b FROM amber_chunks'))[0].b)
    let chunkObjects = 0
    let chunkBytes = 0
    // Everything else in the bucket by its top folder (media/, blobs/, output/, ...): not scalars.
    const others = new Map<string, number>()
    for await (const o of storage.bucket.list('')) {
      const top = o.key.split('/')[0]
      if (top === 'chunks') {
        chunkObjects++
        chunkBytes += o.size
      } else others.set(top, (others.get(top) ?? 0) + o.size)
    }
    const otherObjects = [...others].map(([k, v]) => `${k}/ ${v} B`).join(', ') || 'none'
    return { tailRowsLeft, beforeVacuum, vacuum, vacuumFull, perTable, chunkObjects, chunkBytes, otherObjects, lodBytes, storedPoints }
  } finally {
    await storage.close()
  }
}

/** Delete the objects under a bench prefix (on services the bench did not start; its own go with moto). */
async function emptyPrefix(bucketUrl: string, svc: Services): Promise<void> {
  if (svc.own) return
  const bucket = new Bucket(bucketUrl, { endpoint: svc.s3Endpoint })
  try {
    const keys: string[] = []
    for await (const o of bucket.list('')) keys.push(o.key)
    await bucket.delete(keys)
  } catch (e) {
    say(`could not empty ${bucketUrl}: ${(e as Error).message}`)
  } finally {
    bucket.close()
  }
}

async function ingestPg(dirs: string[], svc: Services, dbName: string, bucket: string, measureRest: boolean): Promise<{ r: IngestResult; rest: AtRest | null }> {
  const db = await createDb(svc, dbName)
  const replicas: ChildProcess[] = []
  try {
    // `amber token create --db` applies the schema, as the first replica would.
    const token = cliToken(['--db', db])
    const flags = ['--db', db, '--bucket', bucket, '--s3-endpoint', svc.s3Endpoint]
    const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()))
    for (let i = 0; i < REPLICAS; i++) replicas.push(await startServerChild(flags, ports[i], childArgs(`pg${i}`)))
    say(`pg backend: syncing ${dirs.length} runs through ${REPLICAS} replicas...`)
    const r = await syncAll('pg', dirs, ports.map((p) => `http://127.0.0.1:${p}`), token, replicas)
    // SIGTERM: each replica drains and waits for its background seals.
    await Promise.all(replicas.map(stopServerChild))
    if (!measureRest) return { r, rest: null }
    say('pg backend: at rest (VACUUM, VACUUM FULL, bucket listing)...')
    return { r, rest: await atRest(db, bucket, svc) }
  } finally {
    await Promise.all(replicas.map(stopServerChild))
  }
}

// ---------------------------------------------------------------------------------------------
// Parts 3 and 4: reads

async function get(server: TeamServer, token: string, path: string): Promise<unknown> {
  const res = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${token}` } })
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** First request of each, then `REPEAT` more alternating between the two; ms. */
async function alternate(a: () => Promise<void>, b: () => Promise<void>): Promise<{ aFirst: number; bFirst: number; a: number; b: number }> {
  const time = async (fn: () => Promise<void>) => {
    const t0 = performance.now()
    await fn()
    return performance.now() - t0
  }
  const aFirst = await time(a)
  const bFirst = await time(b)
  const as: number[] = []
  const bs: number[] = []
  for (let i = 0; i < REPEAT; i++) {
    if (i % 2 === 0) {
      as.push(await time(a))
      bs.push(await time(b))
    } else {
      bs.push(await time(b))
      as.push(await time(a))
    }
  }
  return { aFirst, bFirst, a: median(as), b: median(bs) }
}

async function reads(svc: Services, pid: number): Promise<{ overview: Awaited<ReturnType<typeof alternate>>; list: Awaited<ReturnType<typeof alternate>>; notes: string[] }> {
  const notes: string[] = []
  const dbNames = [`amber_bench_big_${pid}`, `amber_bench_list_${pid}`]
  const bigData = benchTemp('amber-bench-servepg-big-')
  const listData = benchTemp('amber-bench-servepg-list-')
  const servers: TeamServer[] = []
  try {
    // ---- one run with a BIG-point metric ----
    let t0 = performance.now()
    const board = new Board({ baseDir: bigData, project: 'bench', name: 'big', captureOutput: false, systemMetrics: false })
    for (let i = 0; i < BIG; i++) board.log({ 'train/loss': Math.exp(-i / BIG) + 0.01 * Math.sin(i) })
    await board.finish()
    const folder = board.runDir.split(/[\\/]/).pop()!
    say(`logged a ${BIG}-point run in ${(performance.now() - t0).toFixed(0)} ms`)
    const fileBig = await startServer({ dataDir: bigData, port: 0 })
    servers.push(fileBig)
    const fileBigToken = (await fileBig.tokens.create({ projects: '*' })).token
    const pgBig = await startServer({ db: await createDb(svc, dbNames[0]), bucket: `s3://${svc.bucket}/bench-${pid}-big`, s3Endpoint: svc.s3Endpoint, port: 0 })
    servers.push(pgBig)
    const pgBigToken = (await pgBig.tokens.create({ projects: '*' })).token
    t0 = performance.now()
    await syncRun(board.runDir, { url: pgBig.url, token: pgBigToken })
    const st = pgBig.storage as PgStorage
    const tail = (await st.db.query<{ n: number; pts: number }>('SELECT count(*)::bigint AS n, coalesce(sum(n), 0)::bigint AS pts FROM amber_tail'))[0]
    const chunks = Number((await st.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM amber_chunks'))[0].n)
    notes.push(`${BIG}-point run synced to PostgreSQL and sealed in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${chunks} sealed chunks, ${tail.n} tail rows (${tail.pts} points) left`)
    const path = `/api/runs/bench/${folder}/scalars?name=${encodeURIComponent('train/loss')}`
    const check = (s: unknown) => {
      const n = (s as { value: unknown[] }).value.length
      if (n === 0 || n > 10_000) throw new Error(`overview of ${n} points`)
      return n
    }
    const sizes = { pg: 0, file: 0 }
    // The first request of each is the first read of the run by its server (nothing cached).
    const overview = await alternate(
      async () => void (sizes.pg = check(await get(pgBig, pgBigToken, path))),
      async () => void (sizes.file = check(await get(fileBig, fileBigToken, path))),
    )
    notes.push(`overview sizes: pg ${sizes.pg} points, file ${sizes.file} points (default maxPoints)`)

    // ---- LIST small runs ----
    // Ten runs written by Board (one per project), copied to LIST folders with their own
    // metadata (name, runId, config): Board takes ~50 ms to open and finish a run, so writing
    // each would cost a minute; the list reads only metadata.json. PostgreSQL gets the same runs
    // through its storage API (open, one scalar batch, finish: what a sync does, without HTTP).
    t0 = performance.now()
    const seeds: string[] = []
    for (let p = 0; p < 10; p++) {
      const b = new Board({ baseDir: listData, project: `p${p}`, name: 'seed', captureOutput: false, systemMetrics: false })
      b.log({ 'train/loss': 1 })
      await b.finish()
      seeds.push(b.runDir)
    }
    const made: Array<{ project: string; folder: string; metadata: Record<string, unknown> }> = []
    for (let r = 0; r < LIST; r++) {
      const project = `p${r % 10}`
      const folder = `run-${String(r).padStart(5, '0')}`
      const dir = join(listData, project, folder)
      cpSync(seeds[r % 10], dir, { recursive: true })
      rmSync(join(dir, '.owner.lock'), { force: true })
      const metadata = JSON.parse(readFileSync(join(dir, 'metadata.json'), 'utf8')) as Record<string, unknown>
      Object.assign(metadata, { name: `run-${r}`, runId: folder, config: { lr: 10 ** -(1 + (r % 4)), seed: r } })
      writeFileSync(join(dir, 'metadata.json'), JSON.stringify(metadata, null, 2))
      made.push({ project, folder, metadata })
    }
    for (const d of seeds) rmSync(d, { recursive: true, force: true })
    say(`made ${LIST} run folders in ${(performance.now() - t0).toFixed(0)} ms`)
    const fileList = await startServer({ dataDir: listData, port: 0 })
    servers.push(fileList)
    const fileListToken = (await fileList.tokens.create({ projects: '*' })).token
    const pgList = await startServer({ db: await createDb(svc, dbNames[1]), bucket: `s3://${svc.bucket}/bench-${pid}-list`, s3Endpoint: svc.s3Endpoint, port: 0 })
    servers.push(pgList)
    const pgListToken = (await pgList.tokens.create({ projects: '*' })).token
    t0 = performance.now()
    const ingest = (pgList.storage as PgStorage).ingest
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < made.length) {
        const { project, folder, metadata } = made[next++]
        await ingest.open(project, folder, metadata)
        const r = Number(folder.slice(4))
        const one = (x: number) => Float64Array.of(x)
        await ingest.scalars(project, folder, [{ name: 'train/loss', from: 0, step: one(0), globalStep: one(0), timestamp: one(Date.now()), value: one(1 / (r + 1)) }])
        await ingest.finish(project, folder, 'finished', 0, typeof metadata.finishedAt === 'string' ? metadata.finishedAt : null)
      }
    }))
    notes.push(`${LIST} runs stored in PostgreSQL through the storage API (8 at a time) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const count = (x: unknown) => {
      if ((x as unknown[]).length !== LIST) throw new Error(`listed ${(x as unknown[]).length} runs, expected ${LIST}`)
    }
    const list = await alternate(
      async () => count(await get(pgList, pgListToken, '/api/runs')),
      async () => count(await get(fileList, fileListToken, '/api/runs')),
    )
    return { overview, list, notes }
  } finally {
    for (const s of servers) await s.close()
    for (const b of ['big', 'list']) await emptyPrefix(`s3://${svc.bucket}/bench-${pid}-${b}`, svc)
    for (const n of dbNames) await dropDb(svc, n)
    removeTemp(bigData)
    removeTemp(listData)
  }
}

// ---------------------------------------------------------------------------------------------

async function main() {
  timeUploads()
  const svc = services()
  const pid = process.pid
  const notes: string[] = []
  try {
    const dur = await durability(svc)
    say(`PostgreSQL: ${dur}`)
    const base = benchTemp('amber-bench-servepg-runs-')
    const fileReps: Array<Awaited<ReturnType<typeof ingestFile>>> = []
    const pgReps: Array<Awaited<ReturnType<typeof ingestPg>>> = []
    try {
      const t0 = performance.now()
      say(`logging ${RUNS} runs of ${STEPS} steps x ${METRICS} metrics (+ every other log type)...`)
      const dirs = await logRuns(base, RUNS, 'bench', STEPS, METRICS)
      say(`logged in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      const runFile = async () => {
        const t = performance.now()
        fileReps.push(await ingestFile(dirs))
        say(`file backend: ${((performance.now() - t) / 1000).toFixed(1)} s`)
      }
      const runPg = async (k: number) => {
        const t = performance.now()
        const bucket = `s3://${svc.bucket}/bench-${pid}-ingest-${k}`
        const dbName = `amber_bench_ingest_${pid}_${k}`
        try {
          pgReps.push(await ingestPg(dirs, svc, dbName, bucket, k === INGEST_REPEAT - 1))
        } finally {
          await emptyPrefix(bucket, svc)
          await dropDb(svc, dbName)
        }
        say(`pg backend: ${((performance.now() - t) / 1000).toFixed(1)} s`)
      }
      // ABBA order (file, pg, pg, file, ...): a drift of the machine's load weighs on both alike.
      for (let k = 0; k < INGEST_REPEAT; k++) {
        if (k % 2 === 0) {
          await runFile()
          await runPg(k)
        } else {
          await runPg(k)
          await runFile()
        }
      }
    } finally {
      removeTemp(base)
    }
    say('reads: 1M-point overview and the run list...')
    const rd = await reads(svc, pid)
    notes.push(...rd.notes)

    const points = RUNS * STEPS * METRICS
    const rest = pgReps[pgReps.length - 1].rest!
    const fileBytesAtRest = fileReps[fileReps.length - 1].bytes
    if (rest.storedPoints !== points) notes.push(`WARNING: PostgreSQL holds ${rest.storedPoints} points, expected ${points}`)
    const sum = (reps: Array<{ r: IngestResult }>) => {
      const rates = reps.map((x) => x.r.points / x.r.secs)
      const scalar = reps.flatMap((x) => x.r.scalarMs)
      const other = reps.flatMap((x) => x.r.otherMs)
      const cpu: Record<string, number> = {}
      for (const x of reps) for (const [k, v] of Object.entries(x.r.cpu)) cpu[k] = (cpu[k] ?? 0) + v / reps.length
      return {
        rate: trueMedian(rates), rates, secs: trueMedian(reps.map((x) => x.r.secs)), p50: quantile(scalar, 0.5), p99: quantile(scalar, 0.99), requests: scalar.length,
        otherP50: quantile(other, 0.5), otherP99: quantile(other, 0.99), refused: reps.reduce((a, x) => a + x.r.refused, 0), retries: reps.reduce((a, x) => a + x.r.retries, 0), cpu,
      }
    }
    const serverCpu = (c: Record<string, number>) => (c.servers ?? 0) + (c.postgres ?? 0) + (c.s3 ?? 0)
    const P = sum(pgReps)
    const F = sum(fileReps)
    const cpuLine = (c: Record<string, number>, wall: number) => `${Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')} (CPU s; wall ${wall.toFixed(1)} s, ${(2 * wall).toFixed(1)} CPU s on 2 cores)`
    notes.push(`ingest points/s per repeat: pg ${P.rates.map((x) => x.toFixed(0)).join(', ')}; file ${F.rates.map((x) => x.toFixed(0)).join(', ')}`)
    const byKind = (reps: Array<{ r: IngestResult }>) => ['records', 'media', 'output'].map((k) => {
      const xs = reps.flatMap((x) => x.r.otherByKind[k] ?? [])
      return `${k} ${xs.length} reqs p50 ${ms(quantile(xs, 0.5))} p99 ${ms(quantile(xs, 0.99))} max ${ms(Math.max(...xs))}`
    }).join('; ')
    notes.push(`other uploads, 2xx, ms: pg ${byKind(pgReps)} | file ${byKind(fileReps)}`)
    notes.push(`CPU during the pg ingest (mean of repeats): ${cpuLine(P.cpu, P.secs)}`)
    notes.push(`CPU during the file ingest (mean of repeats): ${cpuLine(F.cpu, F.secs)}`)
    const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-')
    const head = ['measure', 'goal', 'pg', 'file', 'pg/file']
    const rows: string[][] = [
      [`ingest points/s (${RUNS} runs x ${STEPS} x ${METRICS} + other logs; pg: ${REPLICAS} replicas, file: 1 server; median of ${INGEST_REPEAT})`, '>= 0.7x file', P.rate.toFixed(0), F.rate.toFixed(0), ratio(P.rate, F.rate)],
      ['ingest wall s (all runs synced and finished; median)', '', P.secs.toFixed(1), F.secs.toFixed(1), ratio(P.secs, F.secs)],
      [`scalar batch latency p50 ms (${BATCH}-point batches, 2xx, all repeats)`, '', ms(P.p50), ms(F.p50), ratio(P.p50, F.p50)],
      ['scalar batch latency p99 ms', 'reported', ms(P.p99), ms(F.p99), ratio(P.p99, F.p99)],
      ['other uploads (records, media, output) p50 / p99 ms (2xx)', '', `${ms(P.otherP50)} / ${ms(P.otherP99)}`, `${ms(F.otherP50)} / ${ms(F.otherP99)}`, ''],
      ['scalar batches stored / 503s retried / sync retries (all repeats)', '', `${P.requests} / ${P.refused} / ${P.retries}`, `${F.requests} / ${F.refused} / ${F.retries}`, ''],
      ['server-side CPU s per 1M points (servers + PostgreSQL + S3 server; mean)', '', ms(serverCpu(P.cpu) / (points / 1e6)), ms(serverCpu(F.cpu) / (points / 1e6)), ratio(serverCpu(P.cpu), serverCpu(F.cpu))],
      [`${BIG}-point chart overview ms (default maxPoints, median of ${REPEAT})`, '<= 100', ms(rd.overview.a), ms(rd.overview.b), ratio(rd.overview.a, rd.overview.b)],
      ['  first request ms', '', ms(rd.overview.aFirst), ms(rd.overview.bFirst), ''],
      [`list of ${LIST} runs ms (GET /api/runs, median of ${REPEAT})`, '<= 100', ms(rd.list.a), ms(rd.list.b), ratio(rd.list.a, rd.list.b)],
      ['  first request ms', '', ms(rd.list.aFirst), ms(rd.list.bFirst), ''],
      ['at rest: pg scalar tables B/point after VACUUM (file: data/run.db B/point)', '<= 2', (rest.vacuum / points).toFixed(2), (fileBytesAtRest.runDb / points).toFixed(2), ''],
      ['at rest: pg scalar tables B/point after VACUUM FULL (file: scalar pages of run.db)', '<= 2', (rest.vacuumFull / points).toFixed(2), (fileBytesAtRest.scalarPages / points).toFixed(2), ''],
      ['at rest: bucket chunks/ B/point (media excluded)', '<= 24', (rest.chunkBytes / points).toFixed(2), '', ''],
      ['at rest: pg tables + bucket chunks B/point (file: run.db)', '', ((rest.vacuumFull + rest.chunkBytes) / points).toFixed(2), (fileBytesAtRest.runDb / points).toFixed(2), ratio(rest.vacuumFull + rest.chunkBytes, fileBytesAtRest.runDb)],
    ]
    notes.push(`PostgreSQL durability: ${dur} (--pg-fsync ${PG_FSYNC}${svc.own ? ', services started by the bench' : ', services from the environment'}); file backend: SQLite WAL, synchronous=NORMAL, acknowledged after the writer's commit`)
    notes.push(`pg scalar tables: ${rest.beforeVacuum} B before VACUUM, ${rest.vacuum} after VACUUM, ${rest.vacuumFull} after VACUUM FULL (heap+TOAST+indexes: ${rest.perTable}); lod blobs ${rest.lodBytes} B; ${rest.tailRowsLeft} tail rows were left after the sync (sealed before measuring)`)
    notes.push(`bucket: ${rest.chunkObjects} chunk objects, ${rest.chunkBytes} B; other objects (excluded): ${rest.otherObjects}`)
    notes.push(`file data dir: ${fileBytesAtRest.all} B in all (media, tensors, logs included), data/run.db ${fileBytesAtRest.runDb} B, of which scalar pages (col_chunks, col_meta, series, steps) ${fileBytesAtRest.scalarPages} B`)
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
    const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`
    process.stdout.write(`\n${line(head)}\n| ${w.map((n) => '-'.repeat(n)).join(' | ')} |\n${rows.map(line).join('\n')}\n\n`)
    for (const n of notes) process.stdout.write(`- ${n}\n`)
    process.stdout.write(`- whole bench: ${((performance.now() - T0) / 1000).toFixed(0)} s\n`)
  } finally {
    svc.stop()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
