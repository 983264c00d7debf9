/**
 * Per-metric facts shared by the viewer's run list and the CLI (`amber runs`, `show`, `analyze`):
 * the last point, and summary statistics over a whole series.
 */
import type { Run } from '../board'

export interface LastPoint {
  step: number
  globalStep: number
  timestamp: number
  value: number
  count: number
}

/** The last logged point of every metric that has one, from the run's summaries (no point is read). */
export function lastPoints(run: Run): Map<string, LastPoint> {
  const out = new Map<string, LastPoint>()
  for (const s of run.summaries()) {
    if (s.count === 0 || s.lastStep === null) continue
    out.set(s.name, { step: s.lastStep, globalStep: s.lastGlobalStep ?? 0, timestamp: s.lastTimestamp ?? 0, value: s.lastValue ?? NaN, count: s.count })
  }
  return out
}

export interface MetricStats {
  name: string
  count: number
  nonFinite: number
  first: number
  last: number
  min: number
  minStep: number
  max: number
  maxStep: number
  mean: number
  std: number
  firstStep: number
  lastStep: number
}

/** Statistics over the finite values; NaN/Inf are counted, not averaged. */
export function metricStats(name: string, s: { step: ArrayLike<number | bigint>; value: ArrayLike<number> }): MetricStats {
  const n = s.value.length
  let count = 0
  let nonFinite = 0
  let min = Infinity
  let max = -Infinity
  let minStep = NaN
  let maxStep = NaN
  let mean = 0
  let m2 = 0
  for (let i = 0; i < n; i++) {
    const v = s.value[i]
    if (!Number.isFinite(v)) {
      nonFinite++
      continue
    }
    count++
    // Welford: stable for a million points of similar magnitude.
    const d = v - mean
    mean += d / count
    m2 += d * (v - mean)
    if (v < min) {
      min = v
      minStep = Number(s.step[i])
    }
    if (v > max) {
      max = v
      maxStep = Number(s.step[i])
    }
  }
  return {
    name,
    count: n,
    nonFinite,
    first: n ? s.value[0] : NaN,
    last: n ? s.value[n - 1] : NaN,
    min: count ? min : NaN,
    minStep,
    max: count ? max : NaN,
    maxStep,
    mean: count ? mean : NaN,
    std: count > 1 ? Math.sqrt(m2 / (count - 1)) : count === 1 ? 0 : NaN,
    firstStep: n ? Number(s.step[0]) : NaN,
    lastStep: n ? Number(s.step[n - 1]) : NaN,
  }
}
