/**
 * One metric's chart: every selected run overlaid in its colour, the smoothed line over the raw
 * line drawn faint, the x-axis chosen by the page. Points arriving live are appended to the raw
 * arrays and the chart redrawn; nothing is refetched.
 *
 * The overview is the whole metric downsampled to about a point per pixel, so most points of a
 * long run are not in it. Dragging over a chart zooms in at once on what the overview has, then
 * asks the server for the steps in that window at the same resolution and redraws with them;
 * double-clicking goes back to the overview.
 */
import uPlot from 'uplot'
import { api, num } from './api'
import type { Series } from './api'
import { h } from './dom'
import { debiasedEma } from '../../src/viewer/smooth'

export type XAxis = 'step' | 'globalStep' | 'wall' | 'relative'
export interface ChartSettings {
  xAxis: XAxis
  smoothing: number
}
interface Raw {
  step: number[]
  globalStep: number[]
  timestamp: number[]
  value: number[]
}
/** A zoomed x window (in the units of the axis it was drawn on) and, once fetched, its points. */
interface Zoom {
  axis: XAxis
  min: number
  max: number
  detail: Map<string, Raw> | null
  /** Runs whose window reaches past their last point: live points go into their detail too. */
  openEnded: Set<string>
}

export function fade(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16)
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${alpha})`
}

export class MetricChart {
  readonly el: HTMLElement
  private readonly plotBox: HTMLElement
  private readonly readout: HTMLElement
  private readonly data = new Map<string, Raw>()
  private plot: uPlot | null = null
  private loaded = false
  private zoom: Zoom | null = null

  constructor(
    readonly name: string,
    private readonly runs: { key: string; color: string }[],
    private readonly settings: () => ChartSettings,
  ) {
    this.plotBox = h('div', { class: 'plot' }, h('div', { class: 'loading' }, 'loading…'))
    this.readout = h('span', { class: 'readout' })
    this.el = h('div', { class: 'chart-card', 'data-metric': name }, h('div', { class: 'chart-title' }, name, this.readout), this.plotBox)
    // uPlot's own double-click puts the x scale back to the data drawn (the zoomed detail); the
    // overview has to be drawn again for the whole run to show.
    this.plotBox.addEventListener('dblclick', () => this.zoomOut())
  }

  get isLoaded(): boolean {
    return this.loaded
  }

  /** Last step this chart has for a run (-1 when none): where a live stream resumes. */
  lastStep(key: string): number {
    const d = this.data.get(key)
    return d && d.step.length ? d.step[d.step.length - 1] : -1
  }

  async load(): Promise<void> {
    if (this.loaded) return
    this.loaded = true
    const maxPoints = this.width()
    await Promise.all(
      this.runs.map(async (r) => {
        try {
          this.data.set(r.key, toRaw(await api.scalars(r.key, this.name, maxPoints)))
        } catch {
          // This run has no such metric: it is simply not drawn.
        }
      }),
    )
    this.draw()
  }

  append(key: string, s: Series): void {
    const d = this.data.get(key) ?? { step: [], globalStep: [], timestamp: [], value: [] }
    appendTo(d, s)
    this.data.set(key, d)
    const detail = this.zoom?.openEnded.has(key) ? this.zoom.detail?.get(key) : undefined
    if (detail) appendTo(detail, s)
    if (this.loaded) this.draw()
  }

  redraw(): void {
    if (this.loaded) this.draw()
  }

  /** Points to ask for: about one per pixel of the plot. */
  private width(): number {
    return Math.max(200, Math.round(this.plotBox.clientWidth || 480))
  }

  /** A run's x values; relative time counts from the run's first point, also in a zoomed detail. */
  private xs(d: Raw, axis: XAxis, t0 = d.timestamp[0] ?? 0): number[] {
    if (axis === 'step') return d.step
    if (axis === 'globalStep') return d.globalStep
    if (axis === 'wall') return d.timestamp.map((t) => t / 1000)
    return d.timestamp.map((t) => (t - t0) / 1000)
  }

  /** The points drawn for a run: its zoomed detail once fetched, else its overview. */
  private shown(key: string): Raw | undefined {
    return this.zoom?.detail?.get(key) ?? this.data.get(key)
  }

  /**
   * Zoom to x in [min, max]: for each run, the steps from the drawn point just before the window
   * to the one just after (points the downsample dropped lie between them), fetched at the chart's
   * resolution. A later zoom or a zoom-out makes an answer still on its way stale.
   */
  private async zoomTo(min: number, max: number): Promise<void> {
    const axis = this.settings().xAxis
    const zoom: Zoom = { axis, min, max, detail: null, openEnded: new Set() }
    const ranges = this.runs.map((r) => {
      const d = this.shown(r.key)
      return d?.step.length ? stepsAround(this.xs(d, axis, this.data.get(r.key)?.timestamp[0]), d.step, min, max) : null
    })
    this.zoom = zoom
    const detail = new Map<string, Raw>()
    await Promise.all(
      this.runs.map(async (r, i) => {
        const range = ranges[i]
        if (!range) return
        if (range.end === undefined) zoom.openEnded.add(r.key)
        try {
          detail.set(r.key, toRaw(await api.scalars(r.key, this.name, this.width(), range)))
        } catch {
          // The overview stays drawn for this run.
        }
      }),
    )
    if (this.zoom !== zoom) return
    zoom.detail = detail
    this.draw()
  }

  private zoomOut(): void {
    if (!this.zoom) return
    this.zoom = null
    this.draw()
  }

  private draw(): void {
    const { xAxis, smoothing } = this.settings()
    // A window in other units than the axis now drawn means nothing: the overview comes back.
    if (this.zoom && this.zoom.axis !== xAxis) this.zoom = null
    const zoom = this.zoom
    const present = this.runs.filter((r) => (this.shown(r.key)?.step.length ?? 0) > 0)
    const tables: uPlot.AlignedData[] = present.map((r) => {
      const d = this.shown(r.key) as Raw
      const vals = d.value.map((v) => (Number.isFinite(v) ? v : null))
      return [this.xs(d, xAxis, this.data.get(r.key)?.timestamp[0]), vals, debiasedEma(vals, smoothing)] as unknown as uPlot.AlignedData
    })
    const finite = present.reduce((n, r) => n + (this.shown(r.key) as Raw).value.filter(Number.isFinite).length, 0)
    if (tables.length === 0 || finite === 0) {
      const total = present.reduce((n, r) => n + (this.shown(r.key) as Raw).value.length, 0)
      this.plot?.destroy()
      this.plot = null
      this.plotBox.replaceChildren(h('div', { class: 'empty' }, total ? `${total} point${total > 1 ? 's' : ''}, none finite (NaN/Inf)` : 'no points'))
      this.el.dataset.drawn = '1'
      return
    }
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables)
    const series: uPlot.Series[] = [{ label: xAxis }]
    for (const r of present) {
      // A lone point has no line to draw: show it as a dot.
      const lone = (this.shown(r.key) as Raw).step.length === 1
      series.push({ label: `${r.key} raw`, stroke: smoothing > 0 && !lone ? fade(r.color, 0.25) : r.color, width: 1, spanGaps: true, points: { show: lone, size: 7, fill: r.color } })
      series.push({ label: r.key, stroke: r.color, width: 1.6, spanGaps: true, show: smoothing > 0, points: { show: false } })
    }
    const time = xAxis === 'wall'
    const opts: uPlot.Options = {
      width: this.width(),
      height: 220,
      series,
      legend: { show: false },
      scales: { x: { time } },
      axes: [
        { stroke: '#9aa', grid: { stroke: '#2a3038' }, values: xAxis === 'relative' ? (_u, v) => v.map(relLabel) : undefined },
        { stroke: '#9aa', grid: { stroke: '#2a3038' }, size: 64, values: (_u, v) => v.map(axisLabel) },
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        // A drag over the plot (uPlot zooms the x scale itself right after): fetch its detail.
        setSelect: [
          (u) => {
            if (u.select.width > 0) void this.zoomTo(u.posToVal(u.select.left, 'x'), u.posToVal(u.select.left + u.select.width, 'x'))
          },
        ],
        // The value under the cursor for each run (smoothed when smoothing is on), in the title.
        setCursor: [
          (u) => {
            const i = u.cursor.idx
            if (i === null || i === undefined) {
              this.readout.textContent = ''
              return
            }
            const parts = present.map((r, k) => {
              const v = (u.data[1 + 2 * k + (smoothing > 0 ? 1 : 0)] as (number | null)[])[i]
              return h('span', { style: { color: r.color } }, ` ${v === null || v === undefined ? '–' : axisLabel(v)}`)
            })
            this.readout.replaceChildren(` @ ${axisLabel(u.data[0][i])}:`, ...parts)
          },
        ],
        draw: [
          (u) => {
            // A plot replaced in the same task (a double-click's zoom-out) may still draw once.
            if (u !== this.plot) return
            // State the browser tests (and anyone inspecting the page) can read.
            this.el.dataset.drawn = '1'
            this.el.dataset.points = String((data[0] as ArrayLike<number>).length)
            this.el.dataset.runs = String(present.length)
            this.el.dataset.smoothing = String(smoothing)
            this.el.dataset.xAxis = xAxis
            this.el.dataset.lastStep = String(Math.max(...present.map((r) => this.lastStep(r.key))))
            this.el.dataset.zoom = this.zoom ? (this.zoom.detail ? 'detail' : 'pending') : 'none'
          },
        ],
      },
    }
    this.plot?.destroy()
    this.plotBox.replaceChildren()
    this.plot = new uPlot(opts, data, this.plotBox)
    if (zoom) this.plot.setScale('x', { min: zoom.min, max: zoom.max })
  }
}

/** Tick labels with enough digits to tell neighbouring ticks apart (0.0012 vs 0.0011). */
export function axisLabel(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2)
  return String(Number(v.toPrecision(4)))
}

function relLabel(v: number): string {
  if (Math.abs(v) < 120) return `${Math.round(v)}s`
  if (Math.abs(v) < 7200) return `${Math.round(v / 60)}m`
  return `${(v / 3600).toFixed(1)}h`
}

/** Live points after the last step `d` has. */
function appendTo(d: Raw, s: Series): void {
  const last = d.step.length ? d.step[d.step.length - 1] : -Infinity
  for (let i = 0; i < s.step.length; i++) {
    if (s.step[i] <= last) continue
    d.step.push(s.step[i])
    d.globalStep.push(s.globalStep[i])
    d.timestamp.push(s.timestamp[i])
    d.value.push(num(s.value[i]))
  }
}

/**
 * The step range to fetch for the x window [min, max]: from the step of the last point before it
 * to that of the first point after it (open where there is none). Steps that do not follow x
 * (a global step or clock gone backwards) give the whole run rather than a wrong cut.
 */
function stepsAround(xs: number[], steps: number[], min: number, max: number): { start?: number; end?: number } {
  let before = -1
  let after = -1
  for (let i = 0; i < xs.length; i++) {
    if (xs[i] < min) before = i
    else if (xs[i] > max && after < 0) after = i
  }
  const start = before < 0 ? undefined : steps[before]
  const end = after < 0 ? undefined : steps[after]
  return start !== undefined && end !== undefined && start > end ? {} : { start, end }
}

function toRaw(s: Series): Raw {
  return { step: s.step, globalStep: s.globalStep, timestamp: s.timestamp, value: s.value.map(num) }
}
