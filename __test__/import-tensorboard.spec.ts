/**
 * `amber import tensorboard` on event files written by the real `tensorboard` Python package
 * (__test__/fixtures/tensorboard_events.py, in a venv of the dev cache): every value imported is
 * compared with what TensorBoard's own EventAccumulator reads from the same files. Also: a second
 * import changes nothing and a grown log is imported again in place, a truncated final record is
 * skipped with a warning, and a corrupt record or a file that is not an event file fails its run
 * with an error naming the file and leaves no half run behind.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { listRuns, withRun } from '../src/board'
import { patchMetadata } from '../src/board/metadata'
import type { Run } from '../src/board'
import { CorruptDataError } from '../src/errors'
import { IMPORT_TMP, importTensorBoard } from '../src/import/tensorboard/importer'
import type { ImportedRun, ImportOptions } from '../src/import/tensorboard/importer'
import { pythonVenv, testWithVenv } from './kohakuvault-python'
import { tempDir } from './temp-dirs'

const venv = pythonVenv('venv-tensorboard', ['tensorboard>=2.12,<3', 'pillow'], 'import tensorboard, PIL, numpy')
const pyTest = testWithVenv('import-tensorboard', venv)
const SCRIPT = path.join(__dirname, 'fixtures', 'tensorboard_events.py')
const AMBER = path.join(__dirname, '..', 'src', 'cli', 'amber.ts')

/** A float as the script prints it: NaN and ±Infinity as strings (JSON has no such numbers). */
type Num = number | string
const num = (x: Num): number => (typeof x === 'string' ? Number(x) : x)
const b64 = (s: string): Buffer => Buffer.from(s, 'base64')

/** What EventAccumulator sees in one run folder (see `read` in the script). */
interface TbView {
  scalars: Record<string, Array<[number, number, Num]>>
  histograms: Record<string, Array<[number, number, Num[][], { min: Num; max: Num; bucket_limit: Num[]; bucket: number[] }]>>
  images: Record<string, Array<[number, number, number, number, string]>>
  audio: Record<string, Array<[number, number, string]>>
  tensors: Record<string, { plugin: string; events: Array<[number, number, number[], Array<Num>]> }>
}

function tb(mode: string, ...args: string[]): string {
  const r = spawnSync(venv.python, [SCRIPT, mode, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`tensorboard_events.py ${mode} failed: ${r.stderr}`)
  return r.stdout
}

function readWithTensorBoard(...dirs: string[]): Record<string, TbView> {
  return JSON.parse(tb('read', ...dirs))
}

function amber(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, AMBER, ...args], { encoding: 'utf8', timeout: 120_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

async function importInto(logdir: string, baseDir: string, more: ImportOptions = {}): Promise<{ results: ImportedRun[]; warnings: string[] }> {
  const warnings: string[] = []
  const results = await importTensorBoard(logdir, { baseDir, onWarning: (m) => warnings.push(m), ...more })
  return { results, warnings }
}

/** Stored stamp = TensorBoard's step as the global step and its wall time in ms. */
function sameStamp(t: ExecutionContext, got: { globalStep: number; timestamp: number }, wall: number, step: number, what: string): void {
  t.is(got.globalStep, step, `${what}: global step`)
  t.is(got.timestamp, Math.round(wall * 1000), `${what}: timestamp`)
}

/** Every value EventAccumulator reads from a run folder is in the imported run, as it reads it. */
function matchesTensorBoard(t: ExecutionContext, run: Run, view: TbView): void {
  const scalarTags = [...Object.keys(view.scalars), ...Object.entries(view.tensors).filter(([, v]) => v.plugin === 'scalars').map(([k]) => k)]
  t.deepEqual(run.metrics().sort(), scalarTags.sort())
  const scalar = (tag: string, points: Array<[number, number, number]>) => {
    const s = run.scalars(tag)
    t.is(s.value.length, points.length, tag)
    points.forEach(([wall, step, v], i) => {
      t.true(Object.is(s.value[i], v), `${tag}[${i}]: ${s.value[i]} vs ${v}`)
      sameStamp(t, { globalStep: s.globalStep[i], timestamp: s.timestamp[i] }, wall, step, `${tag}[${i}]`)
    })
    // The run's own step counts events, like log() calls.
    for (let i = 1; i < s.step.length; i++) t.true(s.step[i] > s.step[i - 1], `${tag}: steps increase`)
  }
  for (const [tag, points] of Object.entries(view.scalars)) scalar(tag, points.map(([w, s, v]) => [w, s, num(v)]))

  for (const [tag, events] of Object.entries(view.histograms)) {
    const h = run.histograms(tag)
    t.is(h.length, events.length, tag)
    events.forEach(([wall, step, buckets, raw], i) => {
      sameStamp(t, h[i], wall, step, `${tag}[${i}]`)
      // TensorBoard draws float32 buckets; the import keeps the proto's doubles, each one of its
      // own min, max or bucket limits.
      t.deepEqual([...h[i].counts], buckets.map((b) => num(b[2])), `${tag}[${i}] counts`)
      t.deepEqual([...h[i].edges].map(Math.fround), [...buckets.map((b) => num(b[0])), num(buckets[buckets.length - 1][1])], `${tag}[${i}] edges`)
      const stated = new Set([num(raw.min), num(raw.max), ...raw.bucket_limit.map(num)])
      t.true([...h[i].edges].every((e) => stated.has(e)), `${tag}[${i}] edges come from the proto`)
    })
  }
  const media = (tag: string, type: 'image' | 'audio', files: Array<{ wall: number; step: number; bytes: Buffer; width?: number; height?: number }>) => {
    const m = run.media(tag)
    t.is(m.length, files.length, tag)
    files.forEach((f, i) => {
      t.is(m[i].type, type)
      t.true(m[i].data.equals(f.bytes), `${tag}[${i}] bytes`)
      sameStamp(t, m[i], f.wall, f.step, `${tag}[${i}]`)
      if (f.width !== undefined) t.deepEqual([m[i].width, m[i].height], [f.width, f.height], `${tag}[${i}] size`)
    })
  }
  for (const [tag, events] of Object.entries(view.images)) {
    media(tag, 'image', events.map(([wall, step, width, height, data]) => ({ wall, step, width, height, bytes: b64(data) })))
  }
  for (const [tag, events] of Object.entries(view.audio)) media(tag, 'audio', events.map(([wall, step, data]) => ({ wall, step, bytes: b64(data) })))

  for (const [tag, { plugin, events }] of Object.entries(view.tensors)) {
    if (plugin === 'scalars') scalar(tag, events.map(([w, s, , d]) => [w, s, num(d[0])]))
    else if (plugin === 'histograms') {
      const h = run.histograms(tag)
      t.is(h.length, events.length, tag)
      events.forEach(([wall, step, shape, d], i) => {
        sameStamp(t, h[i], wall, step, `${tag}[${i}]`)
        const rows = Array.from({ length: shape[0] }, (_, k) => d.slice(3 * k, 3 * k + 3).map(num))
        t.deepEqual([...h[i].edges], [...rows.map((r) => r[0]), rows[rows.length - 1][1]], `${tag}[${i}] edges`)
        t.deepEqual([...h[i].counts], rows.map((r) => r[2]), `${tag}[${i}] counts`)
      })
    } else if (plugin === 'images') {
      media(tag, 'image', events.flatMap(([wall, step, , d]) => d.slice(2).map((x) => ({ wall, step, width: Number(b64(d[0] as string)), height: Number(b64(d[1] as string)), bytes: b64(x as string) }))))
    } else if (plugin === 'audio') {
      media(tag, 'audio', events.flatMap(([wall, step, , d]) => d.filter((_, k) => k % 2 === 0).map((x) => ({ wall, step, bytes: b64(x as string) }))))
    } else if (plugin === 'text') {
      const tables = run.tables(tag)
      t.is(tables.length, 1, `${tag}: one table`)
      t.deepEqual(tables[0].columns, ['step', 'text'])
      t.deepEqual(tables[0].rows, events.flatMap(([, step, , d]) => d.map((x) => [step, b64(x as string).toString('utf8')])))
      const [wall, step] = events[events.length - 1]
      sameStamp(t, tables[0], wall, step, `${tag} table`)
    } else {
      t.false(run.metrics().includes(tag) || run.mediaNames().includes(tag), `${tag} (${plugin}) is not imported`)
    }
  }
}

let logdir = ''
let seen: Record<string, TbView> = {}
const copies = () => tempDir('tb-logdir-')

test.before(() => {
  if (venv.error !== null) return
  logdir = tempDir('tb-logdir-')
  tb('write', logdir)
  seen = readWithTensorBoard(path.join(logdir, 'train'), path.join(logdir, 'runA', 'eval'))
})

pyTest('every value equals what TensorBoard reads: legacy and TF2 summaries, scalars, histograms, images, audio, text', async (t) => {
  const base = tempDir('tb-base-')
  const { results, warnings } = await importInto(logdir, base)
  t.deepEqual(results.map((r) => [r.name, r.status]), [['runA/eval', 'imported'], ['train', 'imported']])
  t.deepEqual(listRuns(base).map((r) => [r.project, r.name, r.status]).sort(), [['tensorboard', 'runA/eval', 'finished'], ['tensorboard', 'train', 'finished']])
  const train = results.find((r) => r.name === 'train')!
  const evalRun = results.find((r) => r.name === 'runA/eval')!
  t.is(path.dirname(train.runDir), path.join(base, 'tensorboard'))
  t.regex(path.basename(evalRun.runDir), /^runA_eval-[0-9a-f]{8}$/)
  withRun(train.runDir, (run) => matchesTensorBoard(t, run, seen[path.join(logdir, 'train')]))
  withRun(evalRun.runDir, (run) => matchesTensorBoard(t, run, seen[path.join(logdir, 'runA', 'eval')]))
  // What the import does not carry is said, with its tag; nothing else is warned about.
  t.deepEqual(warnings, ['runA/eval: 1 mystery summary value(s) not imported (tags "unknown")'])
  t.deepEqual(evalRun.counts?.skipped, { 'mystery summary': 1 })
  const meta = withRun(train.runDir, (run) => run.metadata)
  const from = meta.importedFrom as { source: string; files: Array<{ name: string }> }
  t.is(from.source, path.join(logdir, 'train'))
  t.deepEqual(from.files.map((f) => f.name), fs.readdirSync(path.join(logdir, 'train')).sort())
  t.is(meta.createdAt, new Date(Math.round(seen[path.join(logdir, 'train')].scalars.lr[0][0] * 1000)).toISOString())
  t.false(fs.existsSync(path.join(base, IMPORT_TMP)))
})

pyTest('importing twice changes nothing; a log that grew is imported again, whole, into the same run', async (t) => {
  const src = copies()
  fs.cpSync(path.join(logdir, 'train'), path.join(src, 'train'), { recursive: true })
  const base = tempDir('tb-base-')
  const [first] = (await importInto(src, base)).results
  t.is(first.status, 'imported')
  const before = withRun(first.runDir, (run) => ({ meta: run.metadata, loss: run.scalars('train/loss') }))

  let total = -1
  const again = await importInto(src, base, { onProgress: (_d, n) => (total = n) })
  t.deepEqual(again.results.map((r) => [r.status, r.runDir]), [['up-to-date', first.runDir]])
  t.is(total, -1, 'nothing was read')
  t.deepEqual(again.warnings, [])
  const after = withRun(first.runDir, (run) => ({ meta: run.metadata, loss: run.scalars('train/loss') }))
  t.deepEqual(after, before)
  t.is(listRuns(base).length, 1)

  tb('append', path.join(src, 'train'))
  // Labels a person gave the run stay with it.
  patchMetadata(first.runDir, { tags: ['baseline'], note: 'from the old cluster' })
  const grown = await importInto(src, base)
  t.deepEqual(grown.results.map((r) => [r.status, r.runDir]), [['replaced', first.runDir]])
  t.is(listRuns(base).length, 1)
  const meta = withRun(first.runDir, (run) => run.metadata)
  t.deepEqual([meta.tags, meta.note], [['baseline'], 'from the old cluster'])
  const view = readWithTensorBoard(path.join(src, 'train'))[path.join(src, 'train')]
  t.is(view.scalars['train/loss'].length, 18)
  withRun(first.runDir, (run) => matchesTensorBoard(t, run, view))
  t.false(fs.existsSync(path.join(base, IMPORT_TMP)))
})

pyTest('a truncated final record is skipped with a warning naming the file, as TensorBoard skips it', async (t) => {
  const src = copies()
  const dir = path.join(src, 'train')
  fs.cpSync(path.join(logdir, 'train'), dir, { recursive: true })
  const last = path.join(dir, fs.readdirSync(dir).sort().pop()!)
  fs.truncateSync(last, fs.statSync(last).size - 7)
  const base = tempDir('tb-base-')
  const { results, warnings } = await importInto(src, base)
  t.is(results[0].status, 'imported')
  t.is(warnings.length, 1)
  t.true(warnings[0].startsWith(`${last}: the last record (from byte `), warnings[0])
  t.regex(warnings[0], /incomplete and was skipped/)
  const view = readWithTensorBoard(dir)[dir]
  t.is(view.scalars['train/loss'].length, 14, 'TensorBoard reads one point less')
  withRun(results[0].runDir, (run) => matchesTensorBoard(t, run, view))
})

pyTest('a corrupt record fails its run with an error naming the file and byte, leaving no half run; other runs are imported', async (t) => {
  const src = copies()
  for (const name of ['bad', 'good']) fs.cpSync(path.join(logdir, 'train'), path.join(src, name), { recursive: true })
  // A byte near the end of the first file: the records before it were written into the run
  // before the damage was found.
  const bad = path.join(src, 'bad', fs.readdirSync(path.join(src, 'bad')).sort()[0])
  const bytes = fs.readFileSync(bad)
  bytes[bytes.length - 12] ^= 0x40
  fs.writeFileSync(bad, bytes)
  const base = tempDir('tb-base-')
  const { results } = await importInto(src, base)
  t.deepEqual(results.map((r) => [r.name, r.status]), [['bad', 'failed'], ['good', 'imported']])
  const err = results[0].error!
  t.true(err instanceof CorruptDataError)
  t.true(err.message.startsWith(`${bad}: corrupt record at byte `), err.message)
  t.deepEqual(listRuns(base).map((r) => r.name), ['good'])
  t.deepEqual(fs.readdirSync(path.join(base, 'tensorboard')), [path.basename(results[1].runDir)])
  t.false(fs.existsSync(path.join(base, IMPORT_TMP)))
})

pyTest('amber import tensorboard: runs, then up to date; a non-event file is a clear error (exit 4) and no run', async (t) => {
  const base = tempDir('tb-base-')
  const first = amber(['import', 'tensorboard', logdir, '--dir', base, '--project', 'tb'])
  t.is(first.code, 0, first.err)
  t.regex(first.out, /imported +runA\/eval → .*runA_eval-[0-9a-f]{8} \(10 scalar points, 5 histograms, 4 images, 1 audio clip, 4 text rows\)/)
  t.regex(first.out, /2 runs: 2 imported/)
  t.regex(first.err, /warning: runA\/eval: 1 mystery summary value/)
  t.deepEqual(listRuns(base).map((r) => r.project), ['tb', 'tb'])
  const second = amber(['import', 'tensorboard', logdir, '--dir', base, '--project', 'tb'])
  t.is(second.code, 0, second.err)
  t.regex(second.out, /up to date +train/)
  t.regex(second.out, /2 runs: 2 up to date/)

  const junk = copies()
  fs.mkdirSync(path.join(junk, 'run'))
  const file = path.join(junk, 'run', 'events.out.tfevents.1700000000.host')
  fs.writeFileSync(file, 'this is a text file with an event file name\n')
  const r = amber(['import', 'tensorboard', junk, '--dir', base])
  t.is(r.code, 4, r.err)
  t.true(r.err.includes(`amber: run: ${file}: not a TensorBoard event file`), r.err)
  t.deepEqual(listRuns(base, { project: 'tensorboard' }), [])
})
