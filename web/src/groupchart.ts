/**
 * Grouped curves: the compared runs grouped by a config key, each group drawn as the mean of its
 * runs' (smoothed) curves with the min–max band around it (uPlot bands). Each run's metric is
 * fetched downsampled (a few hundred points: a band does not need more) and kept until the run's
 * summary says it has grown; the runs' curves are then resampled onto one step grid so runs logged
 * at different steps can be averaged.
 */
import uPlot from 'uplot'
import { api, num } from './api'
import { axisLabel, fade } from './chart'
import { PALETTE } from './colors'
import { cellText } from './columns'
import type { RunData } from './columns'
import { h } from './dom'
import { debiasedEma } from '../../src/viewer/smooth'

/** Points fetched per run, and grid points drawn per group. */
const FETCH_POINTS = 300
const GRID = 240
/** Curves fetched at most (the first runs in table order); more would be a request per run each. */
export const MAX_CURVES = 500
/** Groups drawn apart; the smallest beyond these are merged into one "other" group. */
const MAX_GROUPS = PALETTE.length - 1

interface Curve {
  /** The run's last step when fetched: a run that logged more is fetched again. */
  lastStep: number | null
  step: number[]
  value: number[]
}

interface Group {
  label: string
  color: string
  runs: { r: RunData; c: Curve }[]
}

async function eachLimit<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (i < items.length) await fn(items[i++])
  }))
}

/** The run's curve at steps `xs` (linear between its points; null outside its steps or next to a gap). */
function resample(step: number[], vals: (number | null)[], xs: number[]): (number | null)[] {
  const out: (number | null)[] = new Array(xs.length).fill(null)
  if (step.length === 0) return out
  let j = 0
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i]
    if (x < step[0] || x > step[step.length - 1]) continue
    while (j < step.length - 2 && step[j + 1] < x) j++
    const a = vals[j]
    if (step.length === 1 || x <= step[j]) {
      out[i] = a
      continue
    }
    const b = vals[j + 1]
    if (a === null || b === null) continue
    const f = (x - step[j]) / (step[j + 1] - step[j] || 1)
    out[i] = a + (b - a) * f
  }
  return out
}

export class GroupChart {
  readonly el: HTMLElement
  private readonly plotBox = h('div', { class: 'plot' })
  private readonly legend = h('div', { class: 'group-legend' })
  private readonly note = h('div', { class: 'muted group-note' })
  private readonly cache = new Map<string, Curve | null>()
  private plot: uPlot | null = null
  private timer: ReturnType<typeof setTimeout> | undefined
  private token = 0
  private signature = ''

  constructor() {
    this.el = h('div', { class: 'group-chart' }, this.plotBox, this.legend, this.note)
  }

  /** Draw `metric` for these runs grouped by config key `key` ('' = one group); soon, not at once (brushing calls this on every move). */
  set(runs: RunData[], metric: string, key: string, smoothing: number): void {
    const sig = `${metric}\n${key}\n${smoothing}\n${runs.map((r) => `${r.row.key}@${r.stats.get(metric)?.lastStep ?? ''}=${cellText(r.flat.get(key) ?? null)}`).join('\n')}`
    if (sig === this.signature) return
    this.signature = sig
    clearTimeout(this.timer)
    this.timer = setTimeout(() => void this.update(runs, metric, key, smoothing), 120)
  }

  dispose(): void {
    clearTimeout(this.timer)
    this.token++
    this.plot?.destroy()
  }

  private async update(runs: RunData[], metric: string, key: string, smoothing: number): Promise<void> {
    const token = ++this.token
    if (!metric) {
      this.show('choose a metric to draw its curves')
      return
    }
    const todo = runs.slice(0, MAX_CURVES)
    const id = (r: RunData) => `${r.row.key}\n${metric}`
    const stale = todo.filter((r) => {
      const c = this.cache.get(id(r))
      if (c === undefined) return true
      // A run without the metric may have logged it since; one with it may have logged more.
      return c === null ? Boolean(r.stats.get(metric)) : c.lastStep !== (r.stats.get(metric)?.lastStep ?? null)
    })
    this.el.dataset.loading = String(stale.length)
    // Hundreds of curves take a while (a request each): what is in is drawn every half second.
    let drawn = performance.now()
    let done = 0
    await eachLimit(stale, 6, async (r) => {
      const lastStep = r.stats.get(metric)?.lastStep ?? null
      if (r.stats.get(metric) === null) {
        this.cache.set(id(r), null) // the run has no such metric
        return
      }
      try {
        const s = await api.scalars(r.row.key, metric, FETCH_POINTS)
        this.cache.set(id(r), { lastStep, step: s.step, value: s.value.map(num) })
      } catch {
        this.cache.set(id(r), null)
      }
      done++
      if (token === this.token && performance.now() - drawn > 500 && done < stale.length) {
        drawn = performance.now()
        this.draw(this.groups(todo, (x) => this.cache.get(id(x)) ?? null, key), smoothing, `loading curves: ${done} of ${stale.length}…`)
      }
    })
    if (token !== this.token) return
    delete this.el.dataset.loading
    const groups = this.groups(todo, (r) => this.cache.get(id(r)) ?? null, key)
    this.draw(groups, smoothing, runs.length > todo.length ? `curves of the first ${todo.length} of ${runs.length} runs` : '')
  }

  private groups(runs: RunData[], curve: (r: RunData) => Curve | null, key: string): Group[] {
    const by = new Map<string, Group['runs']>()
    for (const r of runs) {
      const c = curve(r)
      if (!c || c.step.length === 0) continue
      const label = key ? `${key}=${r.flat.has(key) ? cellText(r.flat.get(key) ?? null) || '""' : '(none)'}` : 'all runs'
      const list = by.get(label) ?? []
      list.push({ r, c })
      by.set(label, list)
    }
    let entries = [...by].sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true }))
    if (entries.length > MAX_GROUPS + 1) {
      const big = [...entries].sort((a, b) => b[1].length - a[1].length).slice(0, MAX_GROUPS)
      const keep = new Set(big.map((e) => e[0]))
      const other = entries.filter((e) => !keep.has(e[0])).flatMap((e) => e[1])
      entries = [...entries.filter((e) => keep.has(e[0])), [`other (${by.size - MAX_GROUPS} values)`, other]]
    }
    return entries.map(([label, list], i) => ({ label, color: PALETTE[i % PALETTE.length], runs: list }))
  }

  private show(message: string): void {
    this.plot?.destroy()
    this.plot = null
    this.plotBox.replaceChildren(h('div', { class: 'empty' }, message))
    this.legend.replaceChildren()
    this.el.dataset.groups = '0'
    this.el.dataset.drawn = '1'
  }

  private draw(groups: Group[], smoothing: number, note: string): void {
    this.note.textContent = note
    let lo = Infinity
    let hi = -Infinity
    for (const g of groups)
      for (const { c } of g.runs) {
        lo = Math.min(lo, c.step[0])
        hi = Math.max(hi, c.step[c.step.length - 1])
      }
    if (groups.length === 0 || !Number.isFinite(lo)) {
      this.show('no run here has this metric')
      return
    }
    const xs = hi > lo ? Array.from({ length: GRID }, (_, i) => lo + ((hi - lo) * i) / (GRID - 1)) : [lo]
    const data: (number | null)[][] = [xs]
    const series: uPlot.Series[] = [{ label: 'step' }]
    const bands: uPlot.Band[] = []
    for (const g of groups) {
      const sum = new Float64Array(xs.length)
      const cnt = new Uint32Array(xs.length)
      const mn = new Array<number | null>(xs.length).fill(null)
      const mx = new Array<number | null>(xs.length).fill(null)
      for (const { c } of g.runs) {
        const vals = debiasedEma(c.value.map((v) => (Number.isFinite(v) ? v : null)), smoothing)
        const at = resample(c.step, vals, xs)
        for (let i = 0; i < xs.length; i++) {
          const v = at[i]
          if (v === null || !Number.isFinite(v)) continue
          sum[i] += v
          cnt[i]++
          mn[i] = mn[i] === null ? v : Math.min(mn[i] as number, v)
          mx[i] = mx[i] === null ? v : Math.max(mx[i] as number, v)
        }
      }
      const mean = Array.from(sum, (s, i) => (cnt[i] ? s / cnt[i] : null))
      const base = data.length
      data.push(mn, mx, mean)
      series.push(
        { label: `${g.label} min`, stroke: fade(g.color, 0.35), width: 1, points: { show: false } },
        { label: `${g.label} max`, stroke: fade(g.color, 0.35), width: 1, points: { show: false } },
        { label: g.label, stroke: g.color, width: 2, points: { show: xs.length === 1, size: 7, fill: g.color } },
      )
      bands.push({ series: [base + 1, base], fill: fade(g.color, 0.22) })
    }
    const opts: uPlot.Options = {
      width: Math.max(320, Math.round(this.el.clientWidth || 480)),
      height: 260,
      series,
      bands,
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [
        { stroke: '#9aa', grid: { stroke: '#2a3038' } },
        { stroke: '#9aa', grid: { stroke: '#2a3038' }, size: 64, values: (_u, v) => v.map(axisLabel) },
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [
          (u) => {
            if (u !== this.plot) return
            this.el.dataset.drawn = '1'
            this.el.dataset.groups = String(groups.length)
            this.el.dataset.curves = String(groups.reduce((n, g) => n + g.runs.length, 0))
          },
        ],
      },
    }
    this.plot?.destroy()
    this.plotBox.replaceChildren()
    this.plot = new uPlot(opts, data as uPlot.AlignedData, this.plotBox)
    this.legend.replaceChildren(
      ...groups.map((g) =>
        h('span', { class: 'group-item', 'data-group': g.label }, h('span', { class: 'swatch', style: { background: g.color } }), g.label, h('span', { class: 'muted' }, ` ${g.runs.length} run${g.runs.length === 1 ? '' : 's'}`)),
      ),
    )
  }
}
