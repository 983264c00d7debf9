/**
 * Histograms over steps: a heatmap (x = logged entry in step order, y = value, colour = count on a
 * log scale) and the distribution at one chosen step as bars. Entries may have different bin
 * edges, so every entry is resampled onto one shared value range for the heatmap. Steps logged
 * while the page is open arrive from the live stream and widen the heatmap in place.
 */
import { api } from './api'
import type { HistogramEntry } from './api'
import { clear, fmtNum, h, stepSlider } from './dom'
import type { StepSlider } from './dom'
import { fresh } from './liveview'
import type { LiveLogView } from './liveview'

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

export async function renderHistograms(body: HTMLElement, key: string, names: string[], onWatchChange: () => void): Promise<LiveLogView> {
  const empty = h('p', { class: 'empty' }, 'No histograms logged.')
  const picker = h('select', { class: 'histogram-name' })
  const toolbar = h('div', { class: 'toolbar' }, picker)
  const view = h('div', { class: 'histogram-view' })
  body.append(empty, toolbar, view)
  const known = new Set<string>()
  // The one histogram on screen: its entries grow while the run logs.
  let shown: { name: string; entries: HistogramEntry[]; redraw: () => void; slider: StepSlider } | null = null

  const show = async () => {
    clear(view)
    shown = null
    const name = picker.value
    const entries = (await api.histograms(key, name)).sort((a, b) => a.step - b.step)
    if (entries.length === 0) {
      view.append(h('p', { class: 'empty' }, 'empty'))
      return
    }
    const title = h('h4', {})
    const heatCanvas = h('canvas', { width: 900, height: 260, class: 'heatmap' })
    const bars = h('canvas', { width: 900, height: 180, class: 'bars' })
    const slider = stepSlider(entries.length, (i) => `step ${entries[i].step} · global ${entries[i].globalStep}`, (i) => drawBars(bars, entries[i]))
    const redraw = () => {
      title.textContent = `${name}: ${entries.length} steps (heatmap, value ↑, step →)`
      drawHeatmap(heatCanvas, entries)
      view.dataset.entries = String(entries.length)
    }
    redraw()
    drawBars(bars, entries[entries.length - 1])
    view.append(title, heatCanvas, h('h4', {}, 'at one step'), slider.el, bars)
    shown = { name, entries, redraw, slider }
    view.dataset.loaded = '1'
  }
  const setNames = async (now: string[]) => {
    const added = now.filter((n) => !known.has(n))
    for (const n of added) {
      known.add(n)
      picker.append(h('option', { value: n }, n))
    }
    empty.hidden = known.size > 0
    toolbar.hidden = known.size === 0
    if (!shown && known.size > 0) {
      await show()
      onWatchChange()
    }
  }
  picker.addEventListener('change', () => void show().then(onWatchChange))
  await setNames(names)
  return {
    kind: 'histograms',
    watches: () => (shown ? [{ name: shown.name, have: shown.entries.length }] : []),
    append: (name, from, entries) => {
      if (!shown || shown.name !== name) return
      const add = fresh(shown.entries.length, from, entries as HistogramEntry[])
      if (add.length === 0) return
      shown.entries.push(...add)
      shown.redraw()
      shown.slider.grow(shown.entries.length)
    },
    setNames,
  }
}
