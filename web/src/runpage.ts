/**
 * A run page (one run, or several overlaid): tabs for scalars grouped by namespace, histograms,
 * media, tables, config/metadata and captured output. Namespaces load their metric names and
 * charts only when opened and charts fetch only when scrolled into view, so a run with 10,000
 * metrics stays usable. Each run has one live stream while the page is open: it appends new points
 * to the loaded charts and new entries to the histogram, media or table tab on screen.
 */
import { api } from './api'
import type { LogAppend, LogNames, RunDetail, Series } from './api'
import { MetricChart } from './chart'
import type { ChartSettings, XAxis } from './chart'
import { colorsFor } from './colors'
import { clear, fmtDuration, h } from './dom'
import { renderHistograms } from './histograms'
import type { LiveLogView } from './liveview'
import { renderMedia } from './media'
import { renderTables } from './tables'

const TABS = ['scalars', 'histograms', 'media', 'tables', 'config', 'output'] as const
type Tab = (typeof TABS)[number]

export interface PageHandle {
  dispose(): void
}

export async function renderRunPage(root: HTMLElement, keys: string[], tab: Tab | string, go: (hash: string) => void): Promise<PageHandle> {
  const colors = colorsFor(keys)
  const runs = keys.map((key) => ({ key, color: colors.get(key) as string }))
  const details = new Map<string, RunDetail>()
  await Promise.all(keys.map(async (k) => details.set(k, await api.run(k))))
  const primary = keys[0]
  const settings: ChartSettings = { xAxis: 'step', smoothing: Number(localStorage.getItem('amber.smoothing') ?? '0.6') }
  const charts = new Map<string, MetricChart>()
  const visible = new Set<MetricChart>()
  const streams = new Map<string, EventSource>()
  const disposers: (() => void)[] = []
  const current: Tab = (TABS as readonly string[]).includes(tab) ? (tab as Tab) : 'scalars'
  const hashFor = (t: Tab) => `#/run?runs=${keys.map(encodeURIComponent).join(',')}&tab=${t}`

  const statusEls = new Map<string, HTMLElement>()
  const header = h(
    'div',
    { class: 'run-header' },
    // Back to the runs table as it was left (columns, filters, compare view).
    h('a', { href: sessionStorage.getItem('amber.listHash') ?? '#/', class: 'back' }, '← runs'),
    runs.map((r) => {
      const md = details.get(r.key)?.metadata ?? {}
      const st = h('span', { class: `status status-${md.status}` }, String(md.status ?? ''))
      statusEls.set(r.key, st)
      const remove = keys.length > 1 ? h('button', { class: 'chip-x', title: 'remove from overlay', onclick: () => go(`#/run?runs=${keys.filter((k) => k !== r.key).map(encodeURIComponent).join(',')}&tab=${current}`) }, '×') : null
      return h('span', { class: 'run-chip', 'data-key': r.key }, h('span', { class: 'swatch', style: { background: r.color } }), String(md.name ?? r.key), ' ', st, remove)
    }),
  )
  const tabBar = h('nav', { class: 'tabs' }, TABS.map((t) => h('a', { href: hashFor(t), class: t === current ? 'tab active' : 'tab', 'data-tab': t }, t)))
  const body = h('div', { class: 'tab-body' })
  clear(root)
  root.append(header, tabBar, body)

  const outputBox = h('pre', { class: 'output' })
  const refreshOutput = async () => {
    const out = await api.output(primary)
    outputBox.textContent = out.text || '(no captured output)'
    outputBox.scrollTop = outputBox.scrollHeight
  }

  // ---- live streams: one per run, for the loaded charts near the viewport and the log tab ----
  const connect = () => {
    for (const s of streams.values()) s.close()
    streams.clear()
    for (const r of runs) {
      const loaded = [...visible].filter((c) => c.isLoaded)
      // Each chart resumes after the last step it has for this run (-1: from the start).
      const metrics = loaded.map((c) => c.name)
      // The histogram, media or table tab shows the primary run only.
      const view = r.key === primary ? logView : null
      const logs = view ? view.watches().map((w) => ({ kind: view.kind, ...w })) : []
      const es = new EventSource(api.liveUrl(r.key, metrics, loaded.map((c) => c.lastStep(r.key)), logs))
      const counted = () => (document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents ?? 0) + 1))
      es.addEventListener('points', (ev) => {
        const msg = JSON.parse((ev as MessageEvent).data) as Series & { metric: string }
        charts.get(msg.metric)?.append(r.key, msg)
        counted()
      })
      if (view) {
        es.addEventListener(view.kind, (ev) => {
          const msg = JSON.parse((ev as MessageEvent).data) as LogAppend<unknown>
          view.append(msg.name, msg.from, msg.entries)
          counted()
        })
        // A name logged for the first time: the view adds it, then the stream watches it too.
        es.addEventListener('logs', (ev) => {
          const names = JSON.parse((ev as MessageEvent).data) as LogNames
          void view.setNames(names[view.kind]).then(scheduleConnect)
        })
      }
      es.addEventListener('status', (ev) => {
        const msg = JSON.parse((ev as MessageEvent).data) as { status: string }
        const el = statusEls.get(r.key)
        if (el) {
          el.textContent = msg.status
          el.className = `status status-${msg.status}`
        }
      })
      es.addEventListener('metrics', () => void onNewMetrics(r.key))
      es.addEventListener('output', () => {
        if (current === 'output' && r.key === primary) void refreshOutput()
      })
      streams.set(r.key, es)
    }
  }
  let onNewMetrics: (key: string) => Promise<void> = async () => {}
  let logView: LiveLogView | null = null
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  const scheduleConnect = () => {
    clearTimeout(reconnectTimer)
    reconnectTimer = setTimeout(connect, 250)
  }

  if (current === 'scalars') renderScalars()
  else if (current === 'histograms' || current === 'media' || current === 'tables') {
    const names = details.get(primary)?.logs[current] ?? []
    if (current === 'histograms') logView = await renderHistograms(body, primary, names, scheduleConnect)
    else if (current === 'media') logView = await renderMedia(body, primary, names)
    else logView = await renderTables(body, primary, names)
    connect()
  } else if (current === 'config') renderConfig()
  else if (current === 'output') {
    body.append(outputBox)
    await refreshOutput()
    connect()
  }

  function renderScalars() {
    const xSel = h(
      'select',
      { class: 'x-axis' },
      (['step', 'globalStep', 'wall', 'relative'] as XAxis[]).map((x) =>
        h('option', { value: x }, { step: 'x: step', globalStep: 'x: global step', wall: 'x: wall time', relative: 'x: relative time' }[x]),
      ),
    )
    xSel.addEventListener('change', () => {
      settings.xAxis = xSel.value as XAxis
      for (const c of charts.values()) c.redraw()
    })
    const smooth = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: String(settings.smoothing), class: 'smoothing' })
    const smoothLabel = h('span', { class: 'smoothing-value' }, settings.smoothing.toFixed(2))
    smooth.addEventListener('input', () => {
      settings.smoothing = Number(smooth.value)
      smoothLabel.textContent = settings.smoothing.toFixed(2)
      localStorage.setItem('amber.smoothing', smooth.value)
      for (const c of charts.values()) c.redraw()
    })
    const filter = h('input', { type: 'search', placeholder: 'filter metrics…', class: 'metric-filter' })
    body.append(h('div', { class: 'toolbar' }, xSel, h('label', {}, 'smoothing ', smooth, smoothLabel), filter))

    // A chart loads when it first comes near the viewport, and the live stream follows the charts
    // near the viewport only (so its URL and the server's polling stay small with thousands of
    // charts); one scrolled back into view resumes after the last step it has.
    const observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const chart = charts.get((e.target as HTMLElement).dataset.metric as string)
          if (!chart) continue
          if (e.isIntersecting) {
            visible.add(chart)
            void chart.load().then(scheduleConnect)
          } else if (visible.delete(chart)) scheduleConnect()
        }
      },
      { rootMargin: '200px' },
    )
    disposers.push(() => observer.disconnect())

    // Training namespaces first, system metrics last, the rest alphabetically in between.
    const rank = (ns: string) => (ns === 'train' ? 0 : ns === 'val' || ns === 'valid' || ns === 'eval' ? 1 : ns === 'test' ? 2 : ns === 'sys' ? 5 : ns === '' ? 4 : 3)
    const needle = () => filter.value.toLowerCase()
    const matches = (m: string) => !needle() || m.toLowerCase().includes(needle())
    // A namespace may hold thousands of metrics: its chart cards are added a page at a time, the
    // next page on a click of the "more" button under the grid. (Not on scrolling: a page added
    // while the user scrolls past to a later namespace would push that namespace away.)
    const PAGE = 48
    interface Section {
      sec: HTMLDetailsElement
      count: HTMLElement
      filled: boolean
      /** Names of this namespace not yet given a card, in order. */
      pending: string[]
      fill: () => Promise<void>
      more: () => void
    }
    const sections = new Map<string, Section>()
    const emptyNote = h('p', { class: 'empty' }, 'No scalar metrics logged yet.')
    const sectionsBox = h('div', { class: 'namespaces' })
    body.append(sectionsBox)

    const addChart = (grid: HTMLElement, m: string) => {
      if (charts.has(m)) return
      const chart = new MetricChart(m, runs, () => settings)
      charts.set(m, chart)
      grid.append(chart.el)
      observer.observe(chart.el)
    }
    /** Create the sections of namespaces not shown yet (a live run may add some). */
    const syncNamespaces = () => {
      const nsCounts = new Map<string, number>()
      for (const d of details.values()) for (const ns of d.namespaces) nsCounts.set(ns.name, Math.max(nsCounts.get(ns.name) ?? 0, ns.count))
      const names = [...nsCounts.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
      // With few metrics everything opens; with thousands only the first namespace does.
      const total = [...nsCounts.values()].reduce((a, b) => a + b, 0)
      names.forEach((ns, i) => {
        const known = sections.get(ns)
        if (known) {
          known.count.textContent = ` ${nsCounts.get(ns)}`
          if (known.filled) {
            known.filled = false
            void known.fill()
          }
          return
        }
        const grid = h('div', { class: 'chart-grid' })
        const marker = h('button', { class: 'more', 'data-namespace': ns })
        const count = h('span', { class: 'count' }, ` ${nsCounts.get(ns)}`)
        const sec = h('details', { class: 'namespace', 'data-namespace': ns, open: total <= 60 || (i === 0 && sections.size === 0) }, h('summary', {}, ns || '(top level)', count), grid, marker)
        marker.hidden = true
        const entry: Section = {
          sec,
          count,
          filled: false,
          pending: [],
          fill: async () => {
            if (entry.filled) return
            entry.filled = true
            const lists = await Promise.all(keys.map((k) => api.metrics(k, ns).catch(() => [] as string[])))
            entry.pending = [...new Set(lists.flat())].sort().filter((m) => !charts.has(m))
            entry.more()
          },
          more: () => {
            const page: string[] = []
            entry.pending = entry.pending.filter((m) => {
              if (page.length >= PAGE || !matches(m)) return true
              page.push(m)
              return false
            })
            for (const m of page) addChart(grid, m)
            const left = entry.pending.filter(matches).length
            marker.hidden = left === 0
            marker.textContent = `show ${Math.min(PAGE, left)} more (${left} not shown)`
            sec.dataset.cards = String(grid.childElementCount)
          },
        }
        sections.set(ns, entry)
        marker.addEventListener('click', () => entry.more())
        sec.addEventListener('toggle', () => {
          if (sec.open) void entry.fill()
        })
        if (sec.open) void entry.fill()
        sectionsBox.append(sec)
      })
      if (names.length === 0) sectionsBox.append(emptyNote)
      else emptyNote.remove()
    }
    syncNamespaces()
    onNewMetrics = async (key: string) => {
      details.set(key, await api.run(key))
      syncNamespaces()
    }
    connect()
    filter.addEventListener('input', () => {
      for (const c of charts.values()) c.el.style.display = matches(c.name) ? '' : 'none'
      // Matching names not carded yet get their first page now.
      for (const sec of sections.values()) if (sec.filled) sec.more()
    })
  }

  function renderConfig() {
    for (const r of runs) {
      const md = { ...(details.get(r.key)?.metadata ?? {}) }
      const config = md.config
      delete md.config
      const created = Date.parse(String(md.createdAt ?? ''))
      const finished = Date.parse(String(md.finishedAt ?? ''))
      if (Number.isFinite(created)) md.duration = fmtDuration((Number.isFinite(finished) ? finished : Date.now()) - created)
      body.append(
        h(
          'section',
          { class: 'config', 'data-key': r.key },
          h('h3', {}, h('span', { class: 'swatch', style: { background: r.color } }), r.key),
          h('h4', {}, 'config'),
          h('pre', { class: 'json' }, JSON.stringify(config ?? {}, null, 2)),
          h('h4', {}, 'metadata'),
          h('table', { class: 'kv' }, Object.entries(md).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { class: 'mono' }, typeof v === 'object' ? JSON.stringify(v) : String(v))))),
        ),
      )
    }
  }

  return {
    dispose() {
      clearTimeout(reconnectTimer)
      for (const s of streams.values()) s.close()
      for (const d of disposers) d()
    },
  }
}
