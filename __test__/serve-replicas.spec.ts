/**
 * Fault tests of the team server on PostgreSQL + S3 (issue #18), each against real
 * `amber serve --db … --bucket …` child processes sharing one database and bucket prefix of the
 * test's own: a replica SIGKILLed mid-batch with the sync finished on the other, one run synced
 * to two replicas at once, a client switching replicas between batches, PostgreSQL restarted
 * mid-sync, the object store down (stopped, or cut off) during a media upload and hung during a
 * scalar sync, a token revoked on every replica at once, live points across replicas, and a
 * replica that keeps nothing on its local disk (with /healthz and the SIGTERM drain). Every copy is checked against the local run point by point,
 * through each replica's read API and straight in PostgreSQL and the bucket.
 *
 * Tests that stop or restart a service do it to a private one (privateServices), never to the
 * shared pair other spec files use. The tests run one at a time: each starts child processes,
 * and the machine has two cores.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import * as http from 'node:http'
import path from 'node:path'
import type { ExecutionContext } from 'ava'
import { Board, Histogram, Media, Table, openRun, syncRun } from '../src/index'
import { Sealer } from '../src/server/pg/seal'
import { encodeBatch, encodeMediaBatch } from '../src/sync/protocol'
import { freePort, sleep, temp } from './sync-helpers'
import {
  freshBucketPrefix, freshDatabase, need, pgService, privateServices, privateServicesSupport, s3Service, serviceTest,
} from './services'
import {
  amberAsync, apiGet, assertSameThroughApi, assertStoredOnce, dbToken, failedRequests, missingObjectsIn, openSse, roundRobinProxy, runPath,
  s3Link, sql, startReplica, tcpBalancer, waitFor,
} from './replica-helpers'
import type { Replica } from './replica-helpers'

const pg = pgService()
const s3 = s3Service()
const test = serviceTest('serve-replicas', pg, s3)
const withPrivatePg = serviceTest('serve-replicas', pg, s3, privateServicesSupport({ pg: true }))
const withPrivateS3 = serviceTest('serve-replicas', pg, s3, privateServicesSupport({ s3: true }))

/**
 * Points per sealed chunk, as the replicas use it (their default): the runs of the tests that
 * need sealing while they sync are sized from it, so a full chunk goes to the bucket mid-sync
 * whatever the chunk size is.
 */
const CHUNK_POINTS = new Sealer(undefined as never, undefined as never).chunkPoints

function pixels(seed: number, w = 16, h = 12, channels = 3) {
  const px = new Uint8Array(w * h * channels)
  let x = seed * 7919 + 1
  for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return { data: px, width: w, height: h, channels }
}

/**
 * A finished run in a fresh base dir: three metrics of `steps` points with NaN, -0 and ±Infinity
 * among the values; every `mediaEvery` steps an image (distinct pixels), and a histogram and a
 * table with an image cell every 500 steps.
 */
async function loggedRun(tag: string, steps: number, mediaEvery = 0): Promise<string> {
  const b = new Board({ baseDir: temp(tag), project: 'team', captureOutput: false, config: { lr: 0.1, tag } })
  for (let i = 0; i < steps; i++) {
    const row: Parameters<Board['log']>[0] = {
      'train/loss': 1 / (i + 1),
      'train/acc': i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : i / steps,
      'val/x': i % 50 === 0 ? Infinity : i % 51 === 0 ? -Infinity : i % 7 === 0 ? -0 : -i,
    }
    if (mediaEvery && i % mediaEvery === 0) row.img = new Media(pixels(i), { caption: `step ${i}` })
    if (i % 500 === 0) {
      row.h = new Histogram(Float64Array.from({ length: 64 }, (_, k) => Math.sin(k + i)), { bins: 16 })
      row.preds = new Table([{ id: i, ok: i % 2 === 0, img: new Media(pixels(i + 7, 8, 8, 1)) }])
    }
    b.log(row)
    if (i % 10 === 0) b.step()
  }
  await b.finish()
  return b.runDir
}

/** Whether the local run holds a -0 and a NaN, so the bit-for-bit checks are not vacuous. */
function hasSignedZeroAndNaN(runDir: string): boolean {
  const run = openRun(runDir)
  try {
    const v = Array.from(run.scalars('train/acc').value)
    return v.some((x) => Object.is(x, -0)) && v.some((x) => Number.isNaN(x))
  } finally {
    run.close()
  }
}

interface Pair {
  db: string
  bucket: string
  s3Endpoint: string
  a: Replica
  b: Replica
  token: string
  tokenId: string
}

/**
 * A fresh database and bucket prefix with two replicas on them and a token for project `team`.
 * The replicas and the token command start at once: three processes bring the fresh schema up
 * together (the migration lock is what keeps them apart).
 */
async function replicaPair(t: ExecutionContext, o: { db?: string; s3Endpoint?: string; bucket?: string; replicaS3Endpoint?: string } = {}): Promise<Pair> {
  const db = o.db ?? (await freshDatabase(t))
  const bucket = o.bucket ?? freshBucketPrefix()
  const s3Endpoint = o.s3Endpoint ?? need(s3).endpoint
  // The replicas may reach S3 another way than the checks do (through a link that can go down).
  const via = o.replicaS3Endpoint ?? s3Endpoint
  const [pa, pb] = [await freePort(), await freePort()]
  const [a, b, tok] = await Promise.all([
    startReplica(t, { db, bucket, s3Endpoint: via, port: pa }),
    startReplica(t, { db, bucket, s3Endpoint: via, port: pb }),
    dbToken(db),
  ])
  return { db, bucket, s3Endpoint, a, b, token: tok.token, tokenId: tok.id }
}

const folderOf = (runDir: string) => path.basename(runDir)

/** The exact-copy checks every test ends with: through both replicas' read API, and in the tables and objects. */
async function assertExactCopy(t: ExecutionContext, p: Pair, runDir: string, replicas: Replica[] = [p.a, p.b]): Promise<number> {
  const stored = await assertStoredOnce(t, p.db, p.bucket, p.s3Endpoint, runDir, 'team')
  for (const r of replicas) t.is(await assertSameThroughApi(t, r.url, p.token, runDir, 'team', `replica :${r.port}`), stored)
  return stored
}

test.serial('a replica SIGKILLed in the middle of a batch: the sync finishes on the other, an exact copy seen by both', async (t) => {
  // One and a half chunks per metric: a full chunk is sealed while the sync goes on, the rest
  // at the finish.
  const steps = Math.ceil(CHUNK_POINTS * 1.5)
  const runDir = await loggedRun('rep-kill', steps, Math.ceil(steps / 8))
  t.true(hasSignedZeroAndNaN(runDir))
  const p = await replicaPair(t)
  const batchPoints = 6000
  // The batch after the one that fills the first chunk of each metric: the replica that stored
  // that one is sealing then.
  const sealing = Math.ceil(CHUNK_POINTS / (batchPoints / 3)) + 1
  let target = p.a.port
  let scalarRequests = 0
  const kills: string[] = []
  let restartedA: Promise<Replica> | null = null
  // A load balancer in front of the pair: the 4th scalar batch dies with replica A when half of
  // its body has gone up; a later one (while the first chunks are being sealed) reaches replica
  // B in full, and B is killed before it can answer (the batch may or may not be committed: the
  // client cannot know). Each time, the balancer sends new connections to the other replica, as
  // a health-checking one would.
  const lb = await tcpBalancer(() => target, (chunk, before, req) => {
    if (!req.line.includes('/scalars ')) return
    if (before === 0) scalarRequests++
    const n = scalarRequests
    if (n === 4 && before < req.length / 2 && before + chunk.length >= req.length / 2 && !kills.includes('A')) {
      kills.push('A')
      return (async () => {
        await p.a.kill('SIGKILL')
        target = p.b.port
        restartedA = startReplica(t, { db: p.db, bucket: p.bucket, s3Endpoint: p.s3Endpoint, port: p.a.port })
        return 'cut' as const
      })()
    }
    if (n === sealing && before + chunk.length >= req.length && !kills.includes('B')) {
      kills.push('B')
      return async () => {
        const a = await restartedA!
        await p.b.kill('SIGKILL')
        target = a.port
      }
    }
  })
  t.teardown(() => lb.close())
  const r = await syncRun(runDir, { url: `http://127.0.0.1:${lb.port}`, token: p.token, batchPoints, retryForMs: 60_000 })
  t.deepEqual(kills, ['A', 'B'])
  t.true(r.retries >= 2, `the client saw both replicas go away (${r.retries} retries)`)
  t.is(r.status, 'finished')
  const a2 = await restartedA!
  const b2 = await startReplica(t, { db: p.db, bucket: p.bucket, s3Endpoint: p.s3Endpoint, port: p.b.port })
  t.is(await assertExactCopy(t, p, runDir, [a2, b2]), 3 * steps)
  // A full chunk of each metric went to the bucket while the replicas were being killed, so the
  // checks above read sealed chunks, not only tail rows.
  const [{ chunks }] = await sql(p.db, 'SELECT count(*)::int AS chunks FROM amber_chunks WHERE n = $1', [CHUNK_POINTS])
  t.is(chunks, 3, 'one full chunk per metric')
})

test.serial('the same run synced to both replicas at the same moment: every point, image and record stored once', async (t) => {
  const runDir = await loggedRun('rep-both', 6000, 400)
  const p = await replicaPair(t)
  const [ra, rb] = await Promise.all([
    syncRun(runDir, { url: p.a.url, token: p.token, batchPoints: 1000, batchBytes: 2048, retryForMs: 60_000 }),
    syncRun(runDir, { url: p.b.url, token: p.token, batchPoints: 1000, batchBytes: 2048, retryForMs: 60_000 }),
  ])
  const local = openRun(runDir)
  const images = local.media('img').length
  const records = local.histograms('h').length + local.tables('preds').length
  local.close()
  // What each server said it stored adds up to the run exactly: nothing was stored twice.
  t.is(ra.sentPoints + rb.sentPoints, 18_000, `points stored: ${ra.sentPoints} through A + ${rb.sentPoints} through B`)
  t.is(ra.sentMedia + rb.sentMedia, images)
  t.is(ra.sentRecords + rb.sentRecords, records)
  t.log(`stored through A: ${ra.sentPoints} points, ${ra.sentMedia} images; through B: ${rb.sentPoints} points, ${rb.sentMedia} images; retries ${ra.retries} + ${rb.retries}`)
  t.is(await assertExactCopy(t, p, runDir), 18_000)
  // Batches of one run are serialised across replicas: neither failed one (the client's retries
  // would hide a 500, not the bug behind it).
  t.deepEqual([...failedRequests(p.a), ...failedRequests(p.b)], [], 'no request failed on either replica')
})

test.serial('a client switches replicas between two batches (a round-robin balancer under a live Board): an exact copy', async (t) => {
  const p = await replicaPair(t)
  const rr = await roundRobinProxy([p.a.port, p.b.port])
  t.teardown(() => rr.close())
  // Every request goes to the other replica than the one before: the Board's background sync
  // opens the run on one, sends the next batch to the other, and so on, pass after pass.
  const b = new Board({ baseDir: temp('rep-rr'), project: 'team', captureOutput: false, remote: { url: `http://127.0.0.1:${rr.port}`, token: p.token, intervalMs: 50 } })
  for (let i = 0; i < 4000; i++) {
    const row: Parameters<Board['log']>[0] = { 'train/loss': 1 / (i + 1), 'train/acc': i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : i / 4000, 'val/x': -i }
    if (i % 250 === 0) row.img = new Media(pixels(i), { caption: `step ${i}` })
    b.log(row)
    // Pauses let the background sync make many passes while the run grows.
    if (i % 100 === 0) await sleep(60)
  }
  await b.finish()
  const scalarPosts = [...rr.sent.values()].map((reqs) => reqs.filter((r) => r.startsWith('POST') && r.includes('/scalars')).length)
  t.log(`scalar batches per replica: ${scalarPosts.join(' + ')}; requests: ${[...rr.sent.values()].map((x) => x.length).join(' + ')}`)
  t.true(scalarPosts.every((n) => n >= 2), 'both replicas stored scalar batches')
  const syncLog = path.join(b.runDir, 'logs', 'sync.log')
  if (fs.existsSync(syncLog)) t.log(`sync.log: ${fs.readFileSync(syncLog, 'utf8')}`)
  t.is(await assertExactCopy(t, p, b.runDir), 12_000)
})

test.serial('live across replicas: a stream on replica B shows points stored through replica A within 1 s', async (t) => {
  const p = await replicaPair(t)
  const run = `${p.a.url}/api/sync/runs/team/live-run`
  const auth = { authorization: `Bearer ${p.token}` }
  const put = await fetch(run, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'live-run', runId: 'live-run' } }) })
  t.is(put.status, 200)
  let count = 0
  const post = async (n: number) => {
    const steps = Float64Array.from({ length: n }, (_, i) => count + i)
    const res = await fetch(`${run}/scalars`, { method: 'POST', headers: auth, body: new Uint8Array(encodeBatch([{ name: 'loss', from: count, step: steps, globalStep: steps, timestamp: steps.map((x) => 1.7e12 + x), value: steps.map((x) => 1 / (x + 1)) }])) })
    t.is(res.status, 200)
    count += n
    return count - 1
  }
  await post(5)
  const live = `${runPath('team', 'live-run')}/live?metric=loss&since=-1`
  const onB = await openSse(new URL(live, p.b.url).href, p.token)
  const onA = await openSse(new URL(live, p.a.url).href, p.token)
  t.teardown(() => {
    onA.close()
    onB.close()
  })
  t.is(onB.status, 200)
  // Both streams have caught up with what was there when they opened.
  const caughtUp = (s: typeof onB, last: number) => s.next((e) => e.event === 'points' && e.data.step.at(-1) === last, 5000)
  t.truthy(await caughtUp(onB, 4))
  t.truthy(await caughtUp(onA, 4))
  const delays: number[] = []
  const same: number[] = []
  for (let round = 0; round < 6; round++) {
    // At different moments of the streams' 1 s ticks.
    await sleep(150 + ((round * 337) % 500))
    const sent = performance.now()
    const last = await post(3)
    const seenB = await caughtUp(onB, last)
    const seenA = await caughtUp(onA, last)
    t.truthy(seenB, `round ${round}: replica B's stream shows step ${last}`)
    t.truthy(seenA, `round ${round}: replica A's stream shows step ${last}`)
    if (seenB) delays.push(Math.round(seenB.at - sent))
    if (seenA) same.push(Math.round(seenA.at - sent))
  }
  t.log(`delay from POST on A to the points on B's stream: ${delays.join(', ')} ms (on A's own stream: ${same.join(', ')} ms)`)
  for (const d of delays) t.true(d < 1000, `B's stream showed the points ${d} ms after they were sent to A`)
  // Every point once on B's stream, in order.
  const steps = onB.events.filter((e) => e.event === 'points').flatMap((e) => e.data.step as number[])
  t.deepEqual(steps, Array.from({ length: count }, (_, i) => i))
})

test.serial('a token revoked with `amber token revoke --db` is refused by every replica at once, and its live streams end', async (t) => {
  const p = await replicaPair(t)
  const admin = await dbToken(p.db, '*')
  const auth = (token: string) => ({ authorization: `Bearer ${token}` })
  const put = await fetch(`${p.a.url}/api/sync/runs/team/r1`, { method: 'PUT', headers: { ...auth(admin.token), 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1' } }) })
  t.is(put.status, 200)
  const live = `${runPath('team', 'r1')}/live?metric=loss&since=-1`
  const streams = [await openSse(new URL(live, p.a.url).href, p.token), await openSse(new URL(live, p.b.url).href, p.token)]
  t.teardown(() => streams.forEach((s) => s.close()))
  t.deepEqual(streams.map((s) => s.status), [200, 200])
  for (const r of [p.a, p.b]) t.is((await fetch(`${r.url}/api/runs`, { headers: auth(p.token) })).status, 200)
  let ended = 0
  for (const s of streams) void s.ended.then(() => ended++)

  const revoke = await amberAsync(['token', 'revoke', p.tokenId, '--db', p.db])
  t.is(revoke.code, 0, revoke.stderr)
  const done = performance.now()
  // Right after the command returns, on both replicas, for reads and for uploads.
  const statuses = await Promise.all([p.a, p.b].flatMap((r) => [
    fetch(`${r.url}/api/runs`, { headers: auth(p.token) }).then((x) => x.status),
    fetch(`${r.url}/api/sync/runs/team/r1`, { method: 'PUT', headers: { ...auth(p.token), 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1' } }) }).then((x) => x.status),
  ]))
  t.deepEqual(statuses, [401, 401, 401, 401])
  // The other token is untouched.
  for (const r of [p.a, p.b]) t.is((await fetch(`${r.url}/api/runs`, { headers: auth(admin.token) })).status, 200)
  // The streams opened with it end (each replica checks its streams' tokens every second).
  await waitFor(() => ended === 2, 5000)
  t.is(ended, 2, 'both live streams ended')
  t.log(`streams ended within ${Math.round(performance.now() - done)} ms of the revoke`)
  const list = await amberAsync(['token', 'list', '--db', p.db])
  t.false(list.stdout.includes(p.tokenId))
  t.true(list.stdout.includes(admin.id))
})

withPrivatePg.serial('PostgreSQL stopped and restarted in the middle of a sync: the replicas stay up, the client retries, the copy is exact with no duplicates', async (t) => {
  const services = await privateServices(t, { pg: true })
  const db = await freshDatabase(t, services.pg!.url)
  const runDir = await loggedRun('rep-pg', 20_000, 2000)
  const p = await replicaPair(t, { db })
  // A replica that dies stops the sync at once (instead of the client retrying a dead server
  // until its deadline); the assertions below then say which one died and why.
  const stop = new AbortController()
  for (const rep of [p.a, p.b]) void rep.exited.then(() => stop.abort())
  const faults: string[] = []
  let fault: Promise<void> = Promise.resolve()
  let r: Awaited<ReturnType<typeof syncRun>> | null = null
  let failure: unknown = null
  try {
    r = await syncRun(runDir, {
      url: p.a.url, token: p.token, batchPoints: 2000, retryForMs: 60_000, signal: stop.signal,
      onProgress: (x) => {
        // Down for 1.5 s at a fifth of the points (batches fail until it is back), then a fast
        // restart (every open connection dropped, those inside a transaction included) past
        // two thirds.
        if (faults.length === 0 && x.remotePoints >= 12_000) {
          faults.push('stop')
          fault = (async () => {
            await services.stopPostgres()
            await sleep(1500)
            await services.startPostgres()
          })()
        } else if (faults.length === 1 && x.remotePoints >= 40_000) {
          faults.push('restart')
          fault = fault.then(() => services.restartPostgres())
        }
      },
    })
  } catch (e) {
    failure = e
  }
  await fault
  const dead = [p.a, p.b].filter((rep) => rep.child.exitCode !== null || rep.child.signalCode !== null)
  for (const rep of dead) t.fail(`replica :${rep.port} died (${rep.child.exitCode ?? rep.child.signalCode}); its stderr ends with:\n${rep.stderr().slice(-1200)}`)
  if (dead.length === 0) {
    if (failure) throw failure
    t.deepEqual(faults, ['stop', 'restart'])
    t.true(r!.retries >= 1, `the client retried (${r!.retries} retries)`)
    t.is(r!.status, 'finished')
  } else {
    // Whatever killed them, what was committed must still make an exact copy: the dead replicas
    // are started again and the sync is finished.
    for (const rep of dead) {
      const again = await startReplica(t, { db, bucket: p.bucket, s3Endpoint: p.s3Endpoint, port: rep.port })
      if (rep === p.a) p.a = again
      else p.b = again
    }
    r = await syncRun(runDir, { url: p.a.url, token: p.token, batchPoints: 2000, retryForMs: 30_000 })
  }
  t.is(await assertExactCopy(t, p, runDir), 60_000)
  // Each replica listens for other replicas' commits again (what live streams across replicas
  // need): its LISTEN connection came back after the restart.
  const listeners = await waitFor(async () => {
    const rows = await sql(db, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'amber serve (changes)'")
    return rows[0].n === 2 ? 2 : 0
  }, 10_000)
  t.is(listeners, 2, 'both replicas LISTEN again')
  for (const rep of [p.a, p.b]) t.is((await fetch(`${rep.url}/healthz`)).status, 200)
})

/** A media batch of one image no run logged before, as the sync client would send it. */
function oneImageBatch(seed: number): Buffer {
  const data = Buffer.from(`not really a png ${seed} ${Math.random()}`)
  const key = `${createHash('sha256').update(data).digest('hex')}.png`
  return encodeMediaBatch({ media: [{ name: 'extra', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 1.7e12, key, type: 'image', caption: null }] }], blobs: new Map([[key, data]]) })
}

withPrivateS3.serial('the object store stopped before the media upload: 503 with Retry-After, nothing half-stored, the retried sync completes', async (t) => {
  const services = await privateServices(t, { s3: true })
  const priv = services.s3!
  const p = await replicaPair(t, { s3Endpoint: priv.endpoint, bucket: freshBucketPrefix(priv.bucket) })
  const runDir = await loggedRun('rep-s3stop', 1200, 40)
  const local = openRun(runDir)
  const images = local.media('img').length
  local.close()
  // moto keeps objects in memory: it is stopped before anything is written, so what it loses
  // on stop is nothing the run needs (the scalars go to PostgreSQL and stay unsealed until the
  // finish, which comes after the media).
  await services.stopS3()
  const sync = syncRun(runDir, { url: p.a.url, token: p.token, batchPoints: 1000, batchBytes: 4096, retryForMs: 90_000 })
  // The scalars are in; the media batches are being refused and retried.
  await waitFor(async () => (await sql(p.db, 'SELECT coalesce(sum(count), 0)::int AS n FROM amber_series'))[0].n === 3600, 20_000)
  const put = await fetch(`${p.b.url}/api/sync/runs/team/${folderOf(runDir)}/media`, { method: 'POST', headers: { authorization: `Bearer ${p.token}` }, body: new Uint8Array(oneImageBatch(1)) })
  const started = performance.now()
  const refused = await fetch(`${p.b.url}/api/sync/runs/team/${folderOf(runDir)}/media`, { method: 'POST', headers: { authorization: `Bearer ${p.token}` }, body: new Uint8Array(oneImageBatch(2)) })
  const took = Math.round(performance.now() - started)
  t.is(put.status, 503)
  t.is(refused.status, 503)
  t.regex(refused.headers.get('retry-after') ?? '', /^\d+$/, 'with Retry-After')
  t.log(`a media batch with S3 stopped: ${refused.status} in ${took} ms, Retry-After ${refused.headers.get('retry-after')}, ${JSON.stringify(await refused.json())}`)
  const health = await fetch(`${p.a.url}/healthz`)
  t.is(health.status, 503, '/healthz says the replica cannot serve')
  t.deepEqual(await sql(p.db, 'SELECT count(*)::int AS n FROM amber_media'), [{ n: 0 }], 'no media row without its object')
  t.deepEqual(await sql(p.db, 'SELECT count(*)::int AS n FROM amber_run_files'), [{ n: 0 }])
  await sleep(1000)
  await services.startS3()
  const r = await sync
  t.true(r.retries >= 1)
  t.is(r.sentMedia, images)
  t.is(await assertExactCopy(t, p, runDir), 3600)
  t.deepEqual(await missingObjectsIn(p.db, p.bucket, p.s3Endpoint), [])
})

withPrivateS3.serial('the object store hung (paused) during a scalar sync: the scalars, which need only PostgreSQL, keep being stored; the sync completes once it answers', async (t) => {
  const services = await privateServices(t, { s3: true })
  const priv = services.s3!
  const p = await replicaPair(t, { s3Endpoint: priv.endpoint, bucket: freshBucketPrefix(priv.bucket) })
  // One metric of two chunks, in batches of a tenth of a chunk: the replica starts sealing
  // (writing a chunk to the bucket) half way, with ten batches still to come.
  const total = 2 * CHUNK_POINTS
  const b = new Board({ baseDir: temp('rep-s3hang'), project: 'team', captureOutput: false })
  for (let i = 0; i < total; i++) b.log({ loss: i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : 1 / (i + 1) })
  await b.finish()
  // A paused moto accepts connections and never answers: every S3 call runs into its timeouts.
  await services.pauseS3()
  let paused = true
  const resume = async () => {
    if (!paused) return
    paused = false
    await services.resumeS3()
  }
  t.teardown(resume)
  const started = performance.now()
  let scalarsStoredMs = -1
  let stored = 0
  const sync = syncRun(b.runDir, {
    url: p.a.url, token: p.token, batchPoints: Math.ceil(CHUNK_POINTS / 10), retryForMs: 90_000,
    onProgress: (x) => {
      stored = Math.max(stored, x.remotePoints)
      if (x.remotePoints === total && scalarsStoredMs < 0) scalarsStoredMs = Math.round(performance.now() - started)
    },
  })
  // Without the bucket's hang the scalar part takes well under a second here; 10 s is the bound.
  await waitFor(() => scalarsStoredMs >= 0, 10_000)
  t.log(`with the object store hung: ${scalarsStoredMs < 0 ? `${stored} of ${total} points stored in 10 s` : `${total} points stored in ${scalarsStoredMs} ms`}`)
  t.true(scalarsStoredMs >= 0, 'every scalar batch was stored within 10 s although the object store did not answer')
  // The finish seals the rest into the bucket: it waits for the bucket (or fails and is retried).
  await resume()
  const r = await sync
  t.is(r.status, 'finished')
  t.is(await assertExactCopy(t, p, b.runDir), total)
  t.true((await sql(p.db, 'SELECT count(*)::int AS n FROM amber_chunks'))[0].n >= 2, 'sealed once the bucket answered')
})

test.serial('the object store unreachable in the middle of a media upload: 503, no row without its object, the retried sync completes', async (t) => {
  const s3Port = Number(new URL(need(s3).endpoint).port)
  let mediaPuts = 0
  let cut = false
  // The link between the replicas and S3 goes down as the 12th media object goes up (moto
  // itself keeps running and keeps what it got).
  const link = await s3Link(s3Port, (line) => {
    if (!/^PUT \S*\/media\//.test(line) || cut) return
    if (++mediaPuts === 12) {
      cut = true
      setImmediate(() => void link.down())
    }
  })
  t.teardown(() => link.close())
  const p = await replicaPair(t, { replicaS3Endpoint: `http://127.0.0.1:${link.port}` })
  const runDir = await loggedRun('rep-s3cut', 1200, 40)
  const sync = syncRun(runDir, { url: p.a.url, token: p.token, batchPoints: 1000, batchBytes: 4096, retryForMs: 90_000 })
  await waitFor(() => cut, 30_000)
  t.true(cut, 'the link went down during the media upload')
  await sleep(300)
  const refused = await fetch(`${p.b.url}/api/sync/runs/team/${folderOf(runDir)}/media`, { method: 'POST', headers: { authorization: `Bearer ${p.token}` }, body: new Uint8Array(oneImageBatch(3)) })
  t.is(refused.status, 503)
  t.regex(refused.headers.get('retry-after') ?? '', /^\d+$/)
  const stored = (await sql(p.db, 'SELECT count(*)::int AS n FROM amber_media'))[0].n
  t.log(`media rows stored before the link went down: ${stored}`)
  t.true(stored > 0 && stored < 30, 'the link went down in the middle of the media')
  t.deepEqual(await missingObjectsIn(p.db, p.bucket, p.s3Endpoint), [], 'every media row stored so far has its object')
  await sleep(1000)
  await link.up()
  const r = await sync
  t.true(r.retries >= 1)
  t.is(await assertExactCopy(t, p, runDir), 3600)
})

withPrivateS3.serial('a replica keeps no run data on its disk; /healthz follows the object store; SIGTERM lets the batch under way finish', async (t) => {
  const services = await privateServices(t, { s3: true })
  const priv = services.s3!
  const db = await freshDatabase(t)
  const bucket = freshBucketPrefix(priv.bucket)
  // Working directory, HOME and TMPDIR: one empty folder (tsx's compile cache off, as it is a
  // test harness's file, not the replica's).
  const home = temp('rep-home')
  const env = { HOME: home, TMPDIR: home, TSX_DISABLE_CACHE: '1' }
  const [pa, pb] = [await freePort(), await freePort()]
  const [a, b, tok] = await Promise.all([
    startReplica(t, { db, bucket, s3Endpoint: priv.endpoint, port: pa, cwd: home, env }),
    startReplica(t, { db, bucket, s3Endpoint: priv.endpoint, port: pb }),
    dbToken(db),
  ])
  const p: Pair = { db, bucket, s3Endpoint: priv.endpoint, a, b, token: tok.token, tokenId: tok.id }
  const runDir = await loggedRun('rep-disk', 9000, 300)
  const r = await syncRun(runDir, { url: a.url, token: p.token, batchBytes: 8192 })
  t.is(r.status, 'finished')
  t.is(await assertExactCopy(t, p, runDir), 27_000)
  const files = (fs.readdirSync(home, { recursive: true }) as string[])
  t.deepEqual(files, [], `the replica's folder holds nothing after a sync with media and sealed chunks`)

  const h = await fetch(`${a.url}/healthz`)
  t.is(h.status, 200)
  t.deepEqual(await h.json(), { ok: true, database: 'ok', bucket: 'ok' })
  await services.stopS3()
  const started = performance.now()
  const down = await fetch(`${a.url}/healthz`)
  t.log(`/healthz with S3 stopped: ${down.status} in ${Math.round(performance.now() - started)} ms`)
  t.is(down.status, 503)
  t.like(await down.json(), { ok: false })
  await services.startS3()
  t.is((await waitFor(async () => (await fetch(`${a.url}/healthz`)).status === 200, 10_000)), true, '/healthz is 200 again')

  // SIGTERM while a batch is half uploaded: the replica stops taking requests, the batch
  // finishes and is stored, then the process exits 0.
  const steps = Float64Array.from({ length: 2000 }, (_, i) => i)
  const body = encodeBatch([{ name: 'drained', from: 0, step: steps, globalStep: steps, timestamp: steps.map((x) => 1.7e12 + x), value: steps.map((x) => x / 3) }])
  const route = `/api/sync/runs/team/${folderOf(runDir)}/scalars`
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: a.port, method: 'POST', path: route, headers: { authorization: `Bearer ${p.token}`, 'content-length': body.length } }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.write(body.subarray(0, body.length >> 1))
    setTimeout(() => {
      a.child.kill('SIGTERM')
      // Draining: new connections are refused (or answered 503), then the rest of the body goes up.
      void waitFor(() => fetch(`${a.url}/healthz`).then((x) => x.status === 503, () => true), 10_000).then(() => req.end(body.subarray(body.length >> 1)))
    }, 200)
  })
  const got = await reply
  t.is(got.status, 200, got.body)
  t.like(JSON.parse(got.body), { stored: 2000 })
  t.deepEqual(await a.exited, { code: 0, signal: null }, a.stderr())
  const after = await apiGet(b.url, p.token, `${runPath('team', folderOf(runDir))}/scalars?name=drained&maxPoints=100000`)
  t.deepEqual(after.step, Array.from(steps))
  t.deepEqual(fs.readdirSync(home, { recursive: true }), [], 'nor after the drain')
})
