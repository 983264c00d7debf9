/**
 * The viewer's pure parts: TensorBoard smoothing, name/path validation (traversal refused before
 * any file is touched), stable colours, summary statistics, namespace grouping and how a live view
 * merges pushed entries.
 */
import test from 'ava'
import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { debiasedEma } from '../src/viewer/smooth'
import { HttpError, checkMetricName, checkSegment, resolveRunDir } from '../src/viewer/paths'
import { metricStats } from '../src/viewer/summary'
import { namespaceOf } from '../src/viewer/routes'
import { colorFor, colorsFor } from '../web/src/colors'
import { fresh } from '../web/src/liveview'
import { tempDir } from './temp-dirs'

test('debiased EMA matches TensorBoard: first point unbiased, weight 0 is identity', (t) => {
  const v = [1, 2, 3, 4]
  t.deepEqual(debiasedEma(v, 0), v)
  const s = debiasedEma(v, 0.6) as number[]
  // TensorBoard: last = last*w + (1-w)*v ; smoothed = last / (1 - w^n)
  let last = 0
  v.forEach((x, i) => {
    last = last * 0.6 + 0.4 * x
    t.true(Math.abs(s[i] - last / (1 - Math.pow(0.6, i + 1))) < 1e-12)
  })
  t.is(s[0], 1) // no pull towards zero at the start
})

test('debiased EMA passes NaN/Infinity through without poisoning later points', (t) => {
  const s = debiasedEma([1, NaN, Infinity, 1], 0.9)
  t.is(s[0], 1)
  t.true(Number.isNaN(s[1] as number))
  t.is(s[2], Infinity)
  t.true(Math.abs((s[3] as number) - 1) < 1e-12)
})

test('path segments: traversal, separators, hidden names and NUL are refused with a 400', (t) => {
  for (const bad of ['..', '.', '../x', 'a/b', 'a\\b', '.hidden', '', 'a\0b', '%2e%2e', 'x..y']) {
    const e = t.throws(() => checkSegment('run', bad), { instanceOf: HttpError })
    t.is(e?.status, 400, bad)
  }
  t.is(checkSegment('run', 'abc123_note-1.2'), 'abc123_note-1.2')
})

test('metric names in URLs follow the one rule for names: anything but empty, control characters, lone surrogates, over 4,096 bytes', (t) => {
  for (const ok of ['train/loss', '../etc/passwd', 'a/./b', 'a\\b', '..', 'CON', ':*?"<>|%']) t.is(checkMetricName(ok), ok)
  for (const bad of ['x\ny', '', 'a\u0000', '\ud800', 'x'.repeat(4097)]) t.is(t.throws(() => checkMetricName(bad), { instanceOf: HttpError })?.status, 400)
})

test('resolveRunDir refuses a symlink that leads out of the base dir', (t) => {
  const root = tempDir('amber-paths-')
  const base = join(root, 'base')
  const outside = join(root, 'outside')
  mkdirSync(join(base, 'p', 'run1'), { recursive: true })
  mkdirSync(outside)
  symlinkSync(outside, join(base, 'p', 'escape'))
  t.is(resolveRunDir(base, 'p', 'run1'), join(base, 'p', 'run1'))
  t.is(t.throws(() => resolveRunDir(base, 'p', 'escape'), { instanceOf: HttpError })?.status, 403)
  t.is(t.throws(() => resolveRunDir(base, 'p', 'missing'), { instanceOf: HttpError })?.status, 404)
})

test('run colours are stable per key and distinct within an overlay', (t) => {
  t.is(colorFor('demo/run1'), colorFor('demo/run1'))
  const keys = Array.from({ length: 8 }, (_, i) => `p/run${i}`)
  const a = colorsFor(keys)
  const b = colorsFor([...keys].reverse())
  t.deepEqual([...a.entries()].sort(), [...b.entries()].sort())
  t.is(new Set(a.values()).size, keys.length)
})

test('metricStats: min/max with their steps, mean/std over finite values, non-finite counted', (t) => {
  const s = metricStats('m', { step: [0, 1, 2, 3, 4], value: [3, 1, NaN, 5, Infinity] })
  t.is(s.count, 5)
  t.is(s.nonFinite, 2)
  t.is(s.min, 1)
  t.is(s.minStep, 1)
  t.is(s.max, 5)
  t.is(s.maxStep, 3)
  t.is(s.mean, 3)
  t.is(s.std, 2)
  t.is(s.first, 3)
  t.is(s.last, Infinity)
})

test('namespaces: the part before the first slash', (t) => {
  t.is(namespaceOf('train/loss'), 'train')
  t.is(namespaceOf('train/a/b'), 'train')
  t.is(namespaceOf('lr'), '')
})

test('live entries: a view keeps only what it lacks, and nothing across a gap', (t) => {
  t.deepEqual(fresh(3, 3, ['d', 'e']), ['d', 'e'])
  // The stream started before the view's last fetch: the overlap is dropped, not shown twice.
  t.deepEqual(fresh(4, 2, ['c', 'd', 'e']), ['e'])
  t.deepEqual(fresh(5, 2, ['c', 'd', 'e']), [])
  // Entries after one the view never got would misplace it: none are taken.
  t.deepEqual(fresh(1, 3, ['d']), [])
})
