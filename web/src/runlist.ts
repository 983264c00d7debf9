/**
 * The runs page: search, a project filter, the runs table with config keys and metric summaries
 * as columns (sortable, filterable, chosen in a picker), a selection to overlay on a run page, and
 * the compare view above the table. Every choice is in the URL (./viewstate). The page follows the
 * runs while it is visible: it asks for the run list (and the tracked metrics' summaries while a
 * run is live or something changed) every few seconds and updates the rows in place.
 */
import { api } from './api'
import type { LabelPatch, MetricStats, RunRow } from './api'
import { allKeys, configCol, differingKeys, flatten, isNumeric, matches, parseCol, parseFilter, rangeText, runData, statCol, STATS, valueOf, colLabel, compareValues, metricOf } from './columns'
import type { Filter, RunData } from './columns'
import { CompareView } from './compare'
import { h } from './dom'
import { ColumnPicker } from './picker'
import { poll } from './poller'
import { FIELD_COLS, RunTable } from './runtable'
import { parseState, writeState } from './viewstate'
import type { PageHandle } from './runpage'

/** How often the page asks for the runs (the poller backs off when answers are slow). */
const REFRESH_MS = 2000
/** Config columns shown by default at most (a model summary in the config may differ in hundreds of keys). */
const MAX_DEFAULT_COLS = 12
/** Parallel coordinates axes at most, besides the metric. */
const MAX_AXES = 12

function sameRow(a: RunRow, b: RunRow): boolean {
  return (
    a.status === b.status &&
    a.finishedAt === b.finishedAt &&
    a.createdAt === b.createdAt &&
    a.name === b.name &&
    a.annotation === b.annotation &&
    a.runId === b.runId &&
    a.note === b.note &&
    a.archived === b.archived &&
    String(a.tags) === String(b.tags) &&
    JSON.stringify(a.config) === JSON.stringify(b.config)
  )
}

function sameStats(a: MetricStats | null | undefined, b: MetricStats | null): boolean {
  if (!a || !b) return (a ?? null) === b
  return a.count === b.count && a.last === b.last && a.min === b.min && a.max === b.max && a.lastStep === b.lastStep
}

export async function renderRunList(root: HTMLElement, go: (hash: string) => void, query: string): Promise<PageHandle> {
  const state = parseState(query)
  // The table is drawn from the run list alone; the metric columns fill in when their summaries
  // come. They are asked for after the list: on a data dir they open every run, which takes longer
  // than the list with 1,000 runs and holds up the server's other answers meanwhile.
  const rows = await api.runs()
  const summaries = state.metrics.map((m) => api.summaries(m).catch(() => ({}) as Record<string, MetricStats | null>))
  let data = new Map<string, RunData>(rows.map((r) => [r.key, runData(r)]))
  /** Puts a metric's summaries into the runs; true when any changed. */
  const applyStats = (metric: string, stats: Record<string, MetricStats | null>): boolean => {
    let changed = false
    for (const r of data.values()) {
      const s = stats[r.row.key] ?? null
      if (!sameStats(r.stats.get(metric), s)) {
        r.stats.set(metric, s)
        changed = true
      }
    }
    if (changed) version++
    return changed
  }

  // ---- the toolbar ----
  const search = h('input', { type: 'search', placeholder: 'search runs…', class: 'search', value: state.q })
  const projectSel = h('select', { class: 'project-filter' })
  const sortSel = h('select', { class: 'sort-by' })
  const dirBtn = h('button', { class: 'sort-dir', title: 'sort direction' })
  const metricNames = h('datalist', { id: 'metric-names' })
  const metricInput = h('input', { type: 'text', placeholder: 'add a metric (last / min / max)…', class: 'metric-input', list: 'metric-names', spellcheck: 'false' })
  const metricChips = h('span', { class: 'metric-chips' })
  const picker = new ColumnPicker((cols) => setColumns(cols))
  const compareToggle = h('button', { class: 'compare-toggle' })
  const overlay = h('button', { class: 'compare', title: 'open the selected runs overlaid on one run page' }, 'Open selected')
  const clearSel = h('button', { class: 'clear-selection' })
  const clearFilters = h('button', { class: 'clear-filters' })
  const count = h('span', { class: 'count' })
  const showArchived = h('input', { type: 'checkbox', class: 'show-archived', checked: state.archived })
  const archivedLabel = h('label', { class: 'archived-toggle', title: 'list archived runs too' }, showArchived, h('span', { class: 'archived-text' }, 'show archived'))
  const tagFilter = h('span', { class: 'tag-filter' })
  const empty = h('p', { class: 'empty' }, 'No runs in this folder yet. Log one with Board, or try `amber demo`.')

  const table = new RunTable({
    sort: (col) => {
      if (state.sort === col) state.desc = !state.desc
      else {
        state.sort = col
        state.desc = false
      }
      changed()
    },
    filter: (col, raw) => {
      if (raw.trim()) state.filters.set(col, raw)
      else state.filters.delete(col)
      changed()
    },
    label: async (key: string, patch: LabelPatch) => {
      const after = await api.label(key, patch)
      const r = data.get(key)
      if (r) {
        r.row = { ...r.row, ...after }
        version++
      }
      // At the next frame: the editor that saved closes first, then its cell shows the new labels.
      soon()
    },
    tag: (tag: string) => {
      state.tag = tag
      changed()
    },
    select: (keys, on) => {
      for (const k of keys) {
        if (on) state.selected.add(k)
        else state.selected.delete(k)
      }
      changed()
    },
  })
  const compare = new CompareView({
    brush: (col, range, done) => {
      if (range) state.filters.set(col, rangeText(range[0], range[1]))
      else state.filters.delete(col)
      // While dragging only the view follows; the address bar once the drag ends.
      if (done) changed()
      else soon()
    },
    choose: (patch) => {
      Object.assign(state, patch)
      changed()
    },
  })

  // ---- from the state to the page ----
  let listedNow: RunData[] = []
  /** Bumped whenever a run or a summary changes; with the search and columns, when the table's column widths were last fitted. */
  let version = 0
  let fitted = ''
  let frame = 0
  /** Refresh at the next frame (many events in one frame refresh once). */
  const soon = () => {
    if (!frame) frame = requestAnimationFrame(() => {
      frame = 0
      refresh()
    })
  }
  /** A choice changed: refresh and put the view into the URL. */
  const changed = () => {
    soon()
    writeState(state)
  }

  const listed = (): RunData[] => {
    const needle = state.q.toLowerCase()
    return [...data.values()].filter(
      (r) =>
        (state.archived || r.row.archived !== true) &&
        (!state.tag || (r.row.tags ?? []).includes(state.tag)) &&
        (!state.project || r.row.project === state.project) &&
        (!needle || `${r.row.project} ${r.row.name} ${r.row.runId} ${r.row.annotation ?? ''} ${(r.row.tags ?? []).join(' ')} ${r.row.note ?? ''} ${JSON.stringify(r.row.config)}`.toLowerCase().includes(needle)),
    )
  }
  const metricCols = () => state.metrics.flatMap((m) => STATS.map((s) => statCol(s, m)))

  const setColumns = (cols: string[] | null) => {
    // A column taken away takes its filter with it (a filter no one sees would still hide runs).
    const before = new Set(shownCols())
    state.cols = cols
    const after = new Set(shownCols())
    for (const c of before) if (!after.has(c)) state.filters.delete(c)
    changed()
  }
  let differing: string[] = []
  const shownCols = () => state.cols ?? [...differing.slice(0, MAX_DEFAULT_COLS).map(configCol), ...metricCols()]

  const setOptions = (sel: HTMLSelectElement, options: [string, string][], value: string) => {
    const sig = options.map((o) => o.join('\t')).join('\n')
    if (sel.dataset.sig !== sig) {
      sel.replaceChildren(...options.map(([v, label]) => h('option', { value: v }, label)))
      sel.dataset.sig = sig
    }
    if (sel.value !== value) sel.value = value
  }

  const refresh = () => {
    const list = (listedNow = listed())
    differing = differingKeys(list)
    const cols = shownCols()
    const keys = allKeys(list)
    const numericOf = (col: string) => isNumeric(list.map((r) => valueOf(r, col)))
    const numeric = new Set([...FIELD_COLS, ...cols].filter(numericOf))
    const filters: [string, Filter][] = [...state.filters].map(([c, raw]) => [c, parseFilter(raw, numeric.has(c) || (!cols.includes(c) && numericOf(c)))])
    const passing = list.filter((r) => filters.every(([c, f]) => matches(f, valueOf(r, c))))
    // Each run's sort value once, not once per comparison.
    const sortVal = new Map(passing.map((r) => [r, valueOf(r, state.sort)]))
    const dir = state.desc ? -1 : 1
    passing.sort((a, b) => {
      const va = sortVal.get(a)
      const vb = sortVal.get(b)
      // Runs without a value go last whatever the direction.
      if (va === undefined || va === null) return vb === undefined || vb === null ? a.row.key.localeCompare(b.row.key) : 1
      if (vb === undefined || vb === null) return -1
      return dir * compareValues(va, vb) || a.row.key.localeCompare(b.row.key)
    })
    table.setColumns(cols, numeric)
    table.setView(state.sort, state.desc, state.filters)
    const fitNow = `${version}\n${state.q}\n${state.project}\n${cols.join('\n')}`
    if (fitNow !== fitted) {
      fitted = fitNow
      table.fit(list)
    }
    table.show(passing, state.selected)

    // The toolbar's counts and choices.
    const activeFilters = [...state.filters.values()].filter((v) => v.trim()).length
    count.textContent = `${passing.length} of ${data.size} runs`
    const archivedCount = [...data.values()].filter((r) => r.row.archived === true).length
    if (showArchived.checked !== state.archived) showArchived.checked = state.archived
    ;(archivedLabel.lastChild as HTMLElement).textContent = `show archived (${archivedCount})`
    archivedLabel.classList.toggle('active', state.archived)
    if (tagFilter.dataset.tag !== state.tag) {
      tagFilter.dataset.tag = state.tag
      tagFilter.replaceChildren(
        ...(state.tag
          ? [h('span', { class: 'tag-chip active' }, h('span', { class: 'tag-name' }, `tag: ${state.tag}`), h('button', { class: 'chip-x', title: 'show runs of any tag', onclick: () => ((state.tag = ''), changed()) }, '×'))]
          : []),
      )
    }
    clearFilters.hidden = activeFilters === 0
    clearFilters.textContent = `clear ${activeFilters} filter${activeFilters === 1 ? '' : 's'}`
    clearSel.hidden = state.selected.size === 0
    clearSel.textContent = `clear selection (${state.selected.size})`
    overlay.disabled = state.selected.size === 0
    compareToggle.textContent = state.compare ? 'Hide compare view' : 'Compare view'
    compareToggle.classList.toggle('active', state.compare)
    dirBtn.textContent = state.desc ? '↓' : '↑'
    const projects = [...new Set([...data.values()].map((r) => r.row.project))].sort()
    setOptions(projectSel, [['', 'all projects'], ...projects.map((p) => [p, p] as [string, string])], state.project)
    const sorts: [string, string][] = [
      ['field:createdAt', 'sort: created'],
      ['field:name', 'sort: name'],
      ['field:status', 'sort: status'],
      ['field:duration', 'sort: duration'],
      ...keys.map((k) => [configCol(k), `sort: config.${k}`] as [string, string]),
      ...metricCols().map((c) => [c, `sort: ${colLabel(c)}`] as [string, string]),
    ]
    if (!sorts.some((s) => s[0] === state.sort)) sorts.push([state.sort, `sort: ${colLabel(state.sort)}`])
    setOptions(sortSel, sorts, state.sort)
    picker.update(cols, [...keys.map(configCol), ...metricCols()], state.cols === null, Math.max(0, differing.length - MAX_DEFAULT_COLS))
    const chipSig = state.metrics.join('\n')
    if (metricChips.dataset.sig !== chipSig) {
      metricChips.dataset.sig = chipSig
      metricChips.replaceChildren(
        ...state.metrics.map((m) => h('span', { class: 'metric-chip', 'data-metric': m }, m, h('button', { class: 'chip-x', title: `stop showing ${m}`, onclick: () => removeMetric(m) }, '×'))),
      )
    }
    empty.hidden = data.size > 0

    compareBox.hidden = !state.compare
    if (state.compare) {
      const on = new Set(passing.map((r) => r.row.key))
      const base = state.selected.size ? [...data.values()].filter((r) => state.selected.has(r.row.key)) : list
      const configShown = cols.filter((c) => parseCol(c).kind === 'config')
      compare.update({
        base,
        on,
        compared: base.filter((r) => on.has(r.row.key)),
        axes: (configShown.length ? configShown : differing.map(configCol)).slice(0, MAX_AXES),
        keys,
        metrics: state.metrics,
        state,
      })
    }
    document.body.dataset.runs = String(data.size)
    document.body.dataset.shown = String(passing.length)
  }

  // ---- tracked metrics ----
  const addMetric = async (name: string) => {
    if (!name || state.metrics.includes(name)) return
    state.metrics.push(name)
    if (state.cols) state.cols.push(...STATS.map((s) => statCol(s, name)))
    statsReady(false)
    try {
      applyStats(name, await api.summaries(name))
    } catch {
      // The columns stay empty; the next refresh asks again.
    }
    writeState(state)
    refresh()
    statsReady(true)
  }
  const removeMetric = (name: string) => {
    state.metrics = state.metrics.filter((m) => m !== name)
    const gone = (c: string) => metricOf(c) === name
    if (state.cols) state.cols = state.cols.filter((c) => !gone(c))
    for (const c of [...state.filters.keys()]) if (gone(c)) state.filters.delete(c)
    if (gone(state.target)) state.target = ''
    if (gone(state.scatterX)) state.scatterX = ''
    if (gone(state.scatterY)) state.scatterY = ''
    if (gone(state.sort)) state.sort = 'field:createdAt'
    for (const r of data.values()) r.stats.delete(name)
    changed()
  }
  metricInput.addEventListener('change', () => {
    const name = metricInput.value.trim()
    metricInput.value = ''
    void addMetric(name)
  })
  // Metric names to pick from: those of a few listed runs, fetched the first time the box is used.
  let namesAsked = false
  metricInput.addEventListener('focus', () => {
    if (namesAsked) return
    namesAsked = true
    void Promise.all(listedNow.slice(0, 8).map((r) => api.allMetrics(r.row.key).catch(() => [] as string[]))).then((lists) => {
      const names = [...new Set(lists.flat())].sort()
      metricNames.replaceChildren(...names.map((n) => h('option', { value: n })))
    })
  })

  // ---- toolbar events ----
  search.addEventListener('input', () => {
    state.q = search.value
    changed()
  })
  projectSel.addEventListener('change', () => {
    state.project = projectSel.value
    changed()
  })
  sortSel.addEventListener('change', () => {
    state.sort = sortSel.value
    changed()
  })
  dirBtn.addEventListener('click', () => {
    state.desc = !state.desc
    changed()
  })
  compareToggle.addEventListener('click', () => {
    state.compare = !state.compare
    changed()
  })
  clearSel.addEventListener('click', () => {
    state.selected.clear()
    changed()
  })
  showArchived.addEventListener('change', () => {
    state.archived = showArchived.checked
    changed()
  })
  clearFilters.addEventListener('click', () => {
    state.filters.clear()
    changed()
  })
  overlay.addEventListener('click', () => go(`#/run?runs=${[...state.selected].map(encodeURIComponent).join(',')}`))

  const compareBox = compare.el
  root.replaceChildren(
    h('div', { class: 'toolbar' }, search, projectSel, sortSel, dirBtn, metricInput, metricNames, metricChips, picker.el, compareToggle, overlay, archivedLabel, tagFilter, clearSel, clearFilters, count),
    compareBox,
    h('div', { class: 'table-wrap' }, table.el),
    empty,
  )
  refresh()
  writeState(state)
  let disposed = false
  /** Whether every tracked metric's summaries are in (the browser tests wait for it). */
  const statsReady = (ready: boolean) => (document.body.dataset.stats = ready ? 'ready' : 'loading')
  statsReady(summaries.length === 0)
  const asked = [...state.metrics]
  void Promise.all(summaries).then((lists) => {
    if (disposed) return
    lists.forEach((stats, i) => {
      if (state.metrics.includes(asked[i])) applyStats(asked[i], stats)
    })
    refresh()
    statsReady(true)
  })

  // ---- following the runs ----
  let liveBefore = rows.some((r) => r.status === 'running')
  const poller = poll(async () => {
    const fresh = await api.runs()
    let moved = false
    const next = new Map<string, RunData>()
    for (const row of fresh) {
      const old = data.get(row.key)
      if (!old) {
        next.set(row.key, runData(row))
        moved = true
      } else {
        if (!sameRow(old.row, row)) {
          if (JSON.stringify(old.row.config) !== JSON.stringify(row.config)) old.flat = flatten(row.config)
          old.row = row
          moved = true
        }
        next.set(row.key, old)
      }
    }
    const gone = [...data.keys()].filter((k) => !next.has(k))
    if (gone.length) {
      table.forget(gone)
      moved = true
    }
    data = next
    if (moved) version++
    // Summaries change only while a run logs; a run that just finished or appeared has new ones too.
    const live = fresh.some((r) => r.status === 'running')
    const metrics = [...state.metrics]
    if (metrics.length && (live || liveBefore || moved)) {
      const lists = await Promise.all(metrics.map((m) => api.summaries(m)))
      metrics.forEach((m, i) => {
        if (state.metrics.includes(m) && applyStats(m, lists[i])) moved = true
      })
    }
    liveBefore = live
    // A live run's duration grows, so its row has something to show at each tick.
    if (moved || live) refresh()
  }, REFRESH_MS)

  const onResize = () => {
    if (state.compare) refresh()
  }
  window.addEventListener('resize', onResize)
  return {
    dispose() {
      disposed = true
      poller.stop()
      cancelAnimationFrame(frame)
      table.dispose()
      compare.dispose()
      window.removeEventListener('resize', onResize)
    },
  }
}
