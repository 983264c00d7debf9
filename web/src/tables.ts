/**
 * Logged tables: one section per name, a slider over the steps it was logged at. Entries logged
 * while the page is open arrive from the live stream (the slider follows the newest when it was
 * on the last one); a new name adds a section.
 */
import { api } from './api'
import type { TableEntry } from './api'
import { clear, fmtNum, h, stepSlider } from './dom'
import { fresh, sectionedView } from './liveview'
import type { LiveLogView } from './liveview'

function cell(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v)
  if (v === null || v === undefined) return ''
  return typeof v === 'object' ? JSON.stringify(v) : String(v)
}

export function tableEl(t: TableEntry): HTMLElement {
  return h(
    'table',
    { class: 'data-table', 'data-step': t.step },
    h('thead', {}, h('tr', {}, t.columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, t.rows.map((r) => h('tr', {}, r.map((v) => h('td', {}, cell(v)))))),
  )
}

class TableSection {
  readonly el: HTMLElement
  private readonly box = h('div', { class: 'table-box' })
  private readonly slider

  constructor(
    readonly name: string,
    readonly entries: TableEntry[],
  ) {
    this.slider = stepSlider(entries.length, (i) => `step ${this.entries[i]?.step}`, (i) => this.show(i))
    this.el = h('section', { class: 'table-section', 'data-name': name }, h('h4', {}, name), this.slider.el, this.box)
    this.show(entries.length - 1)
  }

  private show(i: number): void {
    clear(this.box)
    if (this.entries[i]) this.box.append(tableEl(this.entries[i]))
    this.el.dataset.entries = String(this.entries.length)
  }

  append(from: number, entries: TableEntry[]): void {
    const add = fresh(this.entries.length, from, entries)
    if (add.length === 0) return
    const wasEmpty = this.entries.length === 0
    this.entries.push(...add)
    this.slider.grow(this.entries.length)
    if (wasEmpty) this.show(this.entries.length - 1)
    this.el.dataset.entries = String(this.entries.length)
  }
}

export function renderTables(body: HTMLElement, key: string, names: string[]): Promise<LiveLogView> {
  // The server answers in step order already (ORDER BY step, id).
  return sectionedView<TableEntry>('tables', body, 'No tables logged.', names, async (name) => new TableSection(name, await api.tables(key, name)))
}
