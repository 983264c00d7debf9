/**
 * Zoomed scalar reads (`/api/runs/:p/:f/scalars?start=&end=`) on both team-server backends: the
 * points whose step is in [start, end], exact under maxPoints and downsampled by the one rule
 * above it (a spike inside survives), the same from run folders and from PostgreSQL + S3, where
 * only the chunks overlapping the range are read from the bucket.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { basename } from 'node:path'
import { Board, openRun, syncRun } from '../src/index'
import { downsample, withinSteps } from '../src/board/downsample'
import type { PointColumns } from '../src/board/downsample'
import { startServer } from '../src/server/server'
import type { TeamServer } from '../src/server/server'
import { openPgStorage } from '../src/server/pg'
import { encodeBatch } from '../src/sync/protocol'
import { freshBucketPrefix, freshDatabase, pgService, s3Service, serviceTest } from './services'
import { temp } from './sync-helpers'

const pgTest = serviceTest('scalars-range', pgService(), s3Service())

const STEPS = 20_000
const SPIKE = { step: 5555, value: 1e6 }
const DIP = { step: 12_345, value: -1e6 }

function lossAt(i: number): number {
  if (i === SPIKE.step) return SPIKE.value
  if (i === DIP.step) return DIP.value
  if (i === 3) return -0
  return [NaN, Infinity, -Infinity][[777, 9000, 15_000].indexOf(i)] ?? Math.sin(i * 0.37) + ((i * 7919) % 101) / 100
}

/** A finished local run: `loss` at every step, `sparse` at every 7th (ranges fall between its steps). */
let logged: Promise<{ runDir: string; key: string; local: Record<string, PointColumns> }> | undefined
function localRun() {
  logged ??= (async () => {
    const board = new Board({ baseDir: temp('range-base'), project: 'zoom', name: 'long', captureOutput: false, systemMetrics: false })
    for (let i = 0; i < STEPS; i++) board.log(i % 7 === 0 ? { loss: lossAt(i), sparse: i / 7 } : { loss: lossAt(i) })
    await board.finish()
    const run = openRun(board.runDir)
    try {
      return { runDir: board.runDir, key: `zoom/${basename(board.runDir)}`, local: { loss: run.scalars('loss'), sparse: run.scalars('sparse') } }
    } finally {
      run.close()
    }
  })()
  return logged
}

type Body = { step: number[]; globalStep: number[]; timestamp: number[]; value: Array<number | string> }

/** Points as the JSON route sends them (non-finite values as strings; JSON has no -0). */
function json(c: PointColumns): Body {
  return { step: Array.from(c.step), globalStep: Array.from(c.globalStep), timestamp: Array.from(c.timestamp), value: Array.from(c.value, (v) => (Number.isFinite(v) ? v + 0 : String(v))) }
}

interface Client {
  name: string
  url: string
  token: string
  get(path: string): Promise<{ status: number; body: unknown }>
}

/** A client of a server (closed when the test ends) with a token of its own, holding the local run. */
async function client(t: ExecutionContext, name: string, server: TeamServer, runDir: string): Promise<Client> {
  t.teardown(() => server.close())
  const token = (await server.tokens.create({ projects: '*' })).token
  t.is((await syncRun(runDir, { url: server.url, token })).status, 'finished')
  return {
    name,
    url: server.url,
    token,
    get: async (path) => {
      const r = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${token}` } })
      return { status: r.status, body: await r.json() }
    },
  }
}

const bounds = (start?: number, end?: number) => `${start === undefined ? '' : `&start=${start}`}${end === undefined ? '' : `&end=${end}`}`

/** Ranges answered exactly (fewer points than maxPoints), edges inclusive and between steps. */
const EXACT: Array<[string, number | undefined, number | undefined]> = [
  ['loss', 5500, 5600],
  ['loss', 0, 0],
  ['loss', 999, 1001],
  ['loss', 770.5, 780.25],
  ['loss', 19_990, undefined],
  ['loss', undefined, 10],
  ['loss', -50, -1],
  ['loss', 30_000, undefined],
  ['sparse', 101, 200],
  ['sparse', 19_995, 30_000],
]
/** Downsampled ranges whose buckets are narrower than a lod block: points, so one answer from both. */
const DOWNSAMPLED: Array<[number, number, number]> = [
  [1234, 9876, 1000],
  [0, STEPS, 1000],
  [5000, 5999, 100],
]

/** What every backend must answer; returns the answers of the queries both must give alike. */
async function checkRanges(t: ExecutionContext, c: Client, key: string, local: Record<string, PointColumns>): Promise<Map<string, unknown>> {
  const answers = new Map<string, unknown>()
  const ok = async (q: string) => {
    const r = await c.get(`/api/runs/${key}/scalars?${q}`)
    t.is(r.status, 200, `${c.name} ${q}: ${JSON.stringify(r.body).slice(0, 200)}`)
    answers.set(q, r.body)
    return r.body as Body
  }
  for (const [m, start, end] of EXACT) {
    const q = `name=${m}${bounds(start, end)}&maxPoints=100000`
    t.deepEqual(await ok(q), json(withinSteps(local[m], start, end)), `${c.name} ${q}`)
  }
  for (const [start, end, maxPoints] of DOWNSAMPLED) {
    const q = `name=loss${bounds(start, end)}&maxPoints=${maxPoints}`
    t.deepEqual(await ok(q), json(downsample(withinSteps(local.loss, start, end), maxPoints)), `${c.name} ${q}`)
  }
  // The local reader's own downsample of the whole metric is what a range over all of it gives.
  t.deepEqual(answers.get(`name=loss${bounds(0, STEPS)}&maxPoints=1000`), await ok('name=loss&maxPoints=1000'), `${c.name}: the reader's rule`)

  // Far more points than maxPoints: a spike and a dip inside survive, also right at an edge.
  for (const [start, end] of [[4000, 16_000], [SPIKE.step, DIP.step], [1500, 18_500]]) {
    const q = `name=loss${bounds(start, end)}&maxPoints=200`
    const r = await ok(q)
    answers.delete(q) // drawn from lods on PostgreSQL: the same extremes, maybe other points between
    t.true(r.value.length >= 100 && r.value.length <= 300, `${c.name} ${q}: ${r.value.length} points`)
    t.true(r.step.every((s, i) => s >= start && s <= end && (i === 0 || s > r.step[i - 1])), `${c.name} ${q}: steps in range, ascending`)
    t.is(r.step[r.value.indexOf(SPIKE.value)], SPIKE.step, `${c.name} ${q}: spike`)
    t.is(r.step[r.value.indexOf(DIP.value)], DIP.step, `${c.name} ${q}: dip`)
  }

  // Bad bounds are refused; a missing metric is still a 404 with a range.
  for (const q of ['start=abc', 'end=NaN', 'start=Infinity', 'start=5&end=4', 'since=3&start=1', 'start=1&maxPoints=1']) {
    t.is((await c.get(`/api/runs/${key}/scalars?name=loss&${q}`)).status, 400, `${c.name} ${q}`)
  }
  t.is((await c.get(`/api/runs/${key}/scalars?name=nope&start=1&end=2`)).status, 404)
  return answers
}

test('data-dir server: a range gives the points whose step is in it, exact under maxPoints, spikes kept above', async (t) => {
  const { runDir, key, local } = await localRun()
  const file = await client(t, 'data-dir', await startServer({ dataDir: temp('range-data') }), runDir)
  await checkRanges(t, file, key, local)
})

pgTest('PostgreSQL + S3 server: the same answers as run folders, reading only the chunks that overlap the range', async (t) => {
  const { runDir, key, local } = await localRun()
  const db = await freshDatabase(t)
  const bucket = freshBucketPrefix()
  const opts = { db, bucket, s3Endpoint: process.env.AMBER_TEST_S3_ENDPOINT, chunkPoints: 1000, housekeepingMs: 0 }
  const storage = await openPgStorage(opts)
  const pg = await client(t, 'pg', await startServer({ storage }), runDir)
  const file = await client(t, 'data-dir', await startServer({ dataDir: temp('range-data') }), runDir)
  const [pgAnswers, fileAnswers] = [await checkRanges(t, pg, key, local), await checkRanges(t, file, key, local)]
  t.deepEqual([...pgAnswers.keys()], [...fileAnswers.keys()])
  for (const [q, a] of fileAnswers) t.deepEqual(pgAnswers.get(q), a, `same answer: ${q}`)

  // Every tail sealed: 20 chunk objects of 1,000 points. A second replica without an object cache
  // reads through to the bucket, so each request's object reads are counted.
  const [{ id: run }] = await storage.db.query<{ id: number }>('SELECT id FROM amber_runs WHERE folder = $1', [basename(runDir)])
  await storage.sealer.sealRun(run, true)
  const chunks = await storage.db.query<{ object: string; min_step: number; max_step: number }>(
    "SELECT c.object, c.min_step, c.max_step FROM amber_chunks c JOIN amber_series s ON s.run = c.run AND s.id = c.series WHERE c.run = $1 AND s.name = 'loss' ORDER BY c.start",
    [run],
  )
  t.is(chunks.length, 20)
  const cold = await openPgStorage({ ...opts, cacheBytes: 0 })
  const replica = await client(t, 'cold replica', await startServer({ storage: cold }), runDir)
  const read: string[] = []
  const get = cold.bucket.get.bind(cold.bucket)
  cold.bucket.get = async (k: string) => {
    read.push(k)
    return get(k)
  }
  const objectsRead = async (q: string) => {
    read.length = 0
    const r = await replica.get(`/api/runs/${key}/scalars?name=loss&${q}`)
    t.is(r.status, 200)
    return { body: r.body as Body, objects: [...read].sort() }
  }
  const overlapping = (lo: number, hi: number, edgesOnly = false) =>
    chunks.filter((c) => c.max_step >= lo && c.min_step <= hi && !(edgesOnly && c.min_step >= lo && c.max_step <= hi)).map((c) => c.object).sort()

  const narrow = await objectsRead('start=5500&end=5600&maxPoints=1000')
  t.deepEqual(narrow.objects, overlapping(5500, 5600))
  t.is(narrow.objects.length, 1)
  t.deepEqual(narrow.body, json(withinSteps(local.loss, 5500, 5600)))
  const across = await objectsRead('start=5900&end=6100&maxPoints=1000')
  t.deepEqual(across.objects, overlapping(5900, 6100))
  t.is(across.objects.length, 2)
  // A wide zoom is drawn from the lods of the chunks inside it; only the two cut by its edges are read.
  const wide = await objectsRead('start=1500&end=18500&maxPoints=100')
  t.deepEqual(wide.objects, overlapping(1500, 18_500, true))
  t.is(wide.objects.length, 2)
  t.true(wide.body.value.includes(SPIKE.value) && wide.body.value.includes(DIP.value))
  t.deepEqual((await objectsRead('maxPoints=100')).objects, [], 'the overview reads lods only')

  // Points still in the database tail (fewer than a chunk: not sealed) are cut the same way.
  const route = new URL('/api/sync/runs/zoom/tail', pg.url).href
  const auth = { authorization: `Bearer ${pg.token}` }
  const put = await fetch(route, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'tail', runId: 'tail' } }) })
  t.is(put.status, 200)
  const at = Float64Array.from({ length: 150 }, (_, i) => i * 2)
  const tail = { step: at, globalStep: at, timestamp: at.map((x) => 1e12 + x), value: at.map((x) => (x === 100 ? NaN : x * 0.5)) }
  const post = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: new Uint8Array(encodeBatch([{ name: 'loss', from: 0, ...tail }])) })
  t.is(post.status, 200)
  t.is(Number((await storage.db.query<{ n: string }>('SELECT count(*) AS n FROM amber_chunks c JOIN amber_runs r ON r.id = c.run WHERE r.folder = $1', ['tail']))[0].n), 0)
  read.length = 0
  const fromTail = await replica.get('/api/runs/zoom/tail/scalars?name=loss&start=91&end=120&maxPoints=1000')
  t.deepEqual(fromTail.body, json(withinSteps(tail, 91, 120)))
  t.deepEqual(read, [])
})
