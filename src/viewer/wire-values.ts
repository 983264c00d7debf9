/**
 * Values shaped for the JSON the viewer's API sends (./wire): JSON has no NaN or ±Infinity, so
 * those travel as strings, whichever backend read them.
 */
import type { MetricSummary } from '../board'
import type { MetricStats } from './wire'

export function jsonNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v)
}

/** A metric summary (either backend's) as the runs table and compare view get it. */
export function metricStats(m: Pick<MetricSummary, 'count' | 'lastStep' | 'lastValue' | 'min' | 'max'>): MetricStats {
  const num = (v: number | null) => (v === null ? null : jsonNumber(v))
  return { count: m.count, last: m.count > 0 ? num(m.lastValue) : null, min: num(m.min), max: num(m.max), lastStep: m.lastStep }
}
