/**
 * The runs table's DOM: a header that sorts on click with a filter box per column, and one row per
 * run kept by run key. Only the rows near the viewport are in the document (spacer rows stand for
 * the others), so 1,000 runs lay out like 60: a refresh or a brush step updates those rows' changed
 * cells and moves rows only where the order changed, and scrolling brings the next rows in. Each
 * column gets a minimum width from its longest value over all runs, so columns do not jump as
 * rows scroll in.
 */
import { colorFor } from './colors'
import { cellText, colLabel, durationMs, parseCol, valueOf } from './columns'
import type { RunData } from './columns'
import { fmtDuration, h } from './dom'
import { archiveButton, fillLabels, isEditing, labelSig } from './labels'
import type { LabelEvents } from './labels'

// One formatter for all rows: toLocaleString() builds a new one per call, slow for 1,000 rows.
const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'medium' })

/** The run's own columns, always shown first. */
export const FIELD_COLS = ['field:project', 'field:name', 'field:runId', 'field:status', 'field:createdAt', 'field:duration']
/** Field columns without a filter box (dates and durations filter badly as typed text). */
const UNFILTERED = new Set(['field:createdAt', 'field:duration'])
/** Rows kept in the document beyond each edge of the viewport, and at least this many rows. */
const BUFFER = 30
const MIN_ROWS = 60

export interface TableEvents extends LabelEvents {
  sort(col: string): void
  filter(col: string, raw: string): void
  select(keys: string[], on: boolean): void
}

interface Row {
  tr: HTMLTableRowElement
  box: HTMLInputElement
  /** Per column: the element whose text shows the value, and that text. */
  cells: HTMLElement[]
  texts: string[]
  /** The column layout the cells were built for. */
  layout: number
  /** The tags and note cell, the archive button's cell, and what they were built for (labelSig). */
  labels: HTMLElement
  actions: HTMLElement
  labelSig: string
}

/** Formatted creation times: a refresh compares every row's cells, and formatting a date is the slow part. */
const dates = new Map<string, string>()

function display(r: RunData, col: string): string {
  if (col === 'field:createdAt') {
    const at = r.row.createdAt
    if (!at) return ''
    let text = dates.get(at)
    if (text === undefined) dates.set(at, (text = DATE.format(new Date(at))))
    return text
  }
  if (col === 'field:duration') return fmtDuration(durationMs(r.row))
  if (col === 'field:name') return r.row.name
  return cellText(valueOf(r, col))
}

export class RunTable {
  readonly el: HTMLTableElement
  private readonly head = h('thead')
  private readonly body = h('tbody')
  private readonly selectAll = h('input', { type: 'checkbox', class: 'select-all', title: 'select the runs shown' })
  private cols: string[] = []
  private numeric = new Set<string>()
  private layout = 0
  private readonly rows = new Map<string, Row>()
  private readonly filterBoxes = new Map<string, HTMLInputElement>()
  private readonly headCells = new Map<string, HTMLElement>()
  private shown: RunData[] = []
  private selected = new Set<string>()
  /** Stand-ins for the rows above and below the ones in the document. */
  private readonly above = h('tr', { class: 'spacer' }, h('td'))
  private readonly below = h('tr', { class: 'spacer' }, h('td'))
  /** A row's height in px, measured once the first row is laid out. */
  private rowHeight = 0
  private window: [number, number] = [0, 0]
  private scrollFrame = 0
  private readonly onScroll = () => {
    if (!this.scrollFrame)
      this.scrollFrame = requestAnimationFrame(() => {
        this.scrollFrame = 0
        this.paint(false)
      })
  }

  constructor(private readonly events: TableEvents) {
    this.el = h('table', { class: 'runs' }, this.head, this.body)
    this.body.append(this.above, this.below)
    window.addEventListener('scroll', this.onScroll, { passive: true })
    window.addEventListener('resize', this.onScroll)
    this.selectAll.addEventListener('change', () => this.events.select(this.shown.map((r) => r.row.key), this.selectAll.checked))
    // One listener for every row's checkbox.
    this.body.addEventListener('change', (ev) => {
      const box = ev.target as HTMLInputElement
      const key = (box.closest('tr') as HTMLElement | null)?.dataset.key
      if (key && box.type === 'checkbox') this.events.select([key], box.checked)
    })
  }

  /** The columns after the fixed ones; the header is built again only when they change. */
  setColumns(cols: string[], numeric: Set<string>): void {
    const all = [...FIELD_COLS, ...cols]
    const same = all.length === this.cols.length && all.every((c, i) => c === this.cols[i]) && [...all].every((c) => numeric.has(c) === this.numeric.has(c))
    if (same) return
    this.cols = all
    this.numeric = numeric
    this.layout++
    this.filterBoxes.clear()
    this.headCells.clear()
    const titles = h(
      'tr',
      { class: 'titles' },
      h('th', {}, this.selectAll),
      h('th'),
      all.flatMap((col) => {
        // Right-aligned like its cells: config and metric columns of numbers (not dates and durations).
        const right = numeric.has(col) && parseCol(col).kind !== 'field'
        const th = h('th', { class: `sortable${right ? ' num' : ''}`, 'data-col': col, title: `sort by ${colLabel(col)}` }, colLabel(col), h('span', { class: 'arrow' }))
        th.addEventListener('click', () => this.events.sort(col))
        this.headCells.set(col, th)
        return col === 'field:name' ? [th, h('th', { class: 'labels-head' }, 'tags · note')] : th
      }),
      h('th'),
    )
    const filters = h(
      'tr',
      { class: 'filters' },
      h('th'),
      h('th'),
      all.flatMap((col) => {
        if (UNFILTERED.has(col)) return col === 'field:name' ? [h('th'), h('th')] : h('th')
        const box = h('input', { type: 'search', class: 'col-filter', 'data-col': col, placeholder: numeric.has(col) ? 'min..max' : 'filter', spellcheck: 'false' })
        box.addEventListener('input', () => this.events.filter(col, box.value))
        this.filterBoxes.set(col, box)
        const th = h('th', {}, box)
        return col === 'field:name' ? [th, h('th')] : th
      }),
      h('th'),
    )
    this.head.replaceChildren(titles, filters)
    for (const pad of [this.above, this.below]) (pad.firstChild as HTMLTableCellElement).colSpan = all.length + 4
  }

  dispose(): void {
    window.removeEventListener('scroll', this.onScroll)
    window.removeEventListener('resize', this.onScroll)
    cancelAnimationFrame(this.scrollFrame)
  }

  /** Sort arrows and filter boxes as the state says (a box being typed in is left alone). */
  setView(sort: string, desc: boolean, filters: Map<string, string>): void {
    for (const [col, th] of this.headCells) {
      const on = col === sort
      th.classList.toggle('sorted', on)
      ;(th.querySelector('.arrow') as HTMLElement).textContent = on ? (desc ? ' ▼' : ' ▲') : ''
    }
    for (const [col, box] of this.filterBoxes) {
      const want = filters.get(col) ?? ''
      if (box.value !== want && document.activeElement !== box) box.value = want
      box.classList.toggle('active', want.trim() !== '')
    }
  }

  /** Show these runs in this order (the rows near the viewport are built or updated now, the rest as they scroll in). */
  show(runs: RunData[], selected: Set<string>): void {
    this.shown = runs
    this.selected = selected
    this.paint(true)
    this.selectAll.checked = runs.length > 0 && runs.every((r) => selected.has(r.row.key))
  }

  /** The rows [first, last) near the viewport, from the table body's place on screen. */
  private range(): [number, number] {
    const n = this.shown.length
    const height = this.rowHeight || 32
    const top = this.body.getBoundingClientRect().top
    const first = Math.max(0, Math.min(n, Math.floor(-top / height) - BUFFER))
    const last = Math.max(Math.min(n, first + MIN_ROWS), Math.min(n, Math.ceil((window.innerHeight - top) / height) + BUFFER))
    return [first, last]
  }

  /** Put the rows of the current window into the document (with `force`, even when the window did not move). */
  private paint(force: boolean): void {
    const [first, last] = this.range()
    if (!force && first === this.window[0] && last === this.window[1]) return
    this.window = [first, last]
    const want = this.shown.slice(first, last).map((r) => this.rowFor(r, this.selected.has(r.row.key)))
    const keep = new Set<Element>(want.map((w) => w.tr))
    keep.add(this.above).add(this.below)
    for (const child of [...this.body.children]) if (!keep.has(child)) child.remove()
    let cur = this.above.nextSibling
    for (const w of want) {
      if (w.tr === cur) cur = cur.nextSibling
      else this.body.insertBefore(w.tr, cur)
    }
    if (!this.rowHeight && want.length) {
      // Measured once (a layout now); the window is worked out again with the real height.
      this.rowHeight = want[0].tr.getBoundingClientRect().height || 32
      this.paint(true)
      return
    }
    const pad = (tr: HTMLElement, rows: number) => {
      tr.hidden = rows === 0
      ;(tr.firstChild as HTMLElement).style.height = `${rows * this.rowHeight}px`
    }
    pad(this.above, first)
    pad(this.below, this.shown.length - last)
  }

  /**
   * Each column at least as wide as its longest value among `runs` (the listed runs, before the
   * filters, so filtering does not narrow it), in `ch`: a column does not widen when a longer
   * value scrolls in. The page calls this when the runs or their values change, not per brush step.
   */
  fit(runs: RunData[]): void {
    for (const col of this.cols) {
      let chars = 0
      if (col === 'field:createdAt') chars = runs.length ? display(runs[0], col).length : 0
      else for (const r of runs) chars = Math.max(chars, display(r, col).length)
      const th = this.headCells.get(col)
      const want = `${Math.min(chars, 48) + 1}ch`
      if (th && th.style.minWidth !== want) th.style.minWidth = want
    }
  }

  /** Forget rows of runs no longer listed. */
  forget(keys: Iterable<string>): void {
    for (const k of keys) {
      this.rows.get(k)?.tr.remove()
      this.rows.delete(k)
    }
  }

  private rowFor(r: RunData, checked: boolean): Row {
    let row = this.rows.get(r.row.key)
    if (!row || row.layout !== this.layout) row = this.build(r, row)
    else {
      for (let i = 0; i < this.cols.length; i++) {
        const text = display(r, this.cols[i])
        if (text === row.texts[i]) continue
        row.texts[i] = text
        row.cells[i].textContent = text
        if (this.cols[i] === 'field:status') row.cells[i].className = `status status-${text}`
      }
    }
    const sig = labelSig(r.row)
    if (sig !== row.labelSig && !isEditing(row.labels)) {
      row.labelSig = sig
      fillLabels(row.labels, r.row, this.events)
      row.actions.replaceChildren(archiveButton(r.row, this.events))
      row.tr.classList.toggle('archived', r.row.archived === true)
    }
    if (row.box.checked !== checked) row.box.checked = checked
    return row
  }

  private build(r: RunData, old: Row | undefined): Row {
    const key = r.row.key
    const box = h('input', { type: 'checkbox', checked: old?.box.checked ?? false })
    const texts: string[] = []
    const cells: HTMLElement[] = []
    const labels = h('td', { class: 'labels' })
    fillLabels(labels, r.row, this.events)
    const actions = h('td', { class: 'actions' }, archiveButton(r.row, this.events))
    const tds = this.cols.flatMap((col) => {
      const text = display(r, col)
      texts.push(text)
      let inner: HTMLElement
      let td: HTMLElement
      if (col === 'field:name') td = h('td', {}, (inner = h('a', { href: `#/run?runs=${encodeURIComponent(key)}`, class: 'run-link' }, text)))
      else if (col === 'field:status') td = h('td', {}, (inner = h('span', { class: `status status-${text}` }, text)))
      else {
        const kind = parseCol(col).kind
        td = inner = h('td', { class: kind === 'field' ? (col === 'field:runId' ? 'mono' : '') : `val${this.numeric.has(col) ? ' num' : ''}`, 'data-col': kind === 'field' ? undefined : col }, text)
      }
      cells.push(inner)
      return col === 'field:name' ? [td, labels] : td
    })
    const tr = h('tr', { class: `run-row${r.row.archived ? ' archived' : ''}`, 'data-key': key }, h('td', {}, box), h('td', {}, h('span', { class: 'swatch', style: { background: colorFor(key) } })), tds, actions)
    old?.tr.replaceWith(tr)
    const row: Row = { tr, box, cells, texts, layout: this.layout, labels, actions, labelSig: labelSig(r.row) }
    this.rows.set(key, row)
    return row
  }
}
