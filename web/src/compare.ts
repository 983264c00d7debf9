/**
 * The compare view above the runs table: parallel coordinates from the config columns to one
 * metric summary (brushing an axis filters the table), a scatter of any two columns, and the
 * metric's curves grouped by a config key (mean line, min–max band). The page hands it the runs and
 * its choices on every refresh; the choices it changes go back through `choose` into the URL.
 */
import { colLabel, configCol, statCol, STATS } from './columns'
import type { RunData } from './columns'
import { h } from './dom'
import { GroupChart } from './groupchart'
import { ParCoords } from './parcoords'
import type { BrushEvents } from './parcoords'
import { Scatter } from './scatter'
import type { ListState } from './viewstate'

export interface CompareInput {
  /** The runs the parallel coordinates draw (the selected ones, else all listed). */
  base: RunData[]
  /** Keys of the runs that pass the filters: drawn in colour, the rest faint. */
  on: Set<string>
  /** The runs compared: in `base` and passing the filters (the scatter's dots, the curves). */
  compared: RunData[]
  /** Config columns for the parallel coordinates' axes, in table order. */
  axes: string[]
  /** Every config key of the listed runs. */
  keys: string[]
  metrics: string[]
  state: ListState
}

export interface CompareEvents extends BrushEvents {
  choose(patch: Partial<Pick<ListState, 'target' | 'scatterX' | 'scatterY' | 'group'>>): void
}

/** Fill a select with options (rebuilt only when they change) and pick `value`. */
function setOptions(sel: HTMLSelectElement, options: [string, string][], value: string): void {
  const sig = options.map((o) => o.join('\t')).join('\n')
  if (sel.dataset.sig !== sig) {
    sel.replaceChildren(...options.map(([v, label]) => h('option', { value: v }, label)))
    sel.dataset.sig = sig
  }
  if (sel.value !== value) sel.value = value
}

/** The summary column the compare view colours and ends on: the URL's when still tracked, else the first metric's last value. */
export function targetOf(state: ListState): string {
  const ok = state.metrics.some((m) => STATS.some((s) => statCol(s, m) === state.target))
  return ok ? state.target : state.metrics.length ? statCol('last', state.metrics[0]) : ''
}

export class CompareView {
  readonly el: HTMLElement
  private readonly pc: ParCoords
  private readonly scatter = new Scatter()
  private readonly curves = new GroupChart()
  private readonly target = h('select', { class: 'target-metric' })
  private readonly sx = h('select', { class: 'scatter-x' })
  private readonly sy = h('select', { class: 'scatter-y' })
  private readonly group = h('select', { class: 'group-by' })
  private readonly smooth = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, class: 'group-smoothing', value: localStorage.getItem('amber.smoothing') ?? '0.6' })
  private readonly hint = h('span', { class: 'muted' })
  private last: CompareInput | null = null

  constructor(private readonly events: CompareEvents) {
    this.pc = new ParCoords(events)
    this.target.addEventListener('change', () => events.choose({ target: this.target.value }))
    this.sx.addEventListener('change', () => events.choose({ scatterX: this.sx.value }))
    this.sy.addEventListener('change', () => events.choose({ scatterY: this.sy.value }))
    this.group.addEventListener('change', () => events.choose({ group: this.group.value }))
    this.smooth.addEventListener('input', () => {
      localStorage.setItem('amber.smoothing', this.smooth.value)
      if (this.last) this.update(this.last)
    })
    this.el = h(
      'section',
      { class: 'compare-view' },
      h('div', { class: 'toolbar' }, h('label', {}, 'metric ', this.target), this.hint),
      h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'parallel coordinates', h('span', { class: 'muted' }, ' · drag along an axis to filter, click it to clear')), this.pc.el),
      h(
        'div',
        { class: 'compare-grid' },
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'scatter ', this.sx, ' vs ', this.sy), this.scatter.el),
        h('div', { class: 'card' }, h('div', { class: 'card-title' }, 'curves by ', this.group, h('label', { class: 'muted' }, ' smoothing ', this.smooth)), this.curves.el),
      ),
    )
  }

  update(input: CompareInput): void {
    this.last = input
    const { state, metrics } = input
    const target = targetOf(state)
    const stats = metrics.flatMap((m) => STATS.map((s) => statCol(s, m)))
    setOptions(this.target, stats.length ? stats.map((c) => [c, colLabel(c)]) : [['', 'add a metric in the toolbar first']], target)
    this.target.disabled = stats.length === 0
    this.hint.textContent = `${input.compared.length} of ${input.base.length} runs${state.selected.size ? ' (selected)' : ''}`

    this.pc.set(input.base, input.on, target ? [...input.axes, target] : input.axes, state.filters)

    const choices: [string, string][] = [...input.keys.map((k) => [configCol(k), k] as [string, string]), ...stats.map((c) => [c, colLabel(c)] as [string, string])]
    const has = (c: string) => choices.some((o) => o[0] === c)
    const x = has(state.scatterX) ? state.scatterX : (input.axes[0] ?? choices[0]?.[0] ?? '')
    const y = has(state.scatterY) ? state.scatterY : target || (choices.find((o) => o[0] !== x)?.[0] ?? '')
    setOptions(this.sx, choices, x)
    setOptions(this.sy, choices, y)
    this.scatter.set(input.compared, x, y)

    const groupKey = input.keys.includes(state.group) ? state.group : ''
    setOptions(this.group, [['', 'all runs'], ...input.keys.map((k) => [k, k] as [string, string])], groupKey)
    const metric = target ? target.slice(target.indexOf(':') + 1) : ''
    this.curves.set(input.compared, metric, groupKey, Number(this.smooth.value))
  }

  dispose(): void {
    this.curves.dispose()
  }
}
