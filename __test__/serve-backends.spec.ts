/**
 * The team server's two backends answer alike: a run synced to a data-dir server and to a
 * PostgreSQL + S3 server reads back the same through every route, and the database backend keeps
 * the ingest promises (a resent batch stored once, a gap refused, bad input storing nothing)
 * before and after its tails are sealed into the bucket.
 */
import type { ExecutionContext } from 'ava'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Client } from 'pg'
import { Board, Histogram, Media, Table, openRun, syncRun } from '../src/index'
import { startServer } from '../src/server/server'
import type { TeamServer } from '../src/server/server'
import { openPgStorage } from '../src/server/pg'
import type { PgStorage } from '../src/server/pg'
import { encodeBatch, encodeMediaBatch } from '../src/sync/protocol'
import { freshBucketPrefix, freshDatabase, pgService, s3Service, serviceTest } from './services'
import { temp } from './sync-helpers'

const test = serviceTest('serve-backends', pgService(), s3Service())

/** A database server on a fresh database and bucket prefix (small chunks, so sealing and lods happen). */
async function pgServer(t: ExecutionContext, chunkPoints = 1000): Promise<{ server: TeamServer; storage: PgStorage; db: string }> {
  const db = await freshDatabase(t)
  const storage = await openPgStorage({ db, bucket: freshBucketPrefix(), s3Endpoint: s3Service() && process.env.AMBER_TEST_S3_ENDPOINT, chunkPoints, housekeepingMs: 0 })
  const server = await startServer({ storage, liveIntervalMs: 100 })
  t.teardown(() => server.close())
  return { server, storage, db }
}

async function fileServer(t: ExecutionContext): Promise<TeamServer> {
  const server = await startServer({ dataDir: temp('backends-data'), liveIntervalMs: 100 })
  t.teardown(() => server.close())
  return server
}

function pixels(seed: number, w = 8, h = 6) {
  const px = new Uint8Array(w * h * 3)
  let x = seed * 7919 + 1
  for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return { data: px, width: w, height: h, channels: 3 }
}

/** A finished local run with every kind of log the viewer reads, and values that must stay exact. */
async function everyKindRun(steps: number): Promise<string> {
  const b = new Board({ baseDir: temp('backends-base'), project: 'team', captureOutput: true, config: { lr: 0.1, layers: [1, 2] } })
  for (let i = 0; i < steps; i++) {
    const row: Parameters<Board['log']>[0] = {
      loss: 1 / (i + 1),
      'train/acc': i === 777 ? 1e300 : Math.sin(i),
      odd: [NaN, -0, Infinity, -Infinity, 5e-324, 0.1 + 0.2][i % 6],
    }
    if (i % 500 === 0) {
      row['grads/w'] = new Histogram(Float64Array.from({ length: 200 }, (_, k) => Math.cos(k + i)), { bins: 16 })
      row.samples = new Media(pixels(i % 3), { caption: `s${i}` })
      row.preds = new Table([{ id: i, label: 'cat ✓', img: new Media(pixels(i % 2, 4, 4)) }, { id: null, label: { nested: [1, 2.5] }, img: null }])
    }
    if (i % 1000 === 0) row[`late/${i}`] = i
    b.log(row)
    if (i % 2000 === 0) process.stdout.write(`step ${i} é\n`)
  }
  await b.finish()
  return b.runDir
}

async function getJson(s: TeamServer, token: string, path: string): Promise<unknown> {
  const r = await fetch(new URL(path, s.url), { headers: { authorization: `Bearer ${token}` } })
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
  return r.json()
}

async function getBytes(s: TeamServer, token: string, path: string): Promise<{ type: string | null; body: Buffer }> {
  const r = await fetch(new URL(path, s.url), { headers: { authorization: `Bearer ${token}` } })
  if (r.status !== 200) throw new Error(`${path}: ${r.status}`)
  return { type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) }
}

test('a run synced to a data-dir server and to a PostgreSQL + S3 server reads back the same through every route', async (t) => {
  const runDir = await everyKindRun(6000)
  const file = await fileServer(t)
  const { server: pg, storage, db } = await pgServer(t)
  const tokens = [(await file.tokens.create({ projects: '*' })).token, (await pg.tokens.create({ projects: '*' })).token]
  for (const [i, s] of [file, pg].entries()) {
    const r = await syncRun(runDir, { url: s.url, token: tokens[i] })
    t.is(r.status, 'finished')
  }
  const key = `team/${runDir.split('/').pop()}`
  const both = async (path: string) => Promise.all([getJson(file, tokens[0], path), getJson(pg, tokens[1], path)])
  const same = async (path: string) => {
    const [a, b] = await both(path)
    t.deepEqual(b, a, path)
    return a
  }

  await same('/api/projects')
  const [fileRuns, pgRuns] = (await both('/api/runs')) as Array<Array<Record<string, unknown>>>
  t.is(pgRuns.length, 1)
  t.deepEqual(pgRuns, fileRuns, 'run list: name, status, times, config')
  const [fileRun, pgRun] = (await both(`/api/runs/${key}`)) as Array<Record<string, unknown> & { metadata: Record<string, unknown> }>
  for (const k of ['metricCount', 'namespaces', 'logs', 'key']) t.deepEqual(pgRun[k], fileRun[k], k)
  for (const k of ['name', 'runId', 'status', 'config', 'createdAt', 'finishedAt', 'project']) t.deepEqual(pgRun.metadata[k], fileRun.metadata[k], `metadata.${k}`)
  const metrics = (await same(`/api/runs/${key}/metrics`)) as string[]
  t.true(metrics.includes('late/5000'))
  await same(`/api/runs/${key}/metrics?namespace=train`)
  for (const m of metrics) {
    const q = encodeURIComponent(m)
    const all = (await same(`/api/runs/${key}/scalars?name=${q}&maxPoints=100000`)) as { value: unknown[] }
    // Compared with the local run too: both servers could agree and be wrong. (JSON has no -0.)
    const local = openRun(runDir).scalars(m)
    t.deepEqual(all.value, Array.from(local.value, (v) => (Number.isFinite(v) ? v + 0 : String(v))), `${m} exact`)
    await same(`/api/runs/${key}/scalars?name=${q}&since=4321`)
    await same(`/api/runs/${key}/scalars?name=${q}&since=-1`)
    // A downsample whose buckets are smaller than a lod block reads points: the same as the file reader.
    await same(`/api/runs/${key}/scalars?name=${q}&maxPoints=2000`)
  }
  // Coarser than a lod block: drawn from the sealed chunks' summaries; the extremes survive.
  const [fileCoarse, pgCoarse] = (await both(`/api/runs/${key}/scalars?name=train%2Facc&maxPoints=100`)) as Array<{ value: number[]; step: number[] }>
  t.true(pgCoarse.value.length <= 150 && pgCoarse.value.length >= 50, `${pgCoarse.value.length} points`)
  t.true(pgCoarse.value.includes(1e300) && fileCoarse.value.includes(1e300), 'the spike is in both overviews')
  t.is(pgCoarse.step[pgCoarse.value.indexOf(1e300)], 777)
  await same(`/api/last?metric=loss`)
  await same(`/api/last?metric=nothing`)
  const stats = (await same(`/api/summaries?metric=odd`)) as Record<string, unknown>
  t.deepEqual(stats[key], { count: 6000, last: 0.30000000000000004, min: '-Infinity', max: 'Infinity', lastStep: 5999 })
  await same(`/api/summaries?metric=train%2Facc&project=team`)
  await same(`/api/summaries?metric=nothing`)
  await same(`/api/runs/${key}/histograms?name=grads%2Fw`)
  await same(`/api/runs/${key}/tables?name=preds`)
  const media = (await same(`/api/runs/${key}/media?name=samples`)) as Array<{ id: string }>
  t.is(media.length, 12)
  for (const m of media.slice(0, 3)) {
    const [a, b] = await Promise.all([getBytes(file, tokens[0], `/api/runs/${key}/media/${m.id}`), getBytes(pg, tokens[1], `/api/runs/${key}/media/${m.id}`)])
    t.deepEqual(b, a, `media ${m.id}`)
  }
  await same(`/api/runs/${key}/output`)
  await same(`/api/runs/${key}/output?tail=7`)
  // Missing things are 404 on both.
  for (const path of [`/api/runs/team/nope`, `/api/runs/${key}/scalars?name=nope`, `/api/runs/${key}/histograms?name=nope`, `/api/runs/${key}/media/${'0'.repeat(64)}`]) {
    const codes = await Promise.all([file, pg].map(async (s, i) => (await fetch(new URL(path, s.url), { headers: { authorization: `Bearer ${tokens[i]}` } })).status))
    t.deepEqual(codes, [404, 404], path)
  }

  // At rest: the finished run's tails are sealed into the bucket; the database keeps no point rows.
  const c = new Client({ connectionString: db })
  await c.connect()
  try {
    t.is(Number((await c.query('SELECT count(*) AS n FROM amber_tail')).rows[0].n), 0, 'no tail left')
    t.true(Number((await c.query('SELECT count(*) AS n FROM amber_chunks')).rows[0].n) >= 18, 'chunks of 1,000 points')
  } finally {
    await c.end()
  }
  t.is(await storage.collector.pass(0).then((r) => r?.deleted), 0, 'nothing is an orphan')
})

test('on PostgreSQL a resent or overlapping batch is stored once, a gap is 409 and bad input 400, each storing nothing', async (t) => {
  const { server: s, storage } = await pgServer(t, 64)
  const token = (await s.tokens.create({ projects: ['team'] })).token
  const route = new URL('/api/sync/runs/team/r1', s.url).href
  const auth = { authorization: `Bearer ${token}` }
  const pts = (from: number, n: number, name = 'loss') => {
    const a = Float64Array.from({ length: n }, (_, i) => from + i)
    return { name, from, step: a, globalStep: a, timestamp: a.map((x) => 1e12 + x), value: a.map((x) => x * 0.5) }
  }
  const post = (what: string, body: Buffer) => fetch(`${route}/${what}`, { method: 'POST', headers: auth, body: new Uint8Array(body) })
  t.is((await post('scalars', encodeBatch([pts(0, 10)]))).status, 409, 'a batch before the PUT')
  const put = await fetch(route, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1', runId: 'r1' } }) })
  t.deepEqual(await put.json(), { run: 'team/r1', metrics: {}, media: {}, keys: [], records: { histograms: {}, tables: {}, tensors: {}, kernelDensity: {} }, output: 0 })
  const first = encodeBatch([pts(0, 100)])
  t.deepEqual(await (await post('scalars', first)).json(), { stored: 100, counts: { loss: 100 } })
  t.deepEqual(await (await post('scalars', first)).json(), { stored: 0, counts: { loss: 100 } }, 'resent batch adds nothing')
  t.deepEqual(await (await post('scalars', encodeBatch([pts(50, 100)]))).json(), { stored: 50, counts: { loss: 150 } }, 'overlap: only the new half')
  const gap = await post('scalars', encodeBatch([pts(200, 10), pts(0, 5, 'other')]))
  t.is(gap.status, 409)
  t.like(await gap.json(), { metric: 'loss', have: 150 })
  t.is((await post('scalars', Buffer.from('AMB1garbage'))).status, 400)
  const badMedia = encodeMediaBatch({ media: [{ name: 'img', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, key: `${'a'.repeat(64)}.png`, type: 'image', caption: null }] }], blobs: new Map([[`${'a'.repeat(64)}.png`, Buffer.from('not that hash')]]) })
  t.is((await post('media', badMedia)).status, 400, 'a file that does not match its hash')
  const missing = encodeMediaBatch({ media: [{ name: 'img', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, key: `${'b'.repeat(64)}.png`, type: 'image', caption: null }] }], blobs: new Map() })
  const miss = await post('media', missing)
  t.is(miss.status, 409)
  t.deepEqual((await miss.json()).missing, [`${'b'.repeat(64)}.png`])
  const out1 = await fetch(`${route}/output?from=0`, { method: 'POST', headers: auth, body: 'hello ' })
  t.deepEqual(await out1.json(), { stored: 6, output: 6 })
  t.deepEqual(await (await fetch(`${route}/output?from=3`, { method: 'POST', headers: auth, body: 'lo world' })).json(), { stored: 5, output: 11 })
  t.is((await fetch(`${route}/output?from=20`, { method: 'POST', headers: auth, body: 'x' })).status, 409)
  // Nothing of the refused batches was stored: only loss (and no 'other').
  const state = await (await fetch(route, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1' } }) })).json()
  t.deepEqual(state.metrics, { loss: 150 })
  t.deepEqual(state.media, {})
  t.is(state.output, 11)
  // Sealed (64-point chunks) or not, the points read back the same.
  const read = () => getJson(s, token, '/api/runs/team/r1/scalars?name=loss&maxPoints=100000')
  const before = await read()
  await storage.sealer.sealRun((await storage.db.query<{ id: number }>("SELECT id FROM amber_runs WHERE folder = 'r1'"))[0].id, true)
  t.deepEqual(await read(), before)
  t.deepEqual((before as { step: number[] }).step, Array.from({ length: 150 }, (_, i) => i))
  t.deepEqual(await getJson(s, token, '/api/runs/team/r1/scalars?name=loss&since=140'), { step: [141, 142, 143, 144, 145, 146, 147, 148, 149], globalStep: [141, 142, 143, 144, 145, 146, 147, 148, 149], timestamp: [141, 142, 143, 144, 145, 146, 147, 148, 149].map((x) => 1e12 + x), value: [141, 142, 143, 144, 145, 146, 147, 148, 149].map((x) => x * 0.5) })
  t.deepEqual((await getJson(s, token, '/api/runs/team/r1/output?tail=5')) as object, { text: 'world', size: 11 })
})

test('the collector deletes only objects no row refers to, and only once older than its grace period', async (t) => {
  const { server: s, storage } = await pgServer(t, 50)
  const token = (await s.tokens.create({ projects: '*' })).token
  const runDir = await everyKindRun(600)
  await syncRun(runDir, { url: s.url, token })
  const objects = async () => {
    const keys: string[] = []
    for await (const o of storage.bucket.list('')) keys.push(o.key)
    return keys.sort()
  }
  const kept = await objects()
  t.true(kept.some((k) => k.startsWith('chunks/')) && kept.some((k) => k.startsWith('media/')))
  // An orphan: registered and written, referred to by nothing (a crash before its transaction).
  await storage.db.query('INSERT INTO amber_objects (key) VALUES ($1)', ['chunks/999/1/0-10'])
  await storage.bucket.put('chunks/999/1/0-10', Buffer.from('orphan'))
  t.deepEqual(await storage.collector.pass(), { sealed: 0, deleted: 0 }, 'too young to collect')
  t.deepEqual(await storage.collector.pass(0), { sealed: 0, deleted: 1 })
  t.deepEqual(await objects(), kept, 'only the orphan went')
  const series = (await getJson(s, token, `/api/runs/team/${runDir.split('/').pop()}/scalars?name=loss&maxPoints=100000`)) as { value: number[] }
  t.deepEqual(series.value, Array.from(openRun(runDir).scalars('loss').value))
})

test('deleting a run removes its rows and objects on PostgreSQL + S3 and its folder on a data dir; a new sync starts it anew', async (t) => {
  const runDir = await everyKindRun(1200)
  const file = await fileServer(t)
  const { server: pg, storage } = await pgServer(t, 100)
  const objects = async () => {
    const keys: string[] = []
    for await (const o of storage.bucket.list('')) keys.push(o.key)
    return keys
  }
  for (const s of [file, pg]) {
    const token = (await s.tokens.create({ projects: ['team'] })).token
    const reader = (await s.tokens.create({ projects: ['team'], readOnly: true })).token
    await syncRun(runDir, { url: s.url, token })
    const key = `team/${runDir.split('/').pop()}`
    const del = (tok: string, k = key) => fetch(new URL(`/api/sync/runs/${k}`, s.url), { method: 'DELETE', headers: { authorization: `Bearer ${tok}` } })
    t.is((await del(reader)).status, 403, 'a read-only token deletes nothing')
    t.is((await del(token, 'team/nope')).status, 404)
    if (s === pg) t.true((await objects()).some((k) => k.startsWith('chunks/')))
    t.deepEqual(await (await del(token)).json(), { deleted: key })
    t.deepEqual(await getJson(s, token, '/api/runs'), [])
    t.is((await fetch(new URL(`/api/runs/${key}`, s.url), { headers: { authorization: `Bearer ${token}` } })).status, 404)
    if (s === file) t.false(existsSync(join(file.dataDir!, key)), 'the folder is gone')
    else {
      t.false((await objects()).some((k) => k.startsWith('chunks/')), 'its chunks are gone at once')
      t.true((await objects()).some((k) => k.startsWith('media/')), 'media files wait for the collector (shared by content)')
      await storage.collector.pass(0)
      t.deepEqual(await objects(), [], 'the collector takes them once no run refers to them')
      for (const table of ['amber_series', 'amber_tail', 'amber_chunks', 'amber_records', 'amber_media', 'amber_run_files', 'amber_output', 'amber_objects']) {
        t.is((await storage.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0].n, 0, `${table} is empty`)
      }
    }
    const again = await syncRun(runDir, { url: s.url, token })
    t.is(again.sentPoints, openRun(runDir).summaries().reduce((a, m) => a + m.count, 0), 'a new sync sends everything again')
  }
})

test('--media-redirect sends browsers to a presigned bucket URL that serves the same bytes, and the pages allow that origin', async (t) => {
  const db = await freshDatabase(t)
  const storage = await openPgStorage({ db, bucket: freshBucketPrefix(), s3Endpoint: process.env.AMBER_TEST_S3_ENDPOINT, housekeepingMs: 0 })
  const s = await startServer({ storage, mediaRedirect: true })
  t.teardown(() => s.close())
  const token = (await s.tokens.create({ projects: ['team'] })).token
  const runDir = await everyKindRun(600)
  await syncRun(runDir, { url: s.url, token })
  const key = `team/${runDir.split('/').pop()}`
  const [m] = (await getJson(s, token, `/api/runs/${key}/media?name=samples`)) as Array<{ id: string }>
  const r = await fetch(new URL(`/api/runs/${key}/media/${m.id}`, s.url), { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' })
  t.is(r.status, 302)
  const location = r.headers.get('location')!
  t.true(location.startsWith(process.env.AMBER_TEST_S3_ENDPOINT!), location)
  const direct = await fetch(location)
  t.is(direct.status, 200)
  t.is(direct.headers.get('content-type'), 'image/png')
  const local = openRun(runDir).media('samples')[0]
  t.deepEqual(Buffer.from(await direct.arrayBuffer()), Buffer.from(local.data))
  t.is((await fetch(new URL(`/api/runs/${key}/media/${'1'.repeat(64)}`, s.url), { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' })).status, 404, 'only files the run logged')
  t.is((await fetch(new URL(`/api/runs/${key}/media/${m.id}`, s.url), { redirect: 'manual' })).status, 401, 'no redirect without a token')
  const csp = (await fetch(new URL('/', s.url))).headers.get('content-security-policy')!
  t.regex(csp, new RegExp(`img-src 'self' data: blob: ${new URL(location).origin.replace(/[.]/g, '\\.')}`))
  await t.throwsAsync(startServer({ dataDir: temp('redirect-data'), mediaRedirect: true }), { message: /--media-redirect goes with --db/ })
})
