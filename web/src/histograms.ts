/**
 * Histograms over steps: a heatmap (x = logged entry in step order, y = value, colour = count on a
 * log scale) and the distribution at one chosen step as bars. Entries may have different bin
 * edges, so every entry is resampled onto one shared value range for the heatmap.
 */
import { api } from './api'
import type { HistogramEntry } from './api'
import { clear, fmtNum, h, stepSlider } from './dom'

const ROWS = 96

function heat(t: number): string {
  // A dark-to-amber ramp: readable on the dark page and in print.
  const r = Math.round(20 + 235 * Math.min(1, t * 1.4))
  const g = Math.round(24 + 170 * t)
  const b = Math.round(48 + 40 * (1 - t))
  return `rgb(${r},${g},${b})`
}

export function drawHeatmap(canvas: HTMLCanvasElement, entries: HistogramEntry[]): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D
  const W = canvas.width
  const H = canvas.height
  ctx.fillStyle = '#11161c'
  ctx.fillRect(0, 0, W, H)
  let lo = Infinity
  let hi = -Infinity
  for (const e of entries) {
    if (e.edges.length) {
      lo = Math.min(lo, e.edges[0])
      hi = Math.max(hi, e.edges[e.edges.length - 1])
    }
  }
  if (!(hi > lo)) return
  const grid = entries.map((e) => {
    const rows = new Float64Array(ROWS)
    for (let b = 0; b < e.counts.length; b++) {
      const a = ((e.edges[b] - lo) / (hi - lo)) * ROWS
      const z = ((e.edges[b + 1] - lo) / (hi - lo)) * ROWS
      const span = Math.max(z - a, 1e-9)
      for (let y = Math.floor(a); y < Math.min(ROWS, Math.ceil(z)); y++) {
        const overlap = Math.min(z, y + 1) - Math.max(a, y)
        if (overlap > 0) rows[y] += (e.counts[b] * overlap) / span
      }
    }
    return rows
  })
  let max = 0
  for (const rows of grid) for (const v of rows) max = Math.max(max, v)
  const cw = W / entries.length
  const ch = H / ROWS
  grid.forEach((rows, x) => {
    rows.forEach((v, y) => {
      if (v <= 0) return
      ctx.fillStyle = heat(Math.log1p(v) / Math.log1p(max))
      ctx.fillRect(Math.floor(x * cw), Math.floor(H - (y + 1) * ch), Math.ceil(cw), Math.ceil(ch))
    })
  })
  canvas.dataset.range = `${lo},${hi}`
}

export function drawBars(canvas: HTMLCanvasElement, e: HistogramEntry): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D
  const W = canvas.width
  const H = canvas.height
  ctx.fillStyle = '#11161c'
  ctx.fillRect(0, 0, W, H)
  const max = Math.max(1, ...e.counts)
  const lo = e.edges[0]
  const hi = e.edges[e.edges.length - 1]
  ctx.fillStyle = '#f2a33a'
  e.counts.forEach((c, b) => {
    const x0 = ((e.edges[b] - lo) / (hi - lo || 1)) * W
    const x1 = ((e.edges[b + 1] - lo) / (hi - lo || 1)) * W
    const bh = (c / max) * (H - 16)
    ctx.fillRect(x0, H - bh, Math.max(1, x1 - x0 - 1), bh)
  })
  ctx.fillStyle = '#9aa'
  ctx.font = '11px sans-serif'
  ctx.fillText(fmtNum(lo), 2, 11)
  const hiText = fmtNum(hi)
  ctx.fillText(hiText, W - ctx.measureText(hiText).width - 2, 11)
}

export async function renderHistograms(body: HTMLElement, key: string, names: string[]): Promise<void> {
  if (names.length === 0) {
    body.append(h('p', { class: 'empty' }, 'No histograms logged.'))
    return
  }
  const picker = h('select', { class: 'histogram-name' }, names.map((n) => h('option', { value: n }, n)))
  const view = h('div', { class: 'histogram-view' })
  body.append(h('div', { class: 'toolbar' }, picker), view)
  const show = async () => {
    clear(view)
    const entries = (await api.histograms(key, picker.value)).sort((a, b) => a.step - b.step)
    if (entries.length === 0) {
      view.append(h('p', { class: 'empty' }, 'empty'))
      return
    }
    const heatCanvas = h('canvas', { width: 900, height: 260, class: 'heatmap' })
    const bars = h('canvas', { width: 900, height: 180, class: 'bars' })
    drawHeatmap(heatCanvas, entries)
    drawBars(bars, entries[entries.length - 1])
    view.append(
      h('h4', {}, `${picker.value}: ${entries.length} steps (heatmap, value ↑, step →)`),
      heatCanvas,
      h('h4', {}, 'at one step'),
      stepSlider(entries.length, (i) => `step ${entries[i].step} · global ${entries[i].globalStep}`, (i) => drawBars(bars, entries[i])),
      bars,
    )
    view.dataset.loaded = '1'
  }
  picker.addEventListener('change', () => void show())
  await show()
}
