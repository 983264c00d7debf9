/**
 * One metric's chart: every selected run overlaid in its colour, the smoothed line over the raw
 * line drawn faint, the x-axis chosen by the page. Points arriving live are appended to the raw
 * arrays and the chart redrawn; nothing is refetched.
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

function fade(hex: string, alpha: number): string {
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

  constructor(
    readonly name: string,
    private readonly runs: { key: string; color: string }[],
    private readonly settings: () => ChartSettings,
  ) {
    this.plotBox = h('div', { class: 'plot' }, h('div', { class: 'loading' }, 'loading…'))
    this.readout = h('span', { class: 'readout' })
    this.el = h('div', { class: 'chart-card', 'data-metric': name }, h('div', { class: 'chart-title' }, name, this.readout), this.plotBox)
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
    const width = Math.max(200, Math.round(this.plotBox.clientWidth || 480))
    await Promise.all(
      this.runs.map(async (r) => {
        try {
          this.data.set(r.key, toRaw(await api.scalars(r.key, this.name, width)))
        } catch {
          // This run has no such metric: it is simply not drawn.
        }
      }),
    )
    this.draw()
  }

  append(key: string, s: Series): void {
    const d = this.data.get(key) ?? { step: [], globalStep: [], timestamp: [], value: [] }
    const last = d.step.length ? d.step[d.step.length - 1] : -Infinity
    for (let i = 0; i < s.step.length; i++) {
      if (s.step[i] <= last) continue
      d.step.push(s.step[i])
      d.globalStep.push(s.globalStep[i])
      d.timestamp.push(s.timestamp[i])
      d.value.push(num(s.value[i]))
    }
    this.data.set(key, d)
    if (this.loaded) this.draw()
  }

  redraw(): void {
    if (this.loaded) this.draw()
  }

  private xs(d: Raw, axis: XAxis): number[] {
    if (axis === 'step') return d.step
    if (axis === 'globalStep') return d.globalStep
    if (axis === 'wall') return d.timestamp.map((t) => t / 1000)
    const t0 = d.timestamp[0] ?? 0
    return d.timestamp.map((t) => (t - t0) / 1000)
  }

  private draw(): void {
    const { xAxis, smoothing } = this.settings()
    const present = this.runs.filter((r) => (this.data.get(r.key)?.step.length ?? 0) > 0)
    const tables: uPlot.AlignedData[] = present.map((r) => {
      const d = this.data.get(r.key) as Raw
      const vals = d.value.map((v) => (Number.isFinite(v) ? v : null))
      return [this.xs(d, xAxis), vals, debiasedEma(vals, smoothing)] as unknown as uPlot.AlignedData
    })
    const finite = present.reduce((n, r) => n + (this.data.get(r.key) as Raw).value.filter(Number.isFinite).length, 0)
    if (tables.length === 0 || finite === 0) {
      const total = present.reduce((n, r) => n + (this.data.get(r.key) as Raw).value.length, 0)
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
      const lone = (this.data.get(r.key) as Raw).step.length === 1
      series.push({ label: `${r.key} raw`, stroke: smoothing > 0 && !lone ? fade(r.color, 0.25) : r.color, width: 1, spanGaps: true, points: { show: lone, size: 7, fill: r.color } })
      series.push({ label: r.key, stroke: r.color, width: 1.6, spanGaps: true, show: smoothing > 0, points: { show: false } })
    }
    const width = Math.max(200, Math.round(this.plotBox.clientWidth || 480))
    const time = xAxis === 'wall'
    const opts: uPlot.Options = {
      width,
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
          () => {
            // State the browser tests (and anyone inspecting the page) can read.
            this.el.dataset.drawn = '1'
            this.el.dataset.points = String((data[0] as ArrayLike<number>).length)
            this.el.dataset.runs = String(present.length)
            this.el.dataset.smoothing = String(smoothing)
            this.el.dataset.xAxis = xAxis
            this.el.dataset.lastStep = String(Math.max(...present.map((r) => this.lastStep(r.key))))
          },
        ],
      },
    }
    this.plot?.destroy()
    this.plotBox.replaceChildren()
    this.plot = new uPlot(opts, data, this.plotBox)
  }
}

/** Tick labels with enough digits to tell neighbouring ticks apart (0.0012 vs 0.0011). */
function axisLabel(v: number): string {
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

function toRaw(s: Series): Raw {
  return { step: s.step, globalStep: s.globalStep, timestamp: s.timestamp, value: s.value.map(num) }
}
