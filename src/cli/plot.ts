/**
 * `amber analyze --plot`: the chosen metrics' curves drawn into a PNG without a browser, one panel
 * per metric, the raw line faint and the debiased-EMA smoothed line over it (as in the viewer).
 * Drawing uses @napi-rs/canvas (Skia, prebuilt binary from the registry, no install script).
 */
import { writeFileSync } from 'node:fs'
import { createCanvas } from '@napi-rs/canvas'
import type { SKRSContext2D } from '@napi-rs/canvas'
import { debiasedEma } from '../viewer/smooth'
import { fmt } from './format'

export interface PlotSeries {
  name: string
  step: ArrayLike<number | bigint>
  value: ArrayLike<number>
}

export interface PlotOptions {
  width?: number
  panelHeight?: number
  columns?: number
  smoothing?: number
  title?: string
}

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f']

function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = Math.pow(10, Math.floor(Math.log10(raw)))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function panel(ctx: SKRSContext2D, s: PlotSeries, x0: number, y0: number, w: number, h: number, color: string, smoothing: number): void {
  const left = x0 + 62
  const right = x0 + w - 12
  const top = y0 + 26
  const bottom = y0 + h - 26
  ctx.fillStyle = '#222'
  ctx.font = 'bold 13px sans-serif'
  ctx.fillText(s.name, left, y0 + 16)
  const n = s.value.length
  const xs = Array.from({ length: n }, (_, i) => Number(s.step[i]))
  const ys = Array.from({ length: n }, (_, i) => s.value[i])
  const finite = ys.filter(Number.isFinite)
  if (n === 0 || finite.length === 0) {
    ctx.fillStyle = '#888'
    ctx.font = '12px sans-serif'
    ctx.fillText('no finite values', left, top + 20)
    return
  }
  let lo = Math.min(...finite)
  let hi = Math.max(...finite)
  if (hi === lo) {
    lo -= 0.5
    hi += 0.5
  }
  // A little room above and below so the curve never sits on the frame.
  const pad = (hi - lo) * 0.05
  lo -= pad
  hi += pad
  const xlo = xs[0]
  const xhi = xs[n - 1] === xlo ? xlo + 1 : xs[n - 1]
  const px = (x: number) => left + ((x - xlo) / (xhi - xlo)) * (right - left)
  const py = (y: number) => bottom - ((y - lo) / (hi - lo)) * (bottom - top)

  ctx.strokeStyle = '#e6e6e6'
  ctx.lineWidth = 1
  ctx.fillStyle = '#555'
  ctx.font = '11px sans-serif'
  for (const t of niceTicks(lo, hi, 4)) {
    ctx.beginPath()
    ctx.moveTo(left, py(t))
    ctx.lineTo(right, py(t))
    ctx.stroke()
    const label = fmt(t, 4)
    ctx.fillText(label, left - 6 - ctx.measureText(label).width, py(t) + 4)
  }
  for (const t of niceTicks(xlo, xhi, 5)) {
    ctx.beginPath()
    ctx.moveTo(px(t), top)
    ctx.lineTo(px(t), bottom)
    ctx.stroke()
    const label = fmt(t, 6)
    ctx.fillText(label, px(t) - ctx.measureText(label).width / 2, bottom + 14)
  }
  ctx.strokeStyle = '#999'
  ctx.strokeRect(left, top, right - left, bottom - top)

  const line = (vals: (number | null)[], stroke: string, width: number) => {
    ctx.strokeStyle = stroke
    ctx.lineWidth = width
    ctx.beginPath()
    let pen = false
    for (let i = 0; i < n; i++) {
      const v = vals[i]
      if (v === null || !Number.isFinite(v)) {
        pen = false
        continue
      }
      if (pen) ctx.lineTo(px(xs[i]), py(v))
      else ctx.moveTo(px(xs[i]), py(v))
      pen = true
    }
    ctx.stroke()
  }
  ctx.save()
  ctx.beginPath()
  ctx.rect(left, top, right - left, bottom - top)
  ctx.clip()
  if (smoothing > 0) {
    ctx.globalAlpha = 0.25
    line(ys, color, 1)
    ctx.globalAlpha = 1
    line(debiasedEma(ys, smoothing), color, 2)
  } else {
    line(ys, color, 1.5)
  }
  ctx.restore()
}

/** Draw the series (already downsampled to about the panel width) and write the PNG. */
export function plotToPng(out: string, series: PlotSeries[], opts: PlotOptions = {}): { width: number; height: number; bytes: number } {
  const columns = Math.max(1, Math.min(opts.columns ?? (series.length > 1 ? 2 : 1), series.length || 1))
  const width = opts.width ?? 1200
  const ph = opts.panelHeight ?? 300
  const rows = Math.max(1, Math.ceil(series.length / columns))
  const header = opts.title ? 30 : 0
  const height = header + rows * ph
  const canvas = createCanvas(width, height)
  const ctx = canvas.getContext('2d')
  ctx.fillStyle = '#ffffff'
  ctx.fillRect(0, 0, width, height)
  if (opts.title) {
    ctx.fillStyle = '#111'
    ctx.font = 'bold 15px sans-serif'
    ctx.fillText(opts.title, 12, 20)
  }
  const pw = width / columns
  series.forEach((s, i) => {
    const c = i % columns
    const r = Math.floor(i / columns)
    panel(ctx, s, c * pw, header + r * ph, pw, ph, COLORS[i % COLORS.length], opts.smoothing ?? 0.6)
  })
  const png = canvas.toBuffer('image/png')
  writeFileSync(out, png)
  return { width, height, bytes: png.length }
}
