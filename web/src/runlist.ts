/**
 * The project and run list: search, a project filter, sorting by any column, by a config value or
 * by the last value of a metric (fetched on demand, one request for all runs), and a selection to
 * overlay several runs on one page.
 */
import { api } from './api'
import type { RunRow } from './api'
import { colorFor } from './colors'
import { clear, fmtDuration, fmtNum, h } from './dom'

// One formatter for all rows: toLocaleString() builds a new one per call, slow for 1,000 rows.
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' })

type SortKey = { kind: 'field'; field: keyof RunRow } | { kind: 'config'; key: string } | { kind: 'metric'; name: string }

export async function renderRunList(root: HTMLElement, go: (hash: string) => void): Promise<void> {
  const runs = await api.runs()
  const projects = [...new Set(runs.map((r) => r.project))].sort()
  const configKeys = [...new Set(runs.flatMap((r) => Object.keys(r.config ?? {})))].sort()
  const selected = new Set<string>()
  let sort: SortKey = { kind: 'field', field: 'createdAt' }
  let desc = true
  let lastValues: Record<string, number | string | null> = {}

  const search = h('input', { type: 'search', placeholder: 'search runs…', class: 'search' })
  const projectSel = h('select', { class: 'project-filter' }, h('option', { value: '' }, 'all projects'), projects.map((p) => h('option', { value: p }, p)))
  const sortSel = h(
    'select',
    { class: 'sort-by' },
    h('option', { value: 'field:createdAt' }, 'sort: created'),
    h('option', { value: 'field:name' }, 'sort: name'),
    h('option', { value: 'field:status' }, 'sort: status'),
    configKeys.map((k) => h('option', { value: `config:${k}` }, `sort: config.${k}`)),
  )
  const metricInput = h('input', { type: 'text', placeholder: 'sort by last value of metric…', class: 'sort-metric' })
  const compare = h('button', { class: 'compare', disabled: true }, 'Compare selected')
  const count = h('span', { class: 'count' })
  const tbody = h('tbody')

  const value = (r: RunRow): unknown => {
    if (sort.kind === 'field') return r[sort.field]
    if (sort.kind === 'config') return r.config?.[sort.key]
    const v = lastValues[r.key]
    return typeof v === 'string' ? Number(v) : v
  }
  const cmp = (a: unknown, b: unknown): number => {
    if (a === undefined || a === null) return 1
    if (b === undefined || b === null) return -1
    if (typeof a === 'number' && typeof b === 'number') return a - b
    return String(a).localeCompare(String(b), undefined, { numeric: true })
  }

  const draw = () => {
    const needle = search.value.toLowerCase()
    const rows = runs
      .filter((r) => !projectSel.value || r.project === projectSel.value)
      .filter((r) => !needle || `${r.project} ${r.name} ${r.runId} ${r.annotation ?? ''} ${JSON.stringify(r.config)}`.toLowerCase().includes(needle))
      .sort((a, b) => {
        const va = value(a)
        const vb = value(b)
        if (va === undefined || va === null) return 1
        if (vb === undefined || vb === null) return -1
        return desc ? -cmp(va, vb) : cmp(va, vb)
      })
    count.textContent = `${rows.length} of ${runs.length} runs`
    clear(tbody)
    // Thousands of rows render fine as plain DOM when built in one fragment.
    const frag = document.createDocumentFragment()
    for (const r of rows) {
      const box = h('input', { type: 'checkbox', checked: selected.has(r.key) })
      box.addEventListener('change', () => {
        if (box.checked) selected.add(r.key)
        else selected.delete(r.key)
        compare.disabled = selected.size === 0
      })
      const duration = r.createdAt ? (r.finishedAt ? Date.parse(r.finishedAt) : Date.now()) - Date.parse(r.createdAt) : NaN
      const extra = sort.kind === 'config' ? fmtNum(r.config?.[sort.key] as number) : sort.kind === 'metric' ? fmtNum(lastValues[r.key]) : ''
      frag.append(
        h(
          'tr',
          { class: 'run-row', 'data-key': r.key },
          h('td', {}, box),
          h('td', {}, h('span', { class: 'swatch', style: { background: colorFor(r.key) } })),
          h('td', {}, r.project),
          h('td', {}, h('a', { href: `#/run?runs=${encodeURIComponent(r.key)}`, class: 'run-link' }, r.name)),
          h('td', { class: 'mono' }, r.runId),
          h('td', {}, h('span', { class: `status status-${r.status}` }, r.status)),
          h('td', {}, r.createdAt ? DATE.format(new Date(r.createdAt)) : ''),
          h('td', {}, fmtDuration(duration)),
          h('td', { class: 'mono sort-value' }, extra),
        ),
      )
    }
    tbody.append(frag)
  }

  search.addEventListener('input', draw)
  projectSel.addEventListener('change', draw)
  sortSel.addEventListener('change', () => {
    const [kind, ...rest] = sortSel.value.split(':')
    const k = rest.join(':')
    sort = kind === 'config' ? { kind: 'config', key: k } : { kind: 'field', field: k as keyof RunRow }
    draw()
  })
  metricInput.addEventListener('change', async () => {
    const name = metricInput.value.trim()
    if (!name) return
    lastValues = await api.last(name)
    sort = { kind: 'metric', name }
    draw()
  })
  const dirBtn = h('button', { class: 'sort-dir', title: 'sort direction' }, '↓')
  dirBtn.addEventListener('click', () => {
    desc = !desc
    dirBtn.textContent = desc ? '↓' : '↑'
    draw()
  })
  compare.addEventListener('click', () => go(`#/run?runs=${[...selected].map(encodeURIComponent).join(',')}`))

  clear(root)
  root.append(
    h('div', { class: 'toolbar' }, search, projectSel, sortSel, dirBtn, metricInput, compare, count),
    h(
      'table',
      { class: 'runs' },
      h('thead', {}, h('tr', {}, ['', '', 'project', 'name', 'id', 'status', 'created', 'duration', 'value'].map((t) => h('th', {}, t)))),
      tbody,
    ),
  )
  if (runs.length === 0) root.append(h('p', { class: 'empty' }, 'No runs in this folder yet. Log one with Board, or try `amber demo`.'))
  draw()
}
