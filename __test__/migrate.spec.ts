/**
 * `amber migrate --from DIR --db URL --bucket s3://…` against real services: a data dir filled by
 * a real `amber serve --data-dir` through real syncs (every log type; finished, crashed, killed
 * and still running runs) plus a 0.1-layout run folder, moved by the real CLI in a child process.
 * Then an `amber serve --db --bucket` on the result answers every read route exactly as the data
 * dir server does, with the data dir's own tokens; a migration SIGKILLed mid-way and run again
 * leaves every point once; a run that cannot be read fails alone.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from 'pg'
import { Board, ColumnVault, Histogram, KernelDensity, Media, Table, TensorLog, listRuns, openRun, syncRun } from '../src/index'
import { AMBER, amber, createToken, freePort, startServerProcess, temp } from './sync-helpers'
import type { ServerProc } from './sync-helpers'
import { freshBucketPrefix, freshDatabase, need, pgService, s3Service, serviceTest } from './services'

const svcTest = serviceTest('migrate.spec', pgService(), s3Service())
const CHILD = join(__dirname, 'fixtures', 'board-child.ts')

function pixels(seed: number, w = 16, h = 12, channels = 3) {
  const px = new Uint8Array(w * h * channels)
  let x = seed * 7919 + 1
  for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return { data: px, width: w, height: h, channels }
}

/** `steps` steps of every log type (as sync-records.spec.ts logs them), NaN and ±Infinity included. */
function logEverything(b: Board, steps: number): void {
  for (let i = 0; i < steps; i++) {
    const vals = Float64Array.from({ length: 200 }, (_, k) => Math.sin(i * 31 + k) * (1 + i / 10))
    if (i % 7 === 0) vals[3] = NaN
    const row: Parameters<Board['log']>[0] = {
      loss: i % 13 === 5 ? NaN : 1 / (i + 1),
      'train/acc': i % 17 === 3 ? -Infinity : Math.tanh(i / 10),
      'grads/w': new Histogram(vals, { bins: 16 }),
      'weights/t': new TensorLog(Float32Array.from({ length: 64 }, (_, k) => k * 0.5 + i), [8, 8], { metadata: { layer: i % 3 } }),
    }
    if (i % 3 === 0) {
      row['grads/b'] = Histogram.fromBins([0, 0.5, 1, 4], [i, 0, 2 ** 40], { nan: 2, posinf: i, neginf: 1 })
      row.logits = new KernelDensity(vals, { points: 32 })
      row.samples = new Media(pixels(i % 4), { caption: `s${i}` })
      row.preds = new Table([
        { id: i, label: 'cat', p: 0.25 + i, img: new Media(pixels(i % 5, 8, 8, 1)) },
        { id: null, label: { nested: [1, 2.5] }, p: 1e21, img: null },
      ])
    }
    b.log(row)
    if (i % 4 === 0) b.step()
    if (i % 5 === 0) process.stdout.write(`step ${i} é ✓\n`)
  }
}

/** A run folder of 0.1 (layout 1: one ColumnVault file per metric), as cli.spec.ts's upgrade test makes it. */
function legacyRun(dataDir: string): string {
  const dir = join(dataDir, 'legacy', 'old01')
  mkdirSync(join(dir, 'data', 'metrics'), { recursive: true })
  writeFileSync(join(dir, 'metadata.json'), JSON.stringify({ name: 'old', project: 'legacy', runId: 'old01', status: 'finished', createdAt: '2025-01-01T00:00:00Z', finishedAt: '2025-01-01T01:00:00Z', exitCode: 0, config: { lr: 0.1 } }))
  for (const [file, n] of [['train__loss', 3000], ['acc', 1500]] as const) {
    const cv = new ColumnVault(join(dir, 'data', 'metrics', `${file}.db`))
    cv.ensure('step', 'i64').extend(Array.from({ length: n }, (_, i) => i))
    cv.ensure('global_step', 'i64').extend(Array.from({ length: n }, (_, i) => Math.floor(i / 10)))
    cv.ensure('timestamp', 'i64').extend(Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 1000))
    cv.ensure('value', 'f64').extend(Float64Array.from({ length: n }, (_, i) => (file === 'acc' ? i / n : 1 / (i + 1))))
    cv.close()
  }
  return dir
}

/** A run made by a Board in a child process that then crashes (`throw`) or is killed (SIGTERM). */
async function childRun(base: string, runId: string, how: 'throw' | 'sigterm'): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, 'exit', base, runId, how], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  if (how === 'sigterm') {
    await new Promise<void>((ready) => child.stdout!.on('data', (d) => String(d).includes('ready') && ready()))
    child.kill('SIGTERM')
  }
  await exited
  return join(base, 'default', runId)
}

/** `amber serve --db --bucket` as a child process; resolves once it listens. */
function startPgServer(db: string, bucket: string, port: number): Promise<ServerProc> {
  const s3 = need(s3Service())
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', AMBER, 'serve', '--db', db, '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    child.once('exit', (code) => reject(new Error(`amber serve --db exited (${code}): ${err}`)))
    child.stdout!.on('data', (d) => {
      out += d
      if (!out.includes('http://')) return
      resolve({
        url: `http://127.0.0.1:${port}`, port, child,
        kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          await exited
        },
      })
    })
  })
}

/** `amber migrate` in a child process (async, so a test can kill it). */
function migrate(from: string, db: string, bucket: string, extra: string[] = []): { done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>; kill: () => void; stderr: () => string } {
  const s3 = need(s3Service())
  const child = spawn(process.execPath, ['--import', 'tsx', AMBER, 'migrate', '--from', from, '--db', db, '--bucket', bucket, '--s3-endpoint', s3.endpoint, '--s3-region', s3.region, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { done, kill: () => child.kill('SIGKILL'), stderr: () => stderr }
}

async function getJson(base: string, token: string, path: string): Promise<{ status: number; body: any }> {
  const r = await fetch(new URL(path, base), { headers: { authorization: `Bearer ${token}` } })
  const text = await r.text()
  return { status: r.status, body: text ? JSON.parse(text) : null }
}

async function getBytes(base: string, token: string, path: string): Promise<{ status: number; type: string | null; body: Buffer }> {
  const r = await fetch(new URL(path, base), { headers: { authorization: `Bearer ${token}` } })
  return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) }
}

/**
 * Metadata fields that say where a copy lives, not what the run is: the data dir's run folder
 * records its writer's layout (and, for a 0.1 folder, none), the database when a client last
 * synced it and its folder. Everything else must be equal.
 */
const WHERE_IT_LIVES = ['layoutVersion', 'syncedAt', 'folder', 'writerErrors']

function sameRun(meta: Record<string, unknown>): Record<string, unknown> {
  // The database backend leaves exitCode and finishedAt out of a run that has not finished
  // (the data dir writes null): the same answer to a reader, and only that is let through.
  return { exitCode: null, finishedAt: null, ...Object.fromEntries(Object.entries(meta).filter(([k]) => !WHERE_IT_LIVES.includes(k))) }
}

/**
 * Every read route of every run answers alike on both servers: the run list, projects, last
 * values, each run's page, metric names, every metric's points (maxPoints=100000, i.e. all of
 * them here), histograms, media lists and each media file's bytes and type, tables and output.
 * Returns what was compared, so a caller can check the comparison was not of two empty servers.
 */
async function assertSameApi(t: ExecutionContext, a: string, b: string, token: string): Promise<{ runs: number; points: number; media: number; histograms: number; tables: number }> {
  const seen = { runs: 0, points: 0, media: 0, histograms: 0, tables: 0 }
  const both = async (path: string) => {
    const [x, y] = await Promise.all([getJson(a, token, path), getJson(b, token, path)])
    t.is(x.status, 200, `${path} on the data dir server`)
    t.is(y.status, 200, `${path} on the database server: ${JSON.stringify(y.body)}`)
    return [x.body, y.body]
  }
  const byKey = (rows: Array<{ key: string }>) => [...rows].sort((p, q) => p.key.localeCompare(q.key))
  const [runsA, runsB] = await both('/api/runs')
  t.deepEqual(byKey(runsB), byKey(runsA), '/api/runs')
  const [projA, projB] = await both('/api/projects')
  t.deepEqual(projB, projA, '/api/projects')
  for (const metric of ['loss', 'train/loss']) {
    const [lastA, lastB] = await both(`/api/last?metric=${encodeURIComponent(metric)}`)
    t.deepEqual(lastB, lastA, `/api/last?metric=${metric}`)
  }
  for (const row of runsA as Array<{ project: string; folder: string }>) {
    const run = `/api/runs/${encodeURIComponent(row.project)}/${encodeURIComponent(row.folder)}`
    seen.runs++
    const [detA, detB] = await both(run)
    t.deepEqual({ ...detB, metadata: sameRun(detB.metadata) }, { ...detA, metadata: sameRun(detA.metadata) }, run)
    const [metA, metB] = await both(`${run}/metrics`)
    t.deepEqual(metB, metA, `${run}/metrics`)
    for (const m of metA as string[]) {
      const [sA, sB] = await both(`${run}/scalars?name=${encodeURIComponent(m)}&maxPoints=100000`)
      t.deepEqual(sB, sA, `${run} scalars ${m}`)
      seen.points += sA.value.length
    }
    for (const h of detA.logs.histograms as string[]) {
      const [hA, hB] = await both(`${run}/histograms?name=${encodeURIComponent(h)}`)
      t.deepEqual(hB, hA, `${run} histograms ${h}`)
      seen.histograms += hA.length
    }
    for (const name of detA.logs.tables as string[]) {
      const [xA, xB] = await both(`${run}/tables?name=${encodeURIComponent(name)}`)
      t.deepEqual(xB, xA, `${run} tables ${name}`)
      seen.tables += xA.length
    }
    for (const name of detA.logs.media as string[]) {
      const [mA, mB] = await both(`${run}/media?name=${encodeURIComponent(name)}`)
      t.deepEqual(mB, mA, `${run} media ${name}`)
      for (const e of mA as Array<{ id: string }>) {
        const [x, y] = await Promise.all([getBytes(a, token, `${run}/media/${e.id}`), getBytes(b, token, `${run}/media/${e.id}`)])
        t.is(y.status, 200)
        t.is(y.type, x.type, `media ${e.id} type`)
        t.true(y.body.equals(x.body) && x.body.length > 0, `media ${e.id} bytes`)
        seen.media++
      }
    }
    const [oA, oB] = await both(`${run}/output`)
    t.deepEqual(oB, oA, `${run}/output`)
  }
  return seen
}

/** Per metric, per media name and per record kind: what the database holds, counted from its rows. */
async function dbCounts(db: string): Promise<{ points: number; series: Record<string, number>; media: number; records: Record<string, number>; tokens: string[] }> {
  const c = new Client({ connectionString: db })
  await c.connect()
  try {
    const series = Object.fromEntries((await c.query(`SELECT r.project || '/' || r.folder || ':' || s.name AS k, s.count::int AS n FROM amber_series s JOIN amber_runs r ON r.id = s.run`)).rows.map((x) => [x.k, x.n]))
    // Rows, not the heads' counts: a duplicate would be a second row (or longer chunks) here.
    const tail = (await c.query('SELECT coalesce(sum(n), 0)::int AS n FROM amber_tail')).rows[0].n + (await c.query('SELECT coalesce(sum(n), 0)::int AS n FROM amber_chunks')).rows[0].n
    const media = (await c.query('SELECT count(*)::int AS n FROM amber_media')).rows[0].n
    const records = Object.fromEntries((await c.query('SELECT kind, count(*)::int AS n FROM amber_records GROUP BY kind')).rows.map((x) => [x.kind, x.n]))
    const tokens = (await c.query('SELECT id FROM amber_tokens ORDER BY id')).rows.map((x) => x.id)
    return { points: tail, series, media, records, tokens }
  } finally {
    await c.end()
  }
}

/** The same counts from the source run folders. */
function sourceCounts(dataDir: string): { points: number; series: Record<string, number>; media: number; records: Record<string, number> } {
  const series: Record<string, number> = {}
  const records: Record<string, number> = { histograms: 0, tables: 0, tensors: 0, kernelDensity: 0 }
  let points = 0
  let media = 0
  for (const info of listRuns(dataDir)) {
    const run = openRun(info.runDir)
    try {
      const folder = info.runDir.split('/').pop()
      for (const m of run.metrics()) {
        const n = run.scalars(m).value.length
        series[`${info.project}/${folder}:${m}`] = n
        points += n
      }
      for (const n of run.mediaNames()) media += run.media(n).length
      for (const n of run.histogramNames()) records.histograms += run.histograms(n).length
      for (const n of run.tableNames()) records.tables += run.tables(n).length
      for (const n of run.tensorNames()) records.tensors += run.tensors(n).length
      for (const n of run.kernelDensityNames()) records.kernelDensity += run.kernelDensity(n).length
    } finally {
      run.close()
    }
  }
  return { points, series, media, records: Object.fromEntries(Object.entries(records).filter(([, n]) => n > 0)) }
}

svcTest('amber migrate moves a data dir (every log type, every status, a 0.1 run) and its tokens: a database server answers every read route as the data dir server does', async (t) => {
  t.timeout(240_000)
  const base = temp('mig-local')
  const data = temp('mig-data')
  const writer = createToken(data, '*', ['--name', 'ci'])
  const reader = createToken(data, 'team', ['--read-only', '--name', 'viewer'])
  const src = await startServerProcess(data, await freePort())
  let live: Board | null = null
  try {
    // Runs as clients upload them: finished with every log type, a long one (sealed chunks),
    // crashed, killed, and one whose client is still logging.
    const every = new Board({ baseDir: base, project: 'team', runId: 'every', config: { lr: 0.01, layers: [64, 64] }, captureOutput: true })
    logEverything(every, 45)
    await every.finish()
    const long = new Board({ baseDir: base, project: 'team', runId: 'long', annotation: 'sweep', captureOutput: false })
    for (let i = 0; i < 30_000; i++) long.log({ loss: Math.exp(-i / 5000) + (i === 12_345 ? 50 : 0), 'train/loss': Math.cos(i), 'lr/x': i % 997 === 0 ? NaN : 1e-3 })
    await long.finish()
    const crashed = await childRun(base, 'crashed', 'throw')
    const killed = await childRun(base, 'killed', 'sigterm')
    live = new Board({ baseDir: base, project: 'team', runId: 'live', captureOutput: false })
    for (let i = 0; i < 500; i++) live.log({ loss: 1 / (i + 1) })
    await live.flush()
    for (const dir of [every.runDir, long.runDir, crashed, killed, live.runDir]) await syncRun(dir, { url: src.url, token: writer })
    legacyRun(data)
    const statuses = Object.fromEntries(listRuns(data).map((r) => [`${r.project}/${r.runId}`, [r.status, r.metadata.exitCode ?? null]]))
    // What the source holds, so an equal answer below is not two empty servers agreeing.
    t.deepEqual(statuses, { 'team/every': ['finished', null], 'team/long': ['finished', null], 'default/crashed': ['crashed', 1], 'default/killed': ['killed', 143], 'team/live': ['running', null], 'legacy/old01': ['finished', 0] })
    const legacy = openRun(join(data, 'legacy', 'old01'))
    t.is(legacy.layoutVersion, 1)
    legacy.close()

    const db = await freshDatabase(t)
    const bucket = freshBucketPrefix()
    const first = await migrate(data, db, bucket).done
    t.is(first.code, 0, first.stderr)
    t.regex(first.stderr, /tokens: 2 of 2 copied/)
    t.regex(first.stderr, /\[\d\/6\] legacy\/old01 \(0\.1 layout\): 4,500 new points/)
    t.regex(first.stderr, /\[\d\/6\] team\/live: 500 new points, .*, running,/)
    t.regex(first.stdout, /^migrated 6 of 6 runs in [\d.]+ s: [\d,]+ new points, [\d,]+ media items, [\d,]+ records, [\d,]+ output bytes; tokens: 2 copied, 0 already there; 0 failures/)
    const src0 = sourceCounts(data)
    const db0 = await dbCounts(db)
    t.is(db0.points, src0.points)
    t.deepEqual(db0.series, src0.series)
    t.is(db0.media, src0.media)
    t.deepEqual(db0.records, src0.records)
    // Only the data dir's tokens: the migration's own never reaches the database.
    t.is(db0.tokens.length, 2)

    const dst = await startPgServer(db, bucket, await freePort())
    try {
      // The data dir's tokens work as they are, scopes included.
      const who = (await getJson(src.url, writer, '/api/sync/whoami')).body
      t.like(who, { name: 'ci', projects: '*', readOnly: false })
      t.deepEqual((await getJson(dst.url, writer, '/api/sync/whoami')).body, who)
      t.is((await getJson(dst.url, reader, '/api/runs/team/every')).status, 200)
      t.is((await getJson(dst.url, reader, '/api/runs/legacy/old01')).status, 403)
      t.is((await getJson(dst.url, 'amb_not-a-token', '/api/runs')).status, 401)
      const seen = await assertSameApi(t, src.url, dst.url, writer)
      t.deepEqual(seen, { runs: 6, points: src0.points, media: 15, histograms: 45 + 15, tables: 15 })

      // The run still being written: its client logs on, the old server stops (the run then
      // reads killed there), and a second migration brings the rest and the status.
      for (let i = 500; i < 800; i++) live.log({ loss: 1 / (i + 1) })
      await live.flush()
      await syncRun(live.runDir, { url: src.url, token: writer })
      await src.kill('SIGTERM')
      const second = await migrate(data, db, bucket).done
      t.is(second.code, 0, second.stderr)
      t.regex(second.stderr, /team\/live: 300 new points, 0 media items, 0 records, 0 output bytes, killed,/)
      t.regex(second.stdout, /migrated 6 of 6 runs .*: 300 new points, 0 media items, 0 records, 0 output bytes; tokens: 0 copied, 2 already there; 0 failures/)
      const again = await startServerProcess(data, await freePort())
      try {
        t.is((await getJson(dst.url, writer, '/api/runs/team/live')).body.metadata.status, 'killed')
        await assertSameApi(t, again.url, dst.url, writer)
      } finally {
        await again.kill('SIGTERM')
      }
      // A third run over a complete copy stores nothing.
      const third = await migrate(data, db, bucket).done
      t.is(third.code, 0, third.stderr)
      t.regex(third.stdout, /migrated 6 of 6 runs .*: 0 new points, 0 media items, 0 records, 0 output bytes; tokens: 0 copied, 2 already there; 0 failures/)
      t.deepEqual((await dbCounts(db)).series, sourceCounts(data).series)
    } finally {
      await dst.kill()
    }
  } finally {
    await live?.finish()
    await src.kill()
  }
})

svcTest('a migration SIGKILLed mid-way and run again stores every point, media item and record exactly once', async (t) => {
  t.timeout(240_000)
  const base = temp('mig-kill-local')
  const data = temp('mig-kill-data')
  const writer = createToken(data, '*')
  const src = await startServerProcess(data, await freePort())
  try {
    for (let r = 0; r < 6; r++) {
      const b = new Board({ baseDir: base, project: `p${r % 2}`, runId: `r${r}`, captureOutput: false })
      for (let i = 0; i < 25_000; i++) {
        const row: Parameters<Board['log']>[0] = { a: i * r, b: Math.sin(i), c: 1 / (i + 1), d: r }
        if (i % 2500 === 0) {
          row.img = new Media(pixels(r * 100 + i / 2500))
          row.h = new Histogram(Float64Array.from({ length: 50 }, (_, k) => k * i))
        }
        b.log(row)
      }
      await b.finish()
      await syncRun(b.runDir, { url: src.url, token: writer })
    }
  } finally {
    await src.kill('SIGTERM')
  }
  const want = sourceCounts(data)
  t.is(want.points, 6 * 25_000 * 4)
  const db = await freshDatabase(t)
  const bucket = freshBucketPrefix()

  const first = migrate(data, db, bucket)
  // Killed once the first run is through: the others are in flight (two at a time) or not begun.
  while (!/\[1\/6\]/.test(first.stderr())) {
    if ((await Promise.race([first.done.then(() => true), new Promise((r) => setTimeout(() => r(false), 20))])) === true) break
  }
  first.kill()
  const killed = await first.done
  t.is(killed.signal, 'SIGKILL', `the migration ended before it was killed: ${killed.stderr}`)
  const mid = await dbCounts(db)
  t.true(mid.points > 0 && mid.points < want.points, `killed mid-way: ${mid.points} of ${want.points} points stored`)

  const second = await migrate(data, db, bucket).done
  t.is(second.code, 0, second.stderr)
  const m = /migrated 6 of 6 runs .*: ([\d,]+) new points, ([\d,]+) media items/.exec(second.stdout)
  t.truthy(m, second.stdout)
  // The resumed migration stores exactly what the killed one had not.
  t.is(Number(m![1].replaceAll(',', '')), want.points - mid.points)
  const after = await dbCounts(db)
  t.is(after.points, want.points)
  t.deepEqual(after.series, want.series)
  t.is(after.media, want.media)
  t.deepEqual(after.records, want.records)
  t.is(after.tokens.length, 1)

  const noop = await migrate(data, db, bucket).done
  t.is(noop.code, 0, noop.stderr)
  t.regex(noop.stdout, /: 0 new points, 0 media items, 0 records, 0 output bytes; tokens: 0 copied, 1 already there; 0 failures/)
  t.is((await dbCounts(db)).points, want.points)

  // Point for point, through a database server and the data dir server.
  const [a, b] = await Promise.all([startServerProcess(data, await freePort()), startPgServer(db, bucket, await freePort())])
  try {
    const seen = await assertSameApi(t, a.url, b.url, writer)
    t.is(seen.points, want.points)
  } finally {
    await Promise.all([a.kill('SIGTERM'), b.kill()])
  }
})

svcTest('a run that cannot be read is reported and the others migrate; the exit code says so', async (t) => {
  t.timeout(120_000)
  const data = temp('mig-bad')
  for (const id of ['good', 'bad']) {
    const b = new Board({ baseDir: data, project: 'team', runId: id, captureOutput: false })
    for (let i = 0; i < 100; i++) b.log({ loss: i })
    await b.finish()
  }
  // The bad run's metadata is fine (it is listed), its data is not a database.
  const { readdirSync } = await import('node:fs')
  const dataDir = join(data, 'team', 'bad', 'data')
  for (const f of readdirSync(dataDir)) if (f.endsWith('.db')) writeFileSync(join(dataDir, f), Buffer.alloc(8192, 0x5a))
  const db = await freshDatabase(t)
  const r = await migrate(data, db, freshBucketPrefix()).done
  t.is(r.code, 1, r.stderr)
  t.regex(r.stderr, /team\/bad: FAILED: /)
  t.regex(r.stderr, /team\/good: 100 new points/)
  t.regex(r.stdout, /migrated 1 of 2 runs .*; 1 failure\n/)
  t.regex(r.stderr, /1 run did not migrate \(run the same command again to retry them\)/)
  t.deepEqual((await dbCounts(db)).series, { 'team/good:loss': 100 })
})

test('amber migrate usage errors name the missing or wrong flag (exit code 2), before connecting anywhere', (t) => {
  const dir = temp('mig-usage')
  const file = join(dir, 'file.txt')
  writeFileSync(file, 'x')
  const db = 'postgres://nobody@127.0.0.1:1/none'
  const cases: Array<[string[], RegExp]> = [
    [['--db', db, '--bucket', 's3://b/p'], /give the data dir to migrate with --from <dir>/],
    [['--from', dir, '--bucket', 's3://b/p'], /give the PostgreSQL database to migrate into with --db/],
    [['--from', dir, '--db', db], /give the bucket for media and sealed chunks with --bucket s3:\/\/bucket\/prefix/],
    [['--from', join(dir, 'nope'), '--db', db, '--bucket', 's3://b/p'], /--from .*nope: no such folder/],
    [['--from', file, '--db', db, '--bucket', 's3://b/p'], /--from .*file\.txt is not a folder/],
    [['--from', dir, '--db', db, '--bucket', 's3://b/p', '--jobs', '0'], /--jobs.*expected a positive integer/],
  ]
  for (const [args, why] of cases) {
    const r = amber(['migrate', ...args])
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, why)
  }
})
