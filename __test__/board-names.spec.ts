/**
 * Metric names (docs/api.md, Board): one validator (src/board/names.ts) for Board, the sync client and
 * the team server; every valid name round-trips exactly through log → flush → openRun; a bad name
 * is refused at log() with nothing of that call stored. Also the explicit step
 * (`log(values, { step })`) and `board.updateConfig(patch)`.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import {
  Board, ClosedError, Histogram, InvalidArgumentError, KernelDensity, Media, Table, TensorLog, openRun,
} from '../src/index'
import { MAX_NAME_BYTES, checkName, isValidName, nameProblem } from '../src/board/names'
import { tempDirs } from './temp-dirs'

const tmp = tempDirs('amber-names-')

/** Reject after `ms` (a writer that cannot store a name must fail the test, not hang it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms} ms`)), ms)
    }),
  ])
}

/**
 * Log every name twice (alone, then all in one call), flush, and read back: `metrics()` lists
 * exactly these names and each series holds exactly its own two points.
 */
async function roundTrip(t: ExecutionContext, names: string[]): Promise<void> {
  t.is(new Set(names).size, names.length, 'the list has no duplicates')
  const b = new Board({ baseDir: tmp(), captureOutput: false })
  try {
    names.forEach((n, i) => b.log({ [n]: i + 0.5 }))
    b.log(Object.fromEntries(names.map((n, i) => [n, -i])))
    await within(b.flush(), 30_000, 'flush')
    const run = openRun(b.runDir)
    try {
      t.deepEqual([...run.metrics()].sort(), [...names].sort(), 'metrics() lists exactly the logged names')
      names.forEach((n, i) => {
        let got: number[] | string
        try {
          got = [...run.scalars(n).value]
        } catch (e) {
          got = `${(e as Error).message}`
        }
        t.deepEqual(got, [i + 0.5, -i], `scalars(${JSON.stringify(n.length > 60 ? `${n.slice(0, 60)}…` : n)})`)
      })
    } finally {
      run.close()
    }
  } finally {
    await within(b.finish(), 30_000, 'finish').catch(() => undefined)
  }
}

// ---------------------------------------------------------------------------------------------
// The rule itself (no disk).

const VALID = [
  'loss', 'a', 'train/loss', 'Loss', 'LOSS', 'a/b', 'a__b', 'A/B', 'a b', ' ', ' lead', 'trail ', '.', '..', '...',
  'a.b', 'a\\b', '\\', '/', '//', '/lead', 'trail/', 'x//y', 'a/./b', 'a/../b', '../../etc/passwd', ':*?"<>|%',
  '%2e%2e', 'CON', 'nul', 'COM1', 'ünï/çødé', '日本語/損失', '🚀', 'a🚀b', '\u0080', '\u00a0', '\u2028', '\ufeff',
  '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'x'.repeat(MAX_NAME_BYTES), 'é'.repeat(MAX_NAME_BYTES / 2),
  '€'.repeat(1365), '😀'.repeat(MAX_NAME_BYTES / 4),
]

const INVALID: Array<[unknown, RegExp]> = [
  ['', /is empty/],
  ['a\u0000b', /control character \(U\+0000\) at index 1/],
  ['\n', /U\+000A/],
  ['tab\t', /U\+0009/],
  ['\u001f', /U\+001F/],
  ['del\u007f', /U\+007F/],
  ['\r\n', /control character/],
  ['x\ud800', /lone surrogate \(U\+D800\) at index 1/],
  ['\udc00x', /lone surrogate \(U\+DC00\)/],
  ['\udc00\ud800', /lone surrogate/],
  ['a\ud83d', /lone surrogate/],
  ['x'.repeat(MAX_NAME_BYTES + 1), /4097 UTF-8 bytes/],
  ['é'.repeat(MAX_NAME_BYTES / 2) + 'x', /4097 UTF-8 bytes/],
  ['😀'.repeat(MAX_NAME_BYTES / 4) + 'x', /4097 UTF-8 bytes/],
  [5, /not a string/],
  [null, /null, not a string/],
  [undefined, /not a string/],
]

test('the name rule: valid names pass, each bad one names its problem', (t) => {
  for (const n of VALID) {
    t.is(nameProblem(n), null, JSON.stringify(n.slice(0, 40)))
    t.true(isValidName(n))
    t.is(checkName(n), n)
  }
  for (const [n, why] of INVALID) {
    t.regex(nameProblem(n) ?? 'valid', why, String(n).slice(0, 40))
    t.false(isValidName(n))
    t.throws(() => checkName(n), { instanceOf: InvalidArgumentError, message: why })
  }
  // The byte length is UTF-8's, whatever the UTF-16 length.
  t.is(Buffer.byteLength('😀'.repeat(MAX_NAME_BYTES / 4)), MAX_NAME_BYTES)
  t.is(Buffer.byteLength('€'.repeat(1365)), 4095)
  // A long bad name is shown cut in the message.
  const e = t.throws(() => checkName('y'.repeat(10_000)))
  t.true(e!.message.length < 300, e!.message)
  t.regex(e!.message, /10000 characters/)
})

// ---------------------------------------------------------------------------------------------
// Round trips through the run folder.

test('round trip: punctuation, dots, backslashes, spaces, unicode and reserved words are names, kept exactly', async (t) => {
  await roundTrip(t, [
    'a b', ' lead', 'trail ', 'a.b', '.', '..', '...', 'a\\b', '\\', ':*?"<>|%', '%2F', 'CON', 'nul', 'COM1',
    'ünï/çødé', '日本語/損失', '🚀', 'a/./b', 'a/../b', '../../etc/passwd', '/lead', 'trail/', '/', '//', 'x//y',
    'constructor', 'hasOwnProperty', 'toString', '\u0080\u00a0',
  ])
})

test('round trip: "/" and "__" are different names', async (t) => {
  await roundTrip(t, ['a/b', 'a__b', 'a___b', 'a/_b', '__', '__proto__', 'x__', '__x'])
})

test('round trip: names differing only in case are different names', async (t) => {
  await roundTrip(t, ['A/B', 'a/b', 'A/b', 'loss', 'Loss', 'LOSS'])
})

test('round trip: names up to 4,096 UTF-8 bytes', async (t) => {
  await roundTrip(t, ['x'.repeat(MAX_NAME_BYTES), 'é'.repeat(MAX_NAME_BYTES / 2), '😀'.repeat(MAX_NAME_BYTES / 4), `${'d/'.repeat(1000)}leaf`])
})

test('round trip: histogram, media, table, tensor and kernel density names are kept exactly too', async (t) => {
  const names = ['..', 'a/./b', 'a\\b', 'A b/ü', '__proto__', 'CON:*?']
  const b = new Board({ baseDir: tmp(), captureOutput: false })
  try {
    for (const n of names) {
      b.log({
        [`h ${n}`]: new Histogram([1, 2, 3], { bins: 4 }),
        [`m ${n}`]: new Media({ data: new Uint8Array(2 * 2 * 3).fill(200), width: 2, height: 2, channels: 3 }),
        [`t ${n}`]: new Table([{ a: 1, b: 'x' }]),
        [`w ${n}`]: new TensorLog(new Float32Array([1, 2, 3, 4]), [2, 2]),
        [`k ${n}`]: new KernelDensity([1, 2, 3, 4], { points: 8 }),
      })
    }
    await within(b.flush(), 30_000, 'flush')
    const run = openRun(b.runDir)
    const want = (p: string) => names.map((n) => `${p} ${n}`).sort()
    t.deepEqual([...run.histogramNames()].sort(), want('h'))
    t.deepEqual([...run.mediaNames()].sort(), want('m'))
    t.deepEqual([...run.tableNames()].sort(), want('t'))
    t.deepEqual([...run.tensorNames()].sort(), want('w'))
    t.deepEqual([...run.kernelDensityNames()].sort(), want('k'))
    for (const n of names) {
      t.is(run.histograms(`h ${n}`).length, 1, `h ${n}`)
      t.is(run.media(`m ${n}`).length, 1, `m ${n}`)
      t.deepEqual(run.tables(`t ${n}`)[0].rows, [[1, 'x']], `t ${n}`)
      t.deepEqual([...(run.tensors(`w ${n}`)[0].data as Float32Array)], [1, 2, 3, 4], `w ${n}`)
      t.is(run.kernelDensity(`k ${n}`)[0].points, 8, `k ${n}`)
    }
    run.close()
  } finally {
    await within(b.finish(), 30_000, 'finish').catch(() => undefined)
  }
})

// ---------------------------------------------------------------------------------------------
// Bad names are refused at log(), and nothing of that call is stored.

test('a bad name is refused at log(): earlier calls intact, nothing of the bad call stored, no step taken', async (t) => {
  const b = new Board({ baseDir: tmp(), captureOutput: false })
  b.log({ ok: 1, 'train/x': 10 })
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    // Known names first: the fast path must give up before writing anything.
    [{ ok: 2, 'train/x': 20, 'bad\u0000': 3 }, /"bad\\u0000" has a control character \(U\+0000\)/],
    [{ 'bad\n': 3, ok: 2 }, /control character \(U\+000A\)/],
    // A new valid name next to a bad one is not defined either.
    [{ ok: 2, fresh: 3, 'del\u007f': 4 }, /U\+007F/],
    [{ fresh: 3, '': 4 }, /is empty/],
    [{ ok: 2, ['x'.repeat(MAX_NAME_BYTES + 1)]: 4 }, /4097 UTF-8 bytes/],
    [{ ok: 2, 'sur\udfff': 4 }, /lone surrogate/],
    // Log types take the same rule.
    [{ ok: 2, h: new Histogram([1, 2]), 'hist\u0001': new Histogram([1, 2]) }, /U\+0001/],
    [{ ok: 2, 'img\t': new Media({ data: new Uint8Array(12), width: 2, height: 2, channels: 3 }) }, /U\+0009/],
  ]
  for (const [values, why] of bad) {
    const e = t.throws(() => b.log(values as Record<string, number>), { instanceOf: InvalidArgumentError, message: why })
    t.is(e?.code, 'INVALID_ARGUMENT')
    t.regex(e!.message, /metric name/)
  }
  // Not an object at all: refused too, by the fast path as well as the slow one.
  for (const v of [null, undefined, 5, 'abc', []]) t.throws(() => b.log(v as unknown as Record<string, number>), { instanceOf: InvalidArgumentError })
  b.log({ ok: 5 })
  await b.flush()
  const run = openRun(b.runDir)
  t.deepEqual([...run.metrics()].sort(), ['ok', 'train/x'])
  t.deepEqual([...run.scalars('ok').value], [1, 5])
  t.deepEqual([...run.scalars('ok').step], [0, 1], 'refused calls took no step')
  t.deepEqual([...run.scalars('train/x').value], [10])
  t.deepEqual(run.histogramNames(), [])
  t.deepEqual(run.mediaNames(), [])
  run.close()
  await b.finish()
})

test('a name is checked once: after the first log, the fast path takes it as is', async (t) => {
  const b = new Board({ baseDir: tmp(), captureOutput: false })
  const names = Array.from({ length: 10 }, (_, i) => `group/metric ${i} ü`)
  for (let i = 0; i < 2000; i++) b.log(Object.fromEntries(names.map((n) => [n, i])))
  await b.flush()
  const run = openRun(b.runDir)
  for (const n of names) t.is(run.scalars(n).value.length, 2000)
  run.close()
  await b.finish()
})

// ---------------------------------------------------------------------------------------------
// log(values, { step }).

test('explicit step: sets the global step for the call and after; smaller or malformed is refused', async (t) => {
  const b = new Board({ baseDir: tmp(), captureOutput: false })
  b.log({ a: 1 })
  b.log({ a: 2 }, { step: 10 })
  t.is(b.globalStep, 10)
  b.log({ a: 3 })
  t.is(b.step(), 11, 'board.step() continues from the explicit step')
  b.log({ a: 4 })
  b.log({ a: 5 }, { step: 11 }) // the current global step again: fine
  b.log({ a: 6, h: new Histogram([1, 2, 3]) }, { step: 20 }) // slow path (a payload) too
  b.log({ a: 7 }, undefined)
  b.log({ a: 8 }, {}) // no step given: unchanged
  t.is(b.globalStep, 20)
  const refused: unknown[] = [
    { step: 19 }, { step: 0 }, { step: -1 }, { step: 20.5 }, { step: NaN }, { step: Infinity }, { step: 2 ** 53 },
    { step: '25' }, { step: 25n }, { step: null }, { stepp: 25 }, { step: 25, commit: true }, 7, '7', null, [25], true,
  ]
  for (const opts of refused) {
    t.throws(() => b.log({ a: -1 }, opts as { step: number }), { instanceOf: InvalidArgumentError }, String(JSON.stringify(opts ?? null, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))))
  }
  const back = t.throws(() => b.log({ a: -1 }, { step: 19 }))
  t.regex(back!.message, /already 20/)
  // A call refused for its values does not move the global step either.
  t.throws(() => b.log({ a: 'x' as unknown as number }, { step: 100 }), { instanceOf: InvalidArgumentError })
  t.throws(() => b.log({ 'bad\u0000': 1 }, { step: 100 }), { instanceOf: InvalidArgumentError })
  t.is(b.globalStep, 20)
  b.log({ a: 9 }, { step: 2 ** 53 - 1 })
  t.is(b.globalStep, 2 ** 53 - 1)
  await b.flush()
  const run = openRun(b.runDir)
  const s = run.scalars('a')
  t.deepEqual([...s.value], [1, 2, 3, 4, 5, 6, 7, 8, 9], 'refused calls logged nothing')
  t.deepEqual([...s.step], [0, 1, 2, 3, 4, 5, 6, 7, 8])
  t.deepEqual([...s.globalStep], [0, 10, 10, 11, 11, 20, 20, 20, 2 ** 53 - 1])
  t.is(run.histograms('h')[0].globalStep, 20)
  run.close()
  await b.finish()
  t.throws(() => b.log({ a: 1 }, { step: 2 ** 53 - 1 }), { instanceOf: ClosedError })
})

// ---------------------------------------------------------------------------------------------
// board.updateConfig(patch).

test('updateConfig merges top-level keys into metadata.config, atomically, visible at once', async (t) => {
  const b = new Board({ baseDir: tmp(), name: 'cfg', captureOutput: false, config: { lr: 0.1, depth: 4, nested: { a: 1 } } })
  const before = openRun(b.runDir).metadata
  b.updateConfig({ lr: 0.01, batch: 32, nested: { b: 2 }, list: [1, 'x', null] })
  const meta = openRun(b.runDir).metadata
  t.deepEqual(meta.config, { lr: 0.01, depth: 4, nested: { b: 2 }, batch: 32, list: [1, 'x', null] })
  for (const k of ['name', 'project', 'runId', 'createdAt', 'status', 'host', 'pid', 'argv'] as const) t.deepEqual(meta[k], before[k], k)
  b.updateConfig({ depth: 5, skipped: undefined })
  t.deepEqual(openRun(b.runDir).metadata.config, { lr: 0.01, depth: 5, nested: { b: 2 }, batch: 32, list: [1, 'x', null] })
  t.deepEqual(fs.readdirSync(b.runDir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind')
  // Bad patches: typed errors, config unchanged.
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  for (const bad of [null, undefined, 5, 'x', [1], new Map([['a', 1]]), new Date(), { f: () => 1 }, { s: Symbol('x') }, { n: 1n }, cyclic, { deep: { f: () => 1 } }]) {
    t.throws(() => b.updateConfig(bad as Record<string, unknown>), { instanceOf: InvalidArgumentError })
  }
  t.deepEqual(openRun(b.runDir).metadata.config, { lr: 0.01, depth: 5, nested: { b: 2 }, batch: 32, list: [1, 'x', null] })
  // Logging goes on; the final status does not lose the config.
  b.log({ loss: 1 })
  await b.finish()
  const done = openRun(b.runDir).metadata
  t.is(done.status, 'finished')
  t.deepEqual(done.config, { lr: 0.01, depth: 5, nested: { b: 2 }, batch: 32, list: [1, 'x', null] })
  t.throws(() => b.updateConfig({ lr: 1 }), { instanceOf: ClosedError })
  t.true(fs.existsSync(path.join(b.runDir, 'metadata.json')))
})

test('Table rows read own keys only: a column named constructor or toString is a column like any other', (t) => {
  const tab = new Table([{ a: 1 }, { constructor: 2, toString: 'x' }])
  t.deepEqual(tab.columns, ['a', 'constructor', 'toString'])
  t.deepEqual(tab.rows, [[1, null, null], [null, 2, 'x']])
  t.deepEqual(tab.types, ['number', 'number', 'string'])
})
