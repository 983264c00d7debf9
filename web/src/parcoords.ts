/**
 * Parallel coordinates on a canvas: one vertical axis per config column and the chosen metric
 * summary last, one polyline per run, coloured by its metric value. Runs outside the filters are
 * drawn faint behind the others. Dragging along a numeric axis brushes a range: it becomes that
 * column's range filter (so the table, the URL and the other views follow), and a click on the
 * axis clears it. A canvas, not SVG: 1,000 runs x 10 axes is a few thousand line segments drawn in
 * milliseconds, where as many DOM nodes would make brushing stutter.
 */
import { colorFor } from './colors'
import { parseFilter, valueOf } from './columns'
import type { RunData } from './columns'
import { h } from './dom'
import { axisFor, clip, fitCanvas, ramp } from './scales'
import type { Axis } from './scales'

const PAD = { top: 40, bottom: 22, left: 56, right: 64 }
const HEIGHT = 300
/** How close (px) to an axis a drag must start to brush it. */
const GRAB = 16

export interface BrushEvents {
  /** A brushed value range on a column (null: cleared); `done` once the drag ends. */
  brush(col: string, range: [number, number] | null, done: boolean): void
}

export class ParCoords {
  readonly el: HTMLElement
  private readonly canvas = h('canvas', { class: 'parcoords' })
  private axes: Axis[] = []
  private base: RunData[] = []
  private on = new Set<string>()
  private filters = new Map<string, string>()
  /** The brush being dragged: axis index and its two ends in px. */
  private drag: { axis: number; y0: number; y1: number } | null = null

  constructor(private readonly events: BrushEvents) {
    this.el = h('div', { class: 'parcoords-box' }, this.canvas)
    this.canvas.addEventListener('pointerdown', (ev) => this.down(ev))
    this.canvas.addEventListener('pointermove', (ev) => this.move(ev))
    this.canvas.addEventListener('pointerup', (ev) => this.up(ev))
    this.canvas.addEventListener('pointercancel', () => {
      this.drag = null
      this.draw()
    })
  }

  /**
   * Draw `base` (the runs compared) on axes for `cols` (the last one the colouring metric),
   * those in `on` in colour and the rest faint; `filters` gives the brushes to show.
   */
  set(base: RunData[], on: Set<string>, cols: string[], filters: Map<string, string>): void {
    this.base = base
    this.on = on
    this.filters = filters
    this.axes = cols.map((c) => axisFor(c, base))
    this.draw()
  }

  private width(): number {
    return Math.max(480, Math.round(this.el.clientWidth || 960))
  }

  private xOf(i: number): number {
    const n = this.axes.length
    const w = this.width() - PAD.left - PAD.right
    return n <= 1 ? PAD.left + w / 2 : PAD.left + (i * w) / (n - 1)
  }

  private yOf(t: number): number {
    return PAD.top + (1 - t) * (HEIGHT - PAD.top - PAD.bottom)
  }

  private tOf(y: number): number {
    return Math.min(1, Math.max(0, 1 - (y - PAD.top) / (HEIGHT - PAD.top - PAD.bottom)))
  }

  /** A brush's ends in axis positions: the one being dragged, else the column's range filter. */
  private brushOf(i: number): [number, number] | null {
    const a = this.axes[i]
    if (this.drag && this.drag.axis === i) {
      const t0 = this.tOf(this.drag.y0)
      const t1 = this.tOf(this.drag.y1)
      return [Math.min(t0, t1), Math.max(t0, t1)]
    }
    const raw = this.filters.get(a.col)
    if (!raw || a.kind !== 'num') return null
    const f = parseFilter(raw, true)
    if (f.kind !== 'range') return null
    const lo = Number.isFinite(f.min) ? (a.pos(f.min) ?? 0) : 0
    const hi = Number.isFinite(f.max) ? (a.pos(f.max) ?? 1) : 1
    return [Math.max(0, Math.min(lo, hi)), Math.min(1, Math.max(lo, hi))]
  }

  draw(): void {
    const W = this.width()
    const ctx = fitCanvas(this.canvas, W, HEIGHT)
    ctx.clearRect(0, 0, W, HEIGHT)
    const axes = this.axes
    const metric = axes[axes.length - 1]
    const colour = (r: RunData) => {
      const t = metric?.pos(valueOf(r, metric.col))
      return t === null || t === undefined || axes.length < 2 ? colorFor(r.row.key) : ramp(t)
    }
    // While a brush is dragged the lines follow it at once, before the table has caught up.
    const dragged = this.drag ? this.brushOf(this.drag.axis) : null
    const inDrag = (r: RunData) => {
      if (!this.drag || !dragged) return true
      const t = axes[this.drag.axis].pos(valueOf(r, axes[this.drag.axis].col))
      return t !== null && t >= dragged[0] && t <= dragged[1]
    }
    const line = (r: RunData) => {
      let pen = false
      ctx.beginPath()
      for (let i = 0; i < axes.length; i++) {
        const t = axes[i].pos(valueOf(r, axes[i].col))
        if (t === null) {
          pen = false
          continue
        }
        const x = this.xOf(i)
        const y = this.yOf(t)
        if (pen) ctx.lineTo(x, y)
        else ctx.moveTo(x, y)
        pen = true
      }
      ctx.stroke()
    }
    const lit: RunData[] = []
    ctx.lineWidth = 1
    ctx.strokeStyle = 'rgba(110,120,135,0.22)'
    for (const r of this.base) {
      if (this.on.has(r.row.key) && inDrag(r)) lit.push(r)
      else line(r)
    }
    // Many runs: thinner, more transparent lines, so the dense bundles still read.
    ctx.globalAlpha = lit.length > 200 ? 0.45 : 0.85
    ctx.lineWidth = lit.length > 200 ? 1 : 1.6
    for (const r of lit) {
      ctx.strokeStyle = colour(r)
      line(r)
    }
    ctx.globalAlpha = 1

    // Axes, their ticks and names, and the brushes.
    ctx.font = '11px system-ui, sans-serif'
    ctx.lineJoin = 'round'
    const gap = axes.length > 1 ? this.xOf(1) - this.xOf(0) : W
    axes.forEach((a, i) => {
      const x = this.xOf(i)
      const b = this.brushOf(i)
      if (b) {
        ctx.fillStyle = 'rgba(242,163,58,0.22)'
        ctx.strokeStyle = 'rgba(242,163,58,0.9)'
        ctx.fillRect(x - 8, this.yOf(b[1]), 16, Math.max(2, this.yOf(b[0]) - this.yOf(b[1])))
        ctx.strokeRect(x - 8, this.yOf(b[1]), 16, Math.max(2, this.yOf(b[0]) - this.yOf(b[1])))
      }
      ctx.strokeStyle = '#8b97a3'
      ctx.lineWidth = 1
      ctx.beginPath()
      ctx.moveTo(x, this.yOf(1))
      ctx.lineTo(x, this.yOf(0))
      ctx.stroke()
      ctx.fillStyle = '#9aa'
      ctx.textAlign = 'right'
      ctx.textBaseline = 'middle'
      for (const tk of a.ticks()) {
        // A halo in the panel's colour keeps a label readable over the lines.
        const text = clip(ctx, tk.label, Math.min(90, gap * 0.45))
        ctx.strokeStyle = '#161b22'
        ctx.lineWidth = 3
        ctx.strokeText(text, x - 4, this.yOf(tk.t))
        ctx.fillText(text, x - 4, this.yOf(tk.t))
        ctx.strokeStyle = '#8b97a3'
        ctx.lineWidth = 1
        ctx.beginPath()
        ctx.moveTo(x - 3, this.yOf(tk.t))
        ctx.lineTo(x, this.yOf(tk.t))
        ctx.stroke()
      }
      ctx.fillStyle = i === axes.length - 1 && axes.length > 1 ? '#f2a33a' : '#d6dde4'
      ctx.textAlign = i === 0 ? 'left' : i === axes.length - 1 ? 'right' : 'center'
      ctx.textBaseline = 'alphabetic'
      const label = `${a.label}${a.log ? ' (log)' : ''}`
      const lx = i === 0 ? x - PAD.left + 4 : i === axes.length - 1 ? x + PAD.right - 4 : x
      ctx.fillText(clip(ctx, label, Math.max(60, gap - 8)), lx, 16)
    })
    // Where the axes are, for the browser tests (and anyone inspecting the page).
    this.canvas.dataset.axes = String(axes.length)
    this.canvas.dataset.axisCols = JSON.stringify(axes.map((a) => a.col))
    this.canvas.dataset.axisX = JSON.stringify(axes.map((_, i) => this.xOf(i)))
    this.canvas.dataset.plotY = JSON.stringify([this.yOf(1), this.yOf(0)])
    this.canvas.dataset.lines = String(lit.length)
    this.canvas.dataset.faint = String(this.base.length - lit.length)
    this.canvas.dataset.targetValues = String(metric ? this.base.filter((r) => metric.pos(valueOf(r, metric.col)) !== null).length : 0)
    this.el.dataset.drawn = '1'
  }

  private axisAt(x: number): number {
    for (let i = 0; i < this.axes.length; i++) if (Math.abs(x - this.xOf(i)) <= GRAB && this.axes[i].kind === 'num') return i
    return -1
  }

  private point(ev: PointerEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect()
    return { x: ev.clientX - r.left, y: ev.clientY - r.top }
  }

  private down(ev: PointerEvent): void {
    const p = this.point(ev)
    const i = this.axisAt(p.x)
    if (i < 0) return
    this.canvas.setPointerCapture(ev.pointerId)
    this.drag = { axis: i, y0: p.y, y1: p.y }
    ev.preventDefault()
  }

  private move(ev: PointerEvent): void {
    const p = this.point(ev)
    if (!this.drag) {
      this.canvas.style.cursor = this.axisAt(p.x) >= 0 ? 'ns-resize' : 'default'
      return
    }
    this.drag.y1 = p.y
    // The page refreshes at the next frame and draws this again with the filtered runs.
    this.emit(false)
  }

  private up(ev: PointerEvent): void {
    if (!this.drag) return
    this.drag.y1 = this.point(ev).y
    this.emit(true)
    // The page refreshes at the next frame and draws the brush from the filter it now has.
    this.drag = null
  }

  private emit(done: boolean): void {
    if (!this.drag) return
    const a = this.axes[this.drag.axis]
    // A click (no real drag) clears the axis' brush.
    if (Math.abs(this.drag.y1 - this.drag.y0) < 3) {
      if (done) this.events.brush(a.col, null, true)
      return
    }
    const b = this.brushOf(this.drag.axis) as [number, number]
    this.events.brush(a.col, [a.at(b[0]), a.at(b[1])], done)
  }
}
