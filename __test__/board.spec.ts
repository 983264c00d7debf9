import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {
  Board, Histogram, Media, Table, TensorLog, KernelDensity, listRuns, openRun,
  InvalidArgumentError, ClosedError, NotFoundError, VaultIoError,
} from '../src/index'
import { tempDirs } from './temp-dirs'

const tmp = tempDirs('amber-board-')

test('scalars round-trip with step, global_step, NaN and Infinity kept', async (t) => {
  const baseDir = tmp()
  const board = new Board({ baseDir, project: 'p', runId: 'r1', name: 'first', config: { lr: 0.1 }, captureOutput: false })
  for (let i = 0; i < 1000; i++) {
    board.log({ 'train/loss': 1 / (i + 1), lr: i === 10 ? NaN : i === 11 ? Infinity : i === 12 ? -Infinity : 0.5 })
    if (i % 10 === 9) board.step()
  }
  t.is(board.globalStep, 100)
  await board.flush()
  const run = openRun(board.runDir)
  t.deepEqual(run.metrics(), ['lr', 'train/loss'])
  const s = run.scalars('train/loss')
  t.is(s.value.length, 1000)
  t.is(s.step[999], 999)
  t.is(s.globalStep[9], 0)
  t.is(s.globalStep[10], 1)
  t.is(s.value[3], 1 / 4)
  const lr = run.scalars('lr')
  t.true(Number.isNaN(lr.value[10]))
  t.is(lr.value[11], Infinity)
  t.is(lr.value[12], -Infinity)
  // Layout 2: one store for every metric, names kept as data, not as file names.
  t.true(fs.existsSync(path.join(board.runDir, 'data/run.db')))
  t.false(fs.existsSync(path.join(board.runDir, 'data/metrics')))
  t.is(run.layoutVersion, 2)
  t.is(run.metadata.layoutVersion, 2)
  t.is(run.metadata.status, 'running')
  await board.finish()
  const meta = openRun(board.runDir).metadata
  t.is(meta.status, 'finished')
  // Stored means the memory-mapped logs are no longer needed: the folder holds SQLite files only.
  t.deepEqual(fs.readdirSync(path.join(board.runDir, 'wal')), [])
  t.is(meta.name, 'first')
  t.deepEqual(meta.config, { lr: 0.1 })
  const runs = listRuns(baseDir)
  t.is(runs.length, 1)
  t.is(runs[0].runId, 'r1')
  t.is(runs[0].status, 'finished')
  t.throws(() => board.log({ x: 1 }), { instanceOf: ClosedError })
})

test('all values of one log() call share one step; mixed calls work', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  board.log({ a: 1 })
  board.log({ a: 2, b: 3, h: new Histogram([1, 2, 3]) })
  board.log({ b: 4 })
  await board.finish()
  const run = openRun(board.runDir)
  t.deepEqual([...run.scalars('a').step], [0, 1])
  t.deepEqual([...run.scalars('b').step], [1, 2])
  t.deepEqual(run.histograms('h').map((h) => h.step), [1])
})

test('histograms keep exact edges, counts and NaN/Inf counts; fromBins is stored as given', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const values = new Float32Array([0, 1, 2, 3, 4, NaN, Infinity, -Infinity, -Infinity])
  board.log({ 'grads/w': new Histogram(values, { bins: 4 }) })
  board.log({ 'grads/w': Histogram.fromBins([0, 0.5, 1], [7, 9], { nan: 2 }), 'grads/b': new Histogram([5, 5, 5], { bins: 2, range: [0, 10] }) })
  await board.finish()
  const run = openRun(board.runDir)
  t.deepEqual(run.histogramNames(), ['grads/b', 'grads/w'])
  const [h0, h1] = run.histograms('grads/w')
  t.deepEqual([...h0.edges], [0, 1, 2, 3, 4])
  t.deepEqual([...h0.counts], [1, 1, 1, 2])
  t.deepEqual([h0.nan, h0.posinf, h0.neginf], [1, 1, 2])
  t.deepEqual([...h1.edges], [0, 0.5, 1])
  t.deepEqual([...h1.counts], [7, 9])
  t.is(h1.nan, 2)
  t.deepEqual([...run.histograms('grads/b')[0].counts], [0, 3])
  t.throws(() => run.histograms('nope'), { instanceOf: NotFoundError })
})

test('media: bytes, file paths and raw pixels, stored once per content hash', async (t) => {
  const dir = tmp()
  const board = new Board({ baseDir: dir, captureOutput: false })
  const pixels = new Uint8Array(8 * 4 * 3).map((_, i) => i % 251)
  const file = path.join(dir, 'clip.bin')
  fs.writeFileSync(file, Buffer.from('RIFF....WAVEfmt '))
  board.log({ img: new Media({ data: pixels, width: 8, height: 4, channels: 3 }, { caption: 'c0' }) })
  board.log({ img: new Media({ data: pixels, width: 8, height: 4, channels: 3 }) })
  board.log({ snd: new Media(file, { type: 'audio' }) })
  await board.finish()
  const run = openRun(board.runDir)
  const imgs = run.media('img')
  t.is(imgs.length, 2)
  t.is(imgs[0].hash, imgs[1].hash)
  t.is(imgs[0].format, 'png')
  t.is(imgs[0].caption, 'c0')
  t.deepEqual([imgs[0].width, imgs[0].height], [8, 4])
  t.deepEqual([...imgs[0].data.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  const snd = run.media('snd')[0]
  t.is(snd.format, 'wav')
  t.is(snd.type, 'audio')
  t.deepEqual(snd.data, fs.readFileSync(file))
  t.deepEqual(run.mediaNames(), ['img', 'snd'])
})

test('tables with typed and media cells, tensors as .npy, kernel density', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const png = new Media({ data: new Uint8Array(4), width: 2, height: 2, channels: 1 })
  board.log({ preds: new Table([{ id: 1, label: 'cat', ok: true, img: png }, { id: 2, label: 'dog', ok: false, img: null }]) })
  const w = new Float32Array(2 * 3).map((_, i) => i + 0.5)
  board.log({ 'layer/w': new TensorLog(w, [2, 3], { metadata: { layer: 3 } }) })
  board.log({ logits: new KernelDensity([0, 1, 1.5, 2], { points: 64 }) })
  await board.finish()
  const run = openRun(board.runDir)
  const [tab] = run.tables('preds')
  t.deepEqual(tab.columns, ['id', 'label', 'ok', 'img'])
  t.deepEqual(tab.columnTypes, ['number', 'string', 'boolean', 'media'])
  t.is(tab.rows[0][1], 'cat')
  const cell = tab.rows[0][3] as { media_hash: string; format: string }
  t.is(cell.format, 'png')
  t.is(run.mediaBytes(`${cell.media_hash}.png`)[1], 0x50)
  const [ten] = run.tensors('layer/w')
  t.deepEqual(ten.shape, [2, 3])
  t.is(ten.dtype, '<f4')
  t.deepEqual(ten.metadata, { layer: 3 })
  t.deepEqual([...(ten.data as Float32Array)], [...w])
  t.is(ten.npy.subarray(1, 6).toString(), 'NUMPY')
  const [kde] = run.kernelDensity('logits')
  t.is(kde.grid.length, 64)
  const area = kde.density.reduce((a, b) => a + b, 0) * (kde.grid[1] - kde.grid[0])
  t.true(Math.abs(area - 1) < 0.05, `area ${area}`)
})

test('bad input: typed errors from log() and the constructor, nothing half-logged', async (t) => {
  const dir = tmp()
  const board = new Board({ baseDir: dir, captureOutput: false })
  board.log({ ok: 1 })
  t.throws(() => board.log({ ok: 2, bad: 'x' as unknown as number }), { instanceOf: InvalidArgumentError, message: /"bad"/ })
  t.throws(() => board.log({ '': 1 }), { instanceOf: InvalidArgumentError, message: /empty/ })
  t.throws(() => board.log({ 'a\u0000b': 1 }), { instanceOf: InvalidArgumentError, message: /control character/ })
  t.throws(() => board.log({ ok: 2, 'x\ud800': 1 }), { instanceOf: InvalidArgumentError, message: /lone surrogate/ })
  t.throws(() => board.log({ x: null as unknown as number }), { instanceOf: InvalidArgumentError })
  t.throws(() => new Media(new Uint8Array(10), { type: 'gif' as 'image' }), { instanceOf: InvalidArgumentError })
  t.throws(() => new Media({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }), { instanceOf: InvalidArgumentError, message: /expected 12/ })
  t.throws(() => new Histogram([1], { bins: 0 }), { instanceOf: InvalidArgumentError })
  t.throws(() => new TensorLog(new Float32Array(5), [2, 3]), { instanceOf: InvalidArgumentError })
  t.throws(() => board.step(-1), { instanceOf: InvalidArgumentError })
  board.log({ ok: 3 })
  await board.finish()
  const s = openRun(board.runDir).scalars('ok')
  t.deepEqual([...s.value], [1, 3])
  t.deepEqual([...s.step], [0, 1])
  const file = path.join(dir, 'afile')
  fs.writeFileSync(file, 'x')
  t.throws(() => new Board({ baseDir: file }), { instanceOf: InvalidArgumentError, message: /afile/ })
  t.throws(() => new Board({ baseDir: dir, project: '../up' }), { instanceOf: InvalidArgumentError })
  t.throws(() => openRun(path.join(dir, 'missing')), { instanceOf: NotFoundError })
})

test('oversized media is a typed error', (t) => {
  const big = Buffer.alloc(256 * 1024 * 1024 + 1)
  t.throws(() => new Media(big), { instanceOf: InvalidArgumentError, message: /limit/ })
})

test('a second owner of a live run is refused; Board.attach is the way in', async (t) => {
  const baseDir = tmp()
  const a = new Board({ baseDir, runId: 'same', captureOutput: false })
  t.throws(() => new Board({ baseDir, runId: 'same', captureOutput: false }), { instanceOf: InvalidArgumentError, message: /attach/ })
  const b = Board.attach(a.runDir)
  b.log({ attached: 7 })
  await b.flush()
  await b.finish()
  await a.finish()
  t.deepEqual([...openRun(a.runDir).scalars('attached').value], [7])
  t.throws(() => Board.attach(a.runDir), { instanceOf: InvalidArgumentError, message: /finished/ })
})

test('scalars with maxPoints keep spikes and read while the run is written', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  for (let i = 0; i < 20_000; i++) board.log({ m: i === 12_345 ? 1e6 : Math.sin(i / 100) })
  await board.flush()
  const run = openRun(board.runDir)
  t.is(run.metadata.status, 'running')
  const d = run.scalars('m', { maxPoints: 200 })
  t.true(d.value.length <= 200 && d.value.length > 100)
  t.true(d.value.includes(1e6))
  t.is(d.step[d.value.indexOf(1e6)], 12_345)
  board.log({ m: 5 })
  await board.flush()
  t.is(run.scalars('m').value.length, 20_001)
  await board.finish()
})

test.serial('a metric file is listed only once it can be read, even while new metrics keep appearing', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const run = openRun(board.runDir)
  let reads = 0
  const readAll = () => {
    for (const name of run.metrics()) {
      t.notThrows(() => run.scalars(name), name)
      reads++
    }
  }
  for (let i = 0; i < 60; i++) {
    board.log({ [`new/m${i}`]: i })
    // The writer thread creates files meanwhile: every name listed must be readable.
    await new Promise((r) => setImmediate(r))
    readAll()
  }
  // On a loaded machine the loop above can end before the writer's first burst: keep reading
  // while it catches up, so the listing is checked while files are being created either way.
  do {
    await new Promise((r) => setTimeout(r, 1))
    readAll()
  } while (run.metrics().length < 60)
  await board.finish()
  t.is(run.metrics().length, 60)
  t.deepEqual([...run.scalars('new/m59').value], [59])
  t.true(reads > 0)
})

test('segments roll over when full and nothing is lost', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  // ~80 MB of tensors: more than one 64 MiB segment.
  const data = new Float64Array(1_000_000).map((_, i) => i)
  for (let i = 0; i < 10; i++) board.log({ t: new TensorLog(data, [1_000_000]), i })
  await board.finish()
  const run = openRun(board.runDir)
  t.deepEqual([...run.scalars('i').value], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(() => NaN).map((_, k) => k))
  const ts = run.tensors('t')
  t.is(ts.length, 10)
  t.is((ts[9].data as Float64Array)[999_999], 999_999)
})

test.serial('system metrics are sampled into sys/* without taking steps', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false, systemMetrics: { intervalMs: 50 } })
  board.log({ x: 1 })
  await new Promise((r) => setTimeout(r, 1000))
  await board.finish()
  const run = openRun(board.runDir)
  const sys = run.metrics().filter((m) => m.startsWith('sys/'))
  t.true(sys.includes('sys/proc_rss_mb'), sys.join(','))
  t.true(sys.includes('sys/ram_used_mb'))
  t.true(sys.includes('sys/cpu_percent'))
  const rss = run.scalars('sys/proc_rss_mb')
  t.true(rss.value.length >= 3, `${rss.value.length} samples`)
  t.true(rss.value[0] > 10)
  t.deepEqual([...run.scalars('x').step], [0])
})

test('I/O failure while writing: log() does not throw, flush rejects typed, writer.log and metadata say why, then it recovers', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  // A folder where the media store must go: every burst that stores an image fails.
  const blocker = path.join(board.runDir, 'media/blobs.db')
  fs.mkdirSync(blocker)
  board.log({ good: 2, pic: new Media({ data: new Uint8Array(4 * 4 * 3).fill(200), width: 4, height: 4, channels: 3 }) })
  const err = await t.throwsAsync(board.flush(), { instanceOf: VaultIoError })
  t.regex(err!.message, /blobs\.db/)
  t.regex(fs.readFileSync(path.join(board.runDir, 'logs/writer.log'), 'utf8'), /blobs\.db/)
  t.regex(String(openRun(board.runDir).metadata.writerError), /blobs\.db/)
  // Nothing was lost: once the cause is gone, the writer's retry stores everything.
  fs.rmdirSync(blocker)
  board.log({ good: 3 })
  await board.finish()
  const run = openRun(board.runDir)
  t.deepEqual([...run.scalars('good').value], [2, 3])
  t.is(run.media('pic').length, 1)
  t.is(run.metadata.writerError, null)
  t.is(run.metadata.status, 'finished')
})

test('a record the writer cannot decode (a table nested 200 deep) is set aside and counted; everything else is stored and the run opens', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  let deep: unknown = 'bottom'
  for (let i = 0; i < 200; i++) deep = { d: deep }
  board.log({ before: 1 })
  board.log({ nested: new Table([{ cell: deep }]) })
  board.log({ after: 2 })
  await board.flush()
  const run = openRun(board.runDir)
  t.deepEqual([...run.scalars('before').value], [1])
  t.deepEqual([...run.scalars('after').value], [2])
  t.is(run.metadata.writerErrors, 1)
  t.regex(fs.readFileSync(path.join(board.runDir, 'logs/writer.log'), 'utf8'), /set aside a record/)
  await board.finish()
  t.is(openRun(board.runDir).metadata.status, 'finished')
})
