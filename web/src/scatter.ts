/**
 * A scatter of the compared runs over any two columns (config keys or metric summaries), on a
 * canvas, each run a dot in its colour. A categorical axis spreads a category's dots a little
 * (by a hash of the run key, so a dot stays put across redraws). Hovering a dot names the run.
 */
import { colorFor } from './colors'
import { cellText, valueOf } from './columns'
import type { RunData } from './columns'
import { h } from './dom'
import { axisFor, clip, fitCanvas } from './scales'
import type { Axis } from './scales'

const PAD = { top: 12, right: 16, bottom: 40, left: 64 }
const HEIGHT = 300

function jitter(key: string): number {
  let x = 0
  for (let i = 0; i < key.length; i++) x = (x * 31 + key.charCodeAt(i)) | 0
  return ((x >>> 0) % 1000) / 1000 - 0.5
}

export class Scatter {
  readonly el: HTMLElement
  private readonly canvas = h('canvas', { class: 'scatter' })
  private readonly tip = h('div', { class: 'scatter-tip' })
  private runs: RunData[] = []
  private x: Axis | null = null
  private y: Axis | null = null
  /** Where each run's dot was drawn (for hovering). */
  private dots: { r: RunData; px: number; py: number }[] = []

  constructor() {
    this.el = h('div', { class: 'scatter-box' }, this.canvas, this.tip)
    this.tip.hidden = true
    this.canvas.addEventListener('pointermove', (ev) => this.hover(ev))
    this.canvas.addEventListener('pointerleave', () => (this.tip.hidden = true))
  }

  set(runs: RunData[], xCol: string, yCol: string): void {
    this.runs = runs
    this.x = xCol ? axisFor(xCol, runs) : null
    this.y = yCol ? axisFor(yCol, runs) : null
    this.draw()
  }

  draw(): void {
    const W = Math.max(320, Math.round(this.el.clientWidth || 480))
    const ctx = fitCanvas(this.canvas, W, HEIGHT)
    ctx.clearRect(0, 0, W, HEIGHT)
    this.dots = []
    const { x, y } = this
    const pw = W - PAD.left - PAD.right
    const ph = HEIGHT - PAD.top - PAD.bottom
    // A little margin inside the plot, so dots at the ends show whole.
    const X = (t: number) => PAD.left + (0.03 + 0.94 * t) * pw
    const Y = (t: number) => PAD.top + (1 - (0.03 + 0.94 * t)) * ph
    ctx.font = '11px system-ui, sans-serif'
    if (!x || !y) {
      ctx.fillStyle = '#8b97a3'
      ctx.fillText('choose two columns', PAD.left, PAD.top + 20)
      this.canvas.dataset.points = '0'
      return
    }
    // Grid and tick labels.
    ctx.lineWidth = 1
    for (const tk of x.ticks()) {
      ctx.strokeStyle = '#2a3038'
      ctx.beginPath()
      ctx.moveTo(X(tk.t), Y(0))
      ctx.lineTo(X(tk.t), Y(1))
      ctx.stroke()
      ctx.fillStyle = '#9aa'
      ctx.textAlign = 'center'
      ctx.textBaseline = 'top'
      ctx.fillText(clip(ctx, tk.label, 80), X(tk.t), Y(0) + 4)
    }
    for (const tk of y.ticks()) {
      ctx.strokeStyle = '#2a3038'
      ctx.beginPath()
      ctx.moveTo(X(0), Y(tk.t))
      ctx.lineTo(X(1), Y(tk.t))
      ctx.stroke()
      ctx.fillStyle = '#9aa'
      ctx.textAlign = 'right'
      ctx.textBaseline = 'middle'
      ctx.fillText(clip(ctx, tk.label, PAD.left - 8), X(0) - 4, Y(tk.t))
    }
    ctx.fillStyle = '#d6dde4'
    ctx.textAlign = 'center'
    ctx.textBaseline = 'bottom'
    ctx.fillText(clip(ctx, `${x.label}${x.log ? ' (log)' : ''}`, pw), X(0.5), HEIGHT - 2)
    // A category's dots spread over part of its slot.
    const place = (a: Axis, t: number, key: string, span: number) => (a.kind === 'cat' ? t + jitter(key) * span : t)
    const xSpan = x.kind === 'cat' ? 0.6 / Math.max(1, x.ticks().length) : 0
    const ySpan = y.kind === 'cat' ? 0.6 / Math.max(1, y.ticks().length) : 0
    for (const r of this.runs) {
      const tx = x.pos(valueOf(r, x.col))
      const ty = y.pos(valueOf(r, y.col))
      if (tx === null || ty === null) continue
      const px = X(place(x, tx, r.row.key, xSpan))
      const py = Y(place(y, ty, `${r.row.key}y`, ySpan))
      this.dots.push({ r, px, py })
    }
    const radius = this.dots.length > 300 ? 2.5 : 4
    ctx.globalAlpha = this.dots.length > 300 ? 0.7 : 0.9
    for (const d of this.dots) {
      ctx.fillStyle = colorFor(d.r.row.key)
      ctx.beginPath()
      ctx.arc(d.px, d.py, radius, 0, Math.PI * 2)
      ctx.fill()
    }
    ctx.globalAlpha = 1
    // The y label, turned.
    ctx.save()
    ctx.translate(12, Y(0.5))
    ctx.rotate(-Math.PI / 2)
    ctx.textAlign = 'center'
    ctx.textBaseline = 'middle'
    ctx.fillStyle = '#d6dde4'
    ctx.fillText(clip(ctx, `${y.label}${y.log ? ' (log)' : ''}`, ph), 0, 0)
    ctx.restore()
    this.canvas.dataset.points = String(this.dots.length)
    this.el.dataset.drawn = '1'
  }

  private hover(ev: PointerEvent): void {
    const rect = this.canvas.getBoundingClientRect()
    const mx = ev.clientX - rect.left
    const my = ev.clientY - rect.top
    let best: (typeof this.dots)[number] | null = null
    let bestD = 64
    for (const d of this.dots) {
      const dd = (d.px - mx) ** 2 + (d.py - my) ** 2
      if (dd < bestD) {
        bestD = dd
        best = d
      }
    }
    if (!best || !this.x || !this.y) {
      this.tip.hidden = true
      return
    }
    this.tip.hidden = false
    this.tip.textContent = `${best.r.row.name} · ${this.x.label} ${cellText(valueOf(best.r, this.x.col))} · ${this.y.label} ${cellText(valueOf(best.r, this.y.col))}`
    this.tip.style.left = `${Math.min(best.px + 10, rect.width - 220)}px`
    this.tip.style.top = `${best.py + 10}px`
  }
}
