/**
 * What a chart asks of a metric's points, in TypeScript so that both viewer backends (run folders,
 * ../viewer/data, and the team server's database, ../server/pg) shape a zoomed read alike without
 * one depending on the other: the points within a step range, and the min/max downsample.
 *
 * The downsample is the local reader's rule (crates/ambervault-core/src/board/reader.rs,
 * `downsample`), so a chart looks the same whichever side cut it. In each bucket of consecutive
 * points it keeps, in step order and each once:
 * - the point with the smallest finite value and the one with the largest (the first of equals);
 * - the first non-finite point (NaN or ±Infinity: what a user hunts for). A bucket with no finite
 *   value thus keeps its first point only.
 * and the first and last points of the series. n points are split into floor((maxPoints - 2) / 2)
 * buckets by index, so a result of finite values holds at most maxPoints points; with non-finite
 * values up to 3 · floor((maxPoints - 2) / 2) + 2 (the local reader does the same).
 */
import { InvalidArgumentError } from '../errors'

/** A metric's points as parallel columns (the reader's ScalarSeries, a decoded server chunk). */
export interface PointColumns {
  step: Float64Array
  globalStep: Float64Array
  timestamp: Float64Array
  value: Float64Array
}

/**
 * At most about `maxPoints` of `cols`: the points themselves when there are no more than that,
 * else each bucket's extremes in order.
 */
export function downsample(cols: PointColumns, maxPoints: number): PointColumns {
  const n = cols.value.length
  if (!(Number.isInteger(maxPoints) && maxPoints >= 2)) throw new InvalidArgumentError(`maxPoints must be an integer >= 2 (got ${maxPoints})`)
  if (n <= maxPoints) return cols
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2))
  const keep: number[] = []
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets)
    const hi = Math.min(n, Math.floor(((b + 1) * n) / buckets))
    if (lo < hi) keepExtremes(cols.value, lo, hi, keep)
  }
  return pickPoints(cols, withEnds(keep, n))
}

/**
 * The points whose step is within [start, end] (inclusive; either side open when undefined), in
 * their order. A filter, not a search: nothing here assumes the steps ascend.
 */
export function withinSteps(cols: PointColumns, start?: number, end?: number): PointColumns {
  const lo = start ?? -Infinity
  const hi = end ?? Infinity
  const s = cols.step
  const keep: number[] = []
  for (let i = 0; i < s.length; i++) if (s[i] >= lo && s[i] <= hi) keep.push(i)
  return keep.length === s.length ? cols : pickPoints(cols, keep)
}

/**
 * `keep` (ascending) with the first and last of n points added when missing: a line ends where
 * the metric does, and a live chart resumes after the real last step.
 */
export function withEnds(keep: number[], n: number): number[] {
  if (n === 0) return keep
  if (keep[0] !== 0) keep.unshift(0)
  if (keep[keep.length - 1] !== n - 1) keep.push(n - 1)
  return keep
}

/** Push the indices bucket v[lo, hi) keeps (hi > lo), ascending, each once. */
export function keepExtremes(v: Float64Array, lo: number, hi: number, keep: number[]): void {
  let imin = lo
  let imax = lo
  let special = -1
  for (let i = lo; i < hi; i++) {
    const x = v[i]
    if (x - x !== 0) {
      // NaN or ±Infinity
      if (special < 0) special = i
      continue
    }
    if (v[imin] - v[imin] !== 0 || x < v[imin]) imin = i
    if (v[imax] - v[imax] !== 0 || x > v[imax]) imax = i
  }
  const a = Math.min(imin, imax)
  const b = Math.max(imin, imax)
  if (special < 0 || special === a || special === b) {
    keep.push(a)
    if (b !== a) keep.push(b)
  } else if (a === b) {
    if (special < a) keep.push(special, a)
    else keep.push(a, special)
  } else if (special < a) {
    keep.push(special, a, b)
  } else if (special < b) {
    keep.push(a, special, b)
  } else {
    keep.push(a, b, special)
  }
}

/** The points at indices `keep`, in that order. */
export function pickPoints(cols: PointColumns, keep: number[]): PointColumns {
  const take = (c: Float64Array) => {
    const out = new Float64Array(keep.length)
    for (let i = 0; i < keep.length; i++) out[i] = c[keep[i]]
    return out
  }
  return { step: take(cols.step), globalStep: take(cols.globalStep), timestamp: take(cols.timestamp), value: take(cols.value) }
}
