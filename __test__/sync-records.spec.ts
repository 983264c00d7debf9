/**
 * Sync of every log type besides scalars (histograms, tables with media cells, tensors, kernel
 * densities, media, captured output) against a real `amber serve` child process: exact copies
 * (every bin, cell and byte compared), resent batches stored once, the server killed with
 * SIGKILL mid-sync, connections cut and replies lost, malformed uploads refused with nothing stored.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Board, Histogram, KernelDensity, Media, Table, TensorLog, openRun, syncRun } from '../src/index'
import { encodeRecordBatch } from '../src/sync/protocol'
import type { RecordItem } from '../src/sync/protocol'
import { amber, assertSameRecords, assertSameRun, createToken, cuttingProxy, freePort, serverRunDir, sleep, startServerProcess, temp } from './sync-helpers'

function pixels(seed: number, w = 16, h = 12, channels = 3) {
  const px = new Uint8Array(w * h * channels)
  let x = seed * 7919 + 1
  for (let i = 0; i < px.length; i++) px[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return { data: px, width: w, height: h, channels }
}

/** Log `steps` steps of every type into `board` (tensorKb: size of each float tensor). */
function logEverything(b: Board, steps: number, tensorKb = 4, offset = 0): void {
  for (let j = 0; j < steps; j++) {
    const i = offset + j
    const vals = Float64Array.from({ length: 500 }, (_, k) => Math.sin(i * 31 + k) * (1 + i / 10))
    if (i % 7 === 0) vals[3] = NaN
    if (i % 11 === 0) vals[4] = Infinity
    const row: Parameters<Board['log']>[0] = {
      loss: 1 / (i + 1),
      'grads/w': new Histogram(vals, { bins: 32 }),
      'weights/t': new TensorLog(Float32Array.from({ length: tensorKb * 256 }, (_, k) => k * 0.5 + i), [tensorKb * 16, 16], { metadata: { layer: i % 3, tag: 'w' } }),
    }
    if (i % 3 === 0) {
      row['grads/b'] = Histogram.fromBins([0, 0.5, 1, 4], [i, 0, 2 ** 40], { nan: 2, posinf: i, neginf: 1 })
      row.ids = new TensorLog(BigInt64Array.from([BigInt(i), -1n, 2n ** 62n]), [3])
      row.logits = new KernelDensity(vals, { points: 64 })
      row.samples = new Media(pixels(i % 4), { caption: `s${i}` })
      row.preds = new Table([
        { id: i, label: 'cat', p: 0.25 + i, ok: true, img: new Media(pixels(i % 5, 8, 8, 1)) },
        { id: i + 1, label: 'dog ✓', p: -1e-300, ok: false, img: new Media(pixels(99, 8, 8, 4), { caption: 'same' }) },
        { id: null, label: { nested: [1, 2.5] }, p: 1e21, ok: null, img: null },
      ])
    }
    b.log(row)
    if (i % 4 === 0) b.step()
    if (i % 5 === 0) process.stdout.write(`step ${i} é ✓\n`)
    if (i % 9 === 0) process.stdout.write(`progress ${i}%\rprogress ${i + 1}%\r`)
  }
}

async function everythingRun(base: string, steps: number, tensorKb = 4): Promise<string> {
  const b = new Board({ baseDir: base, project: 'team', captureOutput: true })
  logEverything(b, steps, tensorKb)
  process.stderr.write('a warning on stderr\n')
  await b.finish()
  return b.runDir
}

test('amber sync copies every log type exactly (raw-pixel images keep width/height); a second sync sends nothing', async (t) => {
  const base = temp('rec-a')
  const data = temp('rec-a-data')
  const runDir = await everythingRun(base, 60)
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  try {
    const r = amber(['sync', runDir, '--remote', s.url, '--token', token])
    t.is(r.code, 0, r.stderr)
    const dir = serverRunDir(data)
    const local = openRun(runDir)
    // What the run holds, so the comparison below cannot pass on two empty copies.
    t.deepEqual(local.histogramNames(), ['grads/b', 'grads/w'])
    t.deepEqual(local.tensorNames(), ['ids', 'weights/t'])
    t.is(local.tables('preds').length, 20)
    t.is(local.kernelDensity('logits').length, 20)
    t.true(readFileSync(join(runDir, 'logs', 'output.log'), 'utf8').includes('step 55 é ✓'))
    const compared = assertSameRecords(t, runDir, dir)
    t.is(compared, 60 + 20 + 20 + 60 + 20 + 20 + 20)
    assertSameRun(t, runDir, dir)
    const remote = openRun(dir)
    const img = remote.media('samples')[0]
    t.deepEqual([img.width, img.height, img.format], [16, 12, 'png'])
    const cell = remote.tables('preds')[0].rows[0][4] as { width: number; height: number }
    t.deepEqual([cell.width, cell.height], [8, 8])
    t.is(remote.metadata.status, 'finished')
    const again = await syncRun(runDir, { url: s.url, token })
    t.deepEqual([again.sentPoints, again.sentMedia, again.sentRecords, again.sentOutputBytes], [0, 0, 0, 0])
    t.is(assertSameRecords(t, runDir, dir), compared)
  } finally {
    await s.kill()
  }
})

test('server killed (SIGKILL) while records and output upload, then restarted: the copy is exact, nothing twice', async (t) => {
  const base = temp('rec-b')
  const data = temp('rec-b-data')
  const runDir = await everythingRun(base, 150, 64)
  const token = createToken(data, 'team')
  const port = await freePort()
  let s = await startServerProcess(data, port)
  let killed = false
  let restarted: Promise<void> | null = null
  const r = await syncRun(runDir, {
    url: s.url, token, batchBytes: 256 << 10, retryForMs: 60_000,
    onProgress: (p) => {
      if (!killed && p.sentRecords >= 60) {
        killed = true
        restarted = (async () => {
          await s.kill('SIGKILL')
          await sleep(300)
          s = await startServerProcess(data, port)
        })()
      }
    },
  })
  await restarted
  try {
    t.true(killed)
    t.true(r.retries > 0, 'the client saw the server go away')
    assertSameRun(t, runDir, serverRunDir(data))
    t.true(assertSameRecords(t, runDir, serverRunDir(data)) > 400)
    t.is(openRun(serverRunDir(data)).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('connections cut mid-upload and replies lost after storing records or output: retried, nothing duplicated', async (t) => {
  const data = temp('rec-c-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  const cutter = await cuttingProxy(s.port, 100_000, 5)
  const dropper = await cuttingProxy(s.port, 0, 6, 'reply', ['/records ', '/output?'])
  try {
    const a = await everythingRun(temp('rec-c1'), 80, 32)
    const ra = await syncRun(a, { url: `http://127.0.0.1:${cutter.port}`, token, batchBytes: 200 << 10, retryForMs: 60_000 })
    t.true(cutter.cut() >= 5)
    t.true(ra.retries >= 1)
    const b = await everythingRun(temp('rec-c2'), 80, 32)
    const rb = await syncRun(b, { url: `http://127.0.0.1:${dropper.port}`, token, batchBytes: 200 << 10, retryForMs: 60_000 })
    t.true(dropper.cut() >= 6)
    t.true(rb.retries >= 6)
    for (const dir of [a, b]) {
      const copy = join(data, 'team', dir.split('/').pop()!)
      assertSameRun(t, dir, copy)
      t.true(assertSameRecords(t, dir, copy) > 200)
    }
  } finally {
    await cutter.close()
    await dropper.close()
    await s.kill()
  }
})

test('Board({ remote }) streams every log type and its output live; finish() leaves an exact copy', async (t) => {
  const base = temp('rec-d')
  const data = temp('rec-d-data')
  const token = createToken(data, 'team')
  const s = await startServerProcess(data, await freePort())
  try {
    const b = new Board({ baseDir: base, project: 'team', captureOutput: true, remote: { url: s.url, token, intervalMs: 50 } })
    for (let k = 0; k < 4; k++) {
      logEverything(b, 15, 4, k * 15)
      await sleep(150)
    }
    await b.finish()
    const dir = serverRunDir(data)
    assertSameRun(t, b.runDir, dir)
    t.true(assertSameRecords(t, b.runDir, dir) > 150)
    t.is(openRun(dir).metadata.status, 'finished')
  } finally {
    await s.kill()
  }
})

test('malformed, gapped or lying record and output uploads are refused and store nothing', async (t) => {
  const data = temp('rec-e-data')
  const token = createToken(data, 'team')
  const reader = createToken(data, 'team', ['--read-only'])
  const s = await startServerProcess(data, await freePort())
  const route = `${s.url}/api/sync/runs/team/r1`
  const auth = { authorization: `Bearer ${token}` }
  const post = (what: string, body: Buffer, as = auth) => fetch(`${route}/${what}`, { method: 'POST', headers: as, body: new Uint8Array(body) })
  const f64 = (...v: number[]) => new Uint8Array(Float64Array.from(v).buffer)
  const hist = (step: number): RecordItem => ({ step, globalStep: 0, timestamp: 1e12, meta: { nan: 0, posinf: 1, neginf: 0 }, data: f64(0, 1, 2, 5, 7) })
  try {
    const put = await fetch(route, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'r1' } }) })
    t.like(await put.json(), { records: { histograms: {}, tables: {}, tensors: {}, kernelDensity: {} }, output: 0 })
    const h2 = encodeRecordBatch({ kind: 'histograms', groups: [{ name: 'h', from: 0, items: [hist(0), hist(1)] }], blobs: new Map() })
    t.deepEqual(await (await post('records', h2)).json(), { stored: 2, counts: { h: 2 } })
    t.deepEqual(await (await post('records', h2)).json(), { stored: 0, counts: { h: 2 } }, 'resent: nothing added')
    const gap = await post('records', encodeRecordBatch({ kind: 'histograms', groups: [{ name: 'h', from: 5, items: [hist(5)] }], blobs: new Map() }))
    t.is(gap.status, 409)
    t.like(await gap.json(), { have: 2 })
    const refused: Array<[string, Buffer, RegExp]> = [
      ['bad magic', Buffer.from('AMB1xxxxxxxx'), /AMR1/],
      ['unknown kind', encodeRecordBatch({ kind: 'sounds' as never, groups: [], blobs: new Map() }), /kind/],
      ['counts not integers', encodeRecordBatch({ kind: 'histograms', groups: [{ name: 'h', from: 2, items: [{ ...hist(2), data: f64(0, 1, 0.5) }] }], blobs: new Map() }), /count 0.5/],
      ['tensor size', encodeRecordBatch({ kind: 'tensors', groups: [{ name: 'w', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, meta: { dtype: '<f4', shape: [3] }, data: new Uint8Array(8) }] }], blobs: new Map() }), /8 data bytes for shape \[3\]/],
      ['tensor dtype', encodeRecordBatch({ kind: 'tensors', groups: [{ name: 'w', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, meta: { dtype: 'O', shape: [1] }, data: new Uint8Array(8) }] }], blobs: new Map() }), /dtype "O"/],
      ['table cell', encodeRecordBatch({ kind: 'tables', groups: [{ name: 't', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, meta: { columns: ['a'], columnTypes: ['media'], rows: [[{ $media: 3 }]], cells: [] }, data: new Uint8Array(0) }] }], blobs: new Map() }), /refers to no cell/],
      ['kde size', encodeRecordBatch({ kind: 'kernelDensity', groups: [{ name: 'k', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, meta: { points: 4, bandwidth: 1, count: 9 }, data: f64(1, 2) }] }], blobs: new Map() }), /16 data bytes/],
      ['blob hash', encodeRecordBatch({ kind: 'tables', groups: [], blobs: new Map([[`${'ab'.repeat(32)}.png`, Buffer.from('not it')]]) }), /does not match its hash/],
      ['truncated', h2.subarray(0, h2.length - 3), /past the end|announces/],
    ]
    for (const [what, body, msg] of refused) {
      const res = await post('records', body)
      t.is(res.status, 400, what)
      t.regex(String(((await res.json()) as { error: string }).error), msg, what)
    }
    // A table cell whose file the server lacks: 409 naming it.
    const key = `${'cd'.repeat(32)}.png`
    const lack = await post('records', encodeRecordBatch({ kind: 'tables', groups: [{ name: 't', from: 0, items: [{ step: 0, globalStep: 0, timestamp: 0, meta: { columns: ['a'], columnTypes: ['media'], rows: [[{ $media: 0 }]], cells: [{ key, type: 'image', caption: null, width: null, height: null }] }, data: new Uint8Array(0) }] }], blobs: new Map() }))
    t.is(lack.status, 409)
    t.like(await lack.json(), { missing: [key] })
    // Output: appended once, a gap refused, a missing offset is a 400; a read-only token cannot write.
    t.deepEqual(await (await post('output?from=0', Buffer.from('line one\n'))).json(), { stored: 9, output: 9 })
    t.deepEqual(await (await post('output?from=5', Buffer.from('one\nline two\n'))).json(), { stored: 9, output: 18 })
    t.is((await post('output?from=40', Buffer.from('x'))).status, 409)
    t.is((await post('output', Buffer.from('x'))).status, 400)
    t.is((await post('output?from=18', Buffer.from('x'), { authorization: `Bearer ${reader}` })).status, 403)
    t.is((await post('records', h2, { authorization: 'Bearer amb_nope' })).status, 401)
    await fetch(`${route}/finish`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ status: 'finished', exitCode: 0 }) })
    const run = openRun(join(data, 'team', 'r1'))
    t.deepEqual(run.histogramNames(), ['h'])
    t.is(run.histograms('h').length, 2)
    t.deepEqual([...run.histograms('h')[1].counts], [5, 7])
    t.deepEqual([...run.histograms('h')[1].edges], [0, 1, 2])
    t.deepEqual(run.tensorNames(), [])
    t.deepEqual(run.tableNames(), [])
    t.deepEqual(run.kernelDensityNames(), [])
    t.is(run.output(), 'line one\nline two\n')
  } finally {
    await s.kill()
  }
})
