/** Logged tables: one name at a time, a slider over the steps it was logged at. */
import { api } from './api'
import type { TableEntry } from './api'
import { clear, fmtNum, h, stepSlider } from './dom'

function cell(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v)
  if (v === null || v === undefined) return ''
  return typeof v === 'object' ? JSON.stringify(v) : String(v)
}

export function tableEl(t: TableEntry): HTMLElement {
  return h(
    'table',
    { class: 'data-table' },
    h('thead', {}, h('tr', {}, t.columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, t.rows.map((r) => h('tr', {}, r.map((v) => h('td', {}, cell(v)))))),
  )
}

export async function renderTables(body: HTMLElement, key: string, names: string[]): Promise<void> {
  if (names.length === 0) {
    body.append(h('p', { class: 'empty' }, 'No tables logged.'))
    return
  }
  for (const name of names) {
    const entries = (await api.tables(key, name)).sort((a, b) => a.step - b.step)
    const box = h('div', { class: 'table-box' })
    const show = (i: number) => {
      clear(box)
      if (entries[i]) box.append(tableEl(entries[i]))
    }
    body.append(
      h('section', { class: 'table-section', 'data-name': name }, h('h4', {}, name), entries.length > 1 ? stepSlider(entries.length, (i) => `step ${entries[i].step}`, show) : null, box),
    )
    show(entries.length - 1)
  }
}
