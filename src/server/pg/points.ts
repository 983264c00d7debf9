/** Runs of points as four columns (./chunk's PointColumns): slicing and joining them. */
import type { PointColumns } from './chunk'

export const FIELDS = ['step', 'globalStep', 'timestamp', 'value'] as const

export function emptyColumns(): PointColumns {
  return { step: new Float64Array(0), globalStep: new Float64Array(0), timestamp: new Float64Array(0), value: new Float64Array(0) }
}

/** Points `start` to `end` (views, no copy). */
export function sliceColumns(c: PointColumns, start: number, end: number): PointColumns {
  return { step: c.step.subarray(start, end), globalStep: c.globalStep.subarray(start, end), timestamp: c.timestamp.subarray(start, end), value: c.value.subarray(start, end) }
}

/** The runs one after the other (the one run itself when there is only one). */
export function concatColumns(parts: PointColumns[]): PointColumns {
  if (parts.length === 1) return parts[0]
  const n = parts.reduce((a, p) => a + p.value.length, 0)
  const out = { step: new Float64Array(n), globalStep: new Float64Array(n), timestamp: new Float64Array(n), value: new Float64Array(n) }
  let at = 0
  for (const p of parts) {
    for (const f of FIELDS) out[f].set(p[f], at)
    at += p.value.length
  }
  return out
}

/** The smallest and largest step of a run of points (what reads by step compare). */
export function stepRange(c: PointColumns): { min: number; max: number } {
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < c.step.length; i++) {
    const s = c.step[i]
    if (s < min) min = s
    if (s > max) max = s
  }
  return { min, max }
}

/** The range of the values that are not NaN (±Infinity included), merged with a previous one. */
export function valueRange(c: PointColumns, min: number | null, max: number | null): { min: number | null; max: number | null } {
  for (let i = 0; i < c.value.length; i++) {
    const v = c.value[i]
    if (Number.isNaN(v)) continue
    if (min === null || v < min) min = v
    if (max === null || v > max) max = v
  }
  return { min, max }
}
