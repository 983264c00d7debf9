/**
 * Sync against a real `amber serve` child process on 127.0.0.1: exact copies (every point compared
 * bit for bit), resent batches stored once, the server killed with SIGKILL mid-sync and restarted,
 * connections cut mid-request, a live Board streaming in the background, and a training process
 * killed mid-run whose rest is completed by `amber sync`.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import { basename, join } from 'node:path'
import { Board, listRuns, openRun, syncRun } from '../src/index'
import { encodeBatch } from '../src/sync/protocol'
import { amber, assertSameRun, createToken, cuttingProxy, freePort, serverRunDir, sleep, startServerProcess, temp } from './sync-helpers'

async function loggedRun(base: string, steps: number, project = 'team'): Promise<string> {
  const b = new Board({ baseDir: base, project, captureOutput: false, config: { lr: 0.1, depth: 4 } })
  for (let i = 0; i < steps; i++) {
    b.log({ 'train/loss': 1 / (i + 1), 'train/acc': i % 97 === 0 ? NaN : i / steps, 'val/x': i % 50 === 0 ? Infinity : -i })
    if (i % 10 === 0) b.step()
  }
  await b.finish()
  return b.runDir
}

test('amber sync copies a finished run exactly, with its metadata; a second sync sends nothing', async (t) => {
  const base = temp('sync-a')
  const data = temp('sync-a-data')
  const runDir = await loggedRun(base, 5000)
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  try {
    const r = amber(['sync', runDir, '--remote', s.url, '--token', token])
    t.is(r.code, 0, r.stderr)
    t.regex(r.stderr, /15000 new points/)
    const points = assertSameRun(t, runDir, serverRunDir(data))
    t.is(points, 15000)
    const local = openRun(runDir).metadata
    const remote = openRun(serverRunDir(data)).metadata
    for (const k of ['name', 'runId', 'config', 'createdAt', 'finishedAt', 'status'] as const) t.deepEqual(remote[k], local[k], k)
    t.is(remote.status, 'finished')
    const again = await syncRun(runDir, { url: s.url, token })
    t.is(again.sentPoints, 0)
    t.is(assertSameRun(t, runDir, serverRunDir(data)), 15000)
  } finally {
    await s.kill()
  }
})

test('a resent or overlapping batch is stored once; a batch past the end is refused and stores nothing', async (t) => {
  const data = temp('sync-b-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  const route = `${s.url}/api/sync/runs/team/r1`
  const auth = { authorization: `Bearer ${token}` }
  const pts = (from: number, n: number) => {
    const a = Float64Array.from({ length: n }, (_, i) => from + i)
    return { name: 'loss', from, step: a, globalStep: a, timestamp: a.map((x) => 1e12 + x), value: a.map((x) => x * 0.5) }
  }
  const post = (body: Buffer) => fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: new Uint8Array(body) })
  try {
    const put = await fetch(route, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1', runId: 'r1' } }) })
    t.is(put.status, 200)
    const first = encodeBatch([pts(0, 100)])
    t.deepEqual(await (await post(first)).json(), { stored: 100, counts: { loss: 100 } })
    t.deepEqual(await (await post(first)).json(), { stored: 0, counts: { loss: 100 } }, 'resent batch adds nothing')
    t.deepEqual(await (await post(encodeBatch([pts(50, 100)]))).json(), { stored: 50, counts: { loss: 150 } }, 'overlap: only the new half')
    const gap = await post(encodeBatch([pts(200, 10)]))
    t.is(gap.status, 409)
    t.like(await gap.json(), { metric: 'loss', have: 150 })
    // Two metrics whose stamps cannot share records in order: each keeps its own order.
    const up = Float64Array.from([0, 1, 2])
    const down = Float64Array.from([2, 1, 0])
    const mixed = await post(encodeBatch([
      { name: 'a', from: 0, step: up, globalStep: up, timestamp: up, value: up },
      { name: 'b', from: 0, step: down, globalStep: down, timestamp: down, value: down },
    ]))
    t.like(await mixed.json(), { stored: 6 })
    await fetch(`${route}/finish`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ status: 'finished', exitCode: 0 }) })
    const run = openRun(join(data, 'team', 'r1'))
    const sc = run.scalars('loss')
    t.deepEqual(Array.from(sc.step), Array.from({ length: 150 }, (_, i) => i))
    t.deepEqual(Array.from(sc.value), Array.from({ length: 150 }, (_, i) => i * 0.5))
    t.is(run.metadata.status, 'finished')
    t.deepEqual(Array.from(run.scalars('a').step), [0, 1, 2])
    t.deepEqual(Array.from(run.scalars('b').step), [2, 1, 0])
    t.deepEqual(Array.from(run.scalars('b').value), [2, 1, 0])
  } finally {
    await s.kill()
  }
})

test('server killed (SIGKILL) in the middle of a sync and restarted: the sync resumes, the copy is exact', async (t) => {
  const base = temp('sync-c')
  const data = temp('sync-c-data')
  const runDir = await loggedRun(base, 60_000)
  const token = createToken(data, 'team')
  const port = await freePort()
  let s = await startServerProcess(data, port)
  let killed = false
  let restarted: Promise<void> | null = null
  const result = syncRun(runDir, {
    url: s.url, token, batchPoints: 2000, retryForMs: 60_000,
    onProgress: (p) => {
      if (!killed && p.remotePoints >= 20_000) {
        killed = true
        restarted = (async () => {
          await s.kill('SIGKILL')
          await sleep(500)
          s = await startServerProcess(data, port)
        })()
      }
    },
  })
  const r = await result
  await restarted
  try {
    t.true(killed)
    t.true(r.retries > 0, 'the client saw the server go away')
    t.is(assertSameRun(t, runDir, serverRunDir(data)), 180_000)
    t.is(openRun(serverRunDir(data)).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('connections cut mid-request: the sync retries, nothing is duplicated or lost', async (t) => {
  const base = temp('sync-d')
  const data = temp('sync-d-data')
  const runDir = await loggedRun(base, 20_000)
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  // Each of the first 6 connections dies after 150 KB went up: in the middle of a batch body.
  const proxy = await cuttingProxy(s.port, 150_000, 6)
  try {
    const r = await syncRun(runDir, { url: `http://127.0.0.1:${proxy.port}`, token, batchPoints: 8000, retryForMs: 60_000 })
    t.is(proxy.cut(), 6)
    t.true(r.retries >= 1)
    t.is(assertSameRun(t, runDir, serverRunDir(data)), 60_000)
  } finally {
    await proxy.close()
    await s.kill()
  }
})

test('replies lost after the server stored a batch: the resent batches add nothing', async (t) => {
  const base = temp('sync-d2')
  const data = temp('sync-d2-data')
  const runDir = await loggedRun(base, 20_000)
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  const proxy = await cuttingProxy(s.port, 0, 5, 'reply')
  try {
    const r = await syncRun(runDir, { url: `http://127.0.0.1:${proxy.port}`, token, batchPoints: 2000, retryForMs: 60_000 })
    t.is(proxy.cut(), 5)
    t.true(r.retries >= 5)
    t.is(assertSameRun(t, runDir, serverRunDir(data)), 60_000)
  } finally {
    await proxy.close()
    await s.kill()
  }
})

test('Board({ remote }) streams a live run in the background; finish() leaves an exact copy marked finished', async (t) => {
  const base = temp('sync-e')
  const data = temp('sync-e-data')
  const token = createToken(data, 'live')
  const port = await freePort()
  let s = await startServerProcess(data, port)
  const b = new Board({ baseDir: base, project: 'live', captureOutput: false, remote: { url: s.url, token, intervalMs: 50 } })
  try {
    for (let i = 0; i < 400; i++) {
      b.log({ loss: Math.exp(-i / 100), 'sys/x': i })
      if (i % 100 === 50) await sleep(150)
    }
    // Seen on the server while the run is still going.
    let seen = 0
    for (let k = 0; k < 100 && seen === 0; k++) {
      await sleep(50)
      const runs = listRuns(data)
      try {
        if (runs.length === 1 && openRun(runs[0].runDir).metrics().includes('loss')) seen = openRun(runs[0].runDir).scalars('loss').value.length
      } catch {
        // the server is creating the metric file right now (no tables yet): look again
      }
    }
    t.true(seen > 0, 'points reached the server before finish()')
    // The server goes down and comes back while the run logs on.
    await s.kill('SIGKILL')
    for (let i = 400; i < 800; i++) b.log({ loss: Math.exp(-i / 100), 'sys/x': i })
    await sleep(300)
    s = await startServerProcess(data, port)
    for (let i = 800; i < 1000; i++) b.log({ loss: Math.exp(-i / 100), 'sys/x': i })
    await b.finish()
    t.is(assertSameRun(t, b.runDir, serverRunDir(data)), 2000)
    t.is(openRun(serverRunDir(data)).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('a training process killed (SIGKILL) mid-run: amber sync completes the copy, marked killed', async (t) => {
  const base = temp('sync-f')
  const data = temp('sync-f-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  const script = `
    const { Board } = require(${JSON.stringify(join(__dirname, '..', 'src', 'index.ts'))});
    const b = new Board({ baseDir: ${JSON.stringify(base)}, project: 'team', runId: 'victim', captureOutput: false,
      remote: { url: ${JSON.stringify(s.url)}, token: ${JSON.stringify(token)}, intervalMs: 20 } });
    let i = 0;
    const tick = () => { for (let k = 0; k < 200; k++, i++) b.log({ loss: 1 / (i + 1) }); if (i === 2000) process.stdout.write('ready\\n'); setTimeout(tick, 5) };
    tick();`
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', `require('tsx/cjs'); ${script}`], { stdio: ['ignore', 'pipe', 'pipe'] })
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => String(d).includes('ready') && resolve())
      child.once('exit', (c) => reject(new Error(`child exited early (${c})`)))
    })
    await sleep(400)
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const runDir = join(base, 'team', 'victim')
    const r = amber(['sync', runDir, '--remote', s.url, '--token', token])
    t.is(r.code, 0, r.stderr)
    const n = assertSameRun(t, runDir, serverRunDir(data))
    t.true(n >= 2000)
    t.is(openRun(runDir).metadata.status, 'killed')
    t.is(openRun(serverRunDir(data)).metadata.status, 'killed')
  } finally {
    child.kill('SIGKILL')
    await s.kill()
  }
})

test('media: every occurrence copied, each file uploaded once per content hash, a second sync uploads nothing', async (t) => {
  const base = temp('sync-g')
  const data = temp('sync-g-data')
  const { Media } = await import('../src/index')
  const noise = (seed: number) => {
    const px = new Uint8Array(64 * 64 * 3)
    let x = seed * 7919 + 1
    for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
    return { data: px, width: 64, height: 64, channels: 3 }
  }
  const b = new Board({ baseDir: base, project: 'team', captureOutput: false })
  for (let i = 0; i < 30; i++) {
    b.log({ loss: 1 / (i + 1), 'samples/a': new Media(noise(i % 3), { caption: `a${i}` }), 'samples/b': new Media(noise(7), { type: 'image' }) })
  }
  await b.finish()
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  try {
    const r = await syncRun(b.runDir, { url: s.url, token })
    t.is(r.sentMedia, 60)
    const local = openRun(b.runDir)
    const remote = openRun(serverRunDir(data))
    const unique = new Map<string, number>()
    t.deepEqual(remote.mediaNames().sort(), local.mediaNames().sort())
    for (const name of local.mediaNames()) {
      const x = local.media(name)
      const y = remote.media(name)
      t.is(y.length, x.length, name)
      for (let i = 0; i < x.length; i++) {
        for (const k of ['step', 'globalStep', 'timestamp', 'hash', 'format', 'type', 'caption', 'size'] as const) t.is(y[i][k], x[i][k], `${name}[${i}].${k}`)
        t.true(y[i].data.equals(x[i].data))
        unique.set(x[i].key, x[i].size)
      }
    }
    t.is(unique.size, 4)
    t.is(r.sentMediaBytes, [...unique.values()].reduce((a, n) => a + n, 0), 'each file uploaded exactly once')
    const again = await syncRun(b.runDir, { url: s.url, token })
    t.is(again.sentMedia, 0)
    t.is(again.sentMediaBytes, 0)
    t.is(remote.media('samples/a').length, 30)
  } finally {
    await s.kill()
  }
})

test('an idle run is closed on the server (log segments released) and reopened by the next sync', async (t) => {
  const base = temp('sync-h')
  const data = temp('sync-h-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort(), ['--idle-close', '0.2'])
  const b = new Board({ baseDir: base, project: 'team', captureOutput: false })
  try {
    for (let i = 0; i < 100; i++) b.log({ loss: i })
    await b.flush()
    await syncRun(b.runDir, { url: s.url, token })
    const dir = serverRunDir(data)
    const { existsSync, readdirSync } = await import('node:fs')
    let released = false
    for (let k = 0; k < 200 && !released; k++) {
      await sleep(100)
      released = !existsSync(join(dir, 'wal')) || readdirSync(join(dir, 'wal')).length === 0
    }
    t.true(released, 'the server writer released its segments')
    for (let i = 100; i < 200; i++) b.log({ loss: i })
    await b.finish()
    const r = await syncRun(b.runDir, { url: s.url, token })
    t.is(r.sentPoints, 100)
    t.is(assertSameRun(t, b.runDir, dir), 200)
    t.is(openRun(dir).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('board.updateConfig reaches the server copy: on the next syncRun / amber sync, and from Board({ remote }) while it runs', async (t) => {
  const base = temp('sync-cfg')
  const data = temp('sync-cfg-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  try {
    // A live run synced by hand: the server's copy stays open between passes and follows the config.
    const b = new Board({ baseDir: base, project: 'team', captureOutput: false, config: { lr: 0.1, depth: 4 } })
    for (let i = 0; i < 100; i++) b.log({ loss: i })
    await b.flush()
    await syncRun(b.runDir, { url: s.url, token })
    const dir = serverRunDir(data)
    t.deepEqual(openRun(dir).metadata.config, { lr: 0.1, depth: 4 })
    b.updateConfig({ lr: 0.05, note: 'decayed' })
    const r = await syncRun(b.runDir, { url: s.url, token })
    t.is(r.sentPoints, 0)
    t.deepEqual(openRun(dir).metadata.config, { lr: 0.05, depth: 4, note: 'decayed' })
    b.updateConfig({ depth: 8 })
    const cli = amber(['sync', b.runDir, '--remote', s.url, '--token', token])
    t.is(cli.code, 0, cli.stderr)
    t.deepEqual(openRun(dir).metadata.config, { lr: 0.05, depth: 8, note: 'decayed' })
    await b.finish()
    await syncRun(b.runDir, { url: s.url, token })
    t.is(openRun(dir).metadata.status, 'finished')
    t.deepEqual(openRun(dir).metadata.config, openRun(b.runDir).metadata.config)

    // Board({ remote }): the background sync carries it on its next pass.
    const c = new Board({ baseDir: base, project: 'team', captureOutput: false, config: { lr: 1 }, remote: { url: s.url, token, intervalMs: 50 } })
    const copy = join(data, 'team', c.runId)
    const remoteConfig = () => {
      try {
        return openRun(copy).metadata.config
      } catch {
        return undefined
      }
    }
    const until = async (want: unknown) => {
      for (let k = 0; k < 200; k++) {
        if (JSON.stringify(remoteConfig()) === JSON.stringify(want)) return true
        await sleep(50)
      }
      return false
    }
    c.log({ loss: 1 })
    t.true(await until({ lr: 1 }), 'the run reached the server')
    c.updateConfig({ lr: 0.5, warmup: 10 })
    t.true(await until({ lr: 0.5, warmup: 10 }), `the server copy follows the config while the run goes on (has ${JSON.stringify(remoteConfig())})`)
    c.updateConfig({ lr: 0.25 })
    await c.finish()
    t.deepEqual(remoteConfig(), { lr: 0.25, warmup: 10 })
    t.is(openRun(copy).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('names such as __proto__, constructor and hasOwnProperty sync exactly once and keep their counts', async (t) => {
  const base = temp('sync-proto')
  const data = temp('sync-proto-data')
  const { Histogram, Media, Table } = await import('../src/index')
  const { assertSameRecords } = await import('./sync-helpers')
  const names = ['__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', 'plain']
  const b = new Board({ baseDir: base, project: 'team', captureOutput: false })
  for (let i = 0; i < 50; i++) {
    b.log(Object.fromEntries(names.map((n) => [n, i])))
    if (i % 10 === 0) {
      const px = { data: new Uint8Array(4 * 4 * 3).fill(i), width: 4, height: 4, channels: 3 }
      b.log(Object.fromEntries([
        ['__proto__', new Media(px)], ['constructor', new Media(px)],
        ['hasOwnProperty', new Table([{ a: i }])], ['toString', new Histogram([i, i + 1, i + 2])],
      ]))
    }
  }
  await b.finish()
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  const folder = encodeURIComponent(basename(b.runDir))
  const realFetch = globalThis.fetch
  const posts: string[] = []
  globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
    // Only this run's uploads (other tests of this file sync at the same time).
    const at = new URL(String(input)).pathname
    if (init?.method === 'POST' && at.includes(`/${folder}/`)) posts.push(at.split('/').pop()!)
    return realFetch(input, init)
  }) as typeof fetch
  try {
    const first = await syncRun(b.runDir, { url: s.url, token })
    t.is(first.sentPoints, 50 * names.length)
    t.is(first.sentMedia, 10)
    t.is(first.sentRecords, 10)
    t.deepEqual(first.skipped, [])
    posts.length = 0
    const again = await syncRun(b.runDir, { url: s.url, token })
    t.is(again.sentPoints, 0)
    t.is(again.batches, 0)
    t.is(again.sentMedia, 0)
    t.is(again.sentRecords, 0)
    t.deepEqual(posts.filter((p) => p !== 'finish'), [], 'a second sync sends no scalars, media or records again')
    t.is(assertSameRun(t, b.runDir, serverRunDir(data)), 50 * names.length)
    assertSameRecords(t, b.runDir, serverRunDir(data))
    const local = openRun(b.runDir)
    for (const n of names) t.is(local.scalars(n).value.length, 50, n)
    t.deepEqual(local.mediaNames().sort(), ['__proto__', 'constructor'])
  } finally {
    globalThis.fetch = realFetch
    await s.kill()
  }
})
