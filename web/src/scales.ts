/**
 * Axes for the compare view's canvases (parallel coordinates, scatter): a column's values mapped to
 * [0, 1] and back. Numbers get a linear axis, or a log one when all are positive and span two
 * decades or more (learning rates); anything else is categorical, one evenly spaced slot per
 * distinct value in natural order. Also the canvas set-up both views share.
 */
import { cellText, colLabel, compareValues, valueOf } from './columns'
import type { RunData, Scalar } from './columns'
import { fmtNum } from './dom'

export interface Axis {
  col: string
  label: string
  kind: 'num' | 'cat'
  log: boolean
  /** Where a value lies on the axis, 0 (low end) to 1; null for a run without a value. */
  pos(v: Scalar | undefined): number | null
  /** The value at a position (numeric axes). */
  at(t: number): number
  /** A few labelled positions. */
  ticks(): { t: number; label: string }[]
  /** True when the axis has at least one value. */
  any: boolean
}

export function axisFor(col: string, runs: RunData[]): Axis {
  const label = colLabel(col)
  const values = runs.map((r) => valueOf(r, col))
  const present = values.filter((v): v is Scalar => v !== undefined && v !== null)
  const nums = present.filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  if (present.length > 0 && nums.length === present.length) {
    const lo = Math.min(...nums)
    const hi = Math.max(...nums)
    const log = lo > 0 && hi / lo >= 100
    const f = log ? Math.log10 : (v: number) => v
    const g = log ? (t: number) => 10 ** t : (t: number) => t
    let a = f(lo)
    let b = f(hi)
    const single = a === b
    if (single) {
      // One value: in the middle, labelled alone (ticks around it would be values no run has).
      a -= 1
      b += 1
    }
    return {
      col,
      label,
      kind: 'num',
      log,
      any: true,
      pos: (v) => (typeof v === 'number' && Number.isFinite(v) ? (f(v) - a) / (b - a) : null),
      at: (t) => g(a + t * (b - a)),
      ticks: () => {
        if (single) return [{ t: 0.5, label: fmtNum(lo) }]
        if (log) {
          const out: { t: number; label: string }[] = []
          for (let e = Math.ceil(a - 1e-9); e <= Math.floor(b + 1e-9); e++) out.push({ t: (e - a) / (b - a), label: fmtNum(10 ** e) })
          return out.length >= 2 ? out : [{ t: 0, label: fmtNum(lo) }, { t: 1, label: fmtNum(hi) }]
        }
        return niceTicks(a, b).map((v) => ({ t: (v - a) / (b - a), label: fmtNum(v) }))
      },
    }
  }
  // Categorical: distinct values in natural order (numbers first), one slot each.
  const cats = [...new Set(present.map((v) => (typeof v === 'number' ? v : cellText(v))))].sort(compareValues)
  const index = new Map<Scalar, number>(cats.map((c, i) => [c, i]))
  const slot = (i: number) => (cats.length === 1 ? 0.5 : i / (cats.length - 1))
  return {
    col,
    label,
    kind: 'cat',
    log: false,
    any: cats.length > 0,
    pos: (v) => {
      if (v === undefined || v === null) return null
      const i = index.get(typeof v === 'number' ? v : cellText(v))
      return i === undefined ? null : slot(i)
    },
    at: (t) => t,
    // At most ~12 labels: a key with hundreds of values (a seed) would only print a smear.
    ticks: () => {
      const step = Math.max(1, Math.ceil(cats.length / 12))
      return cats.filter((_, i) => i % step === 0).map((c) => ({ t: slot(cats.indexOf(c)), label: typeof c === 'number' ? fmtNum(c) : String(c) }))
    },
  }
}

/** About five round tick values in [a, b]. */
export function niceTicks(a: number, b: number, n = 5): number[] {
  const span = b - a
  if (!(span > 0) || !Number.isFinite(span)) return [a]
  const raw = span / n
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(a / step) * step; v <= b + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

/** A canvas sized to its box in CSS pixels, drawn at the device's pixel ratio. */
export function fitCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr)
    canvas.height = Math.round(height * dpr)
    canvas.style.width = `${width}px`
    canvas.style.height = `${height}px`
  }
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
  return ctx
}

/**
 * A colour for t in [0, 1], violet through blue and green to amber: every stop stays bright enough
 * to read on the dark page (viridis' dark end would vanish).
 */
export function ramp(t: number): string {
  const stops = [
    [132, 94, 247],
    [64, 150, 238],
    [62, 196, 160],
    [196, 214, 72],
    [250, 160, 50],
  ]
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1)
  const i = Math.min(stops.length - 2, Math.floor(x))
  const f = x - i
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f))
  return `rgb(${c[0]},${c[1]},${c[2]})`
}

/** Text cut to fit `max` pixels, with an ellipsis. */
export function clip(ctx: CanvasRenderingContext2D, text: string, max: number): string {
  if (ctx.measureText(text).width <= max) return text
  let s = text
  while (s.length > 1 && ctx.measureText(`${s}…`).width > max) s = s.slice(0, -1)
  return `${s}…`
}
