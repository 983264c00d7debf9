/**
 * A run page (one run, or several overlaid): tabs for scalars grouped by namespace, histograms,
 * media, tables, config/metadata and captured output. Namespaces load their metric names and
 * charts only when opened and charts fetch only when scrolled into view, so a run with 10,000
 * metrics stays usable. Each run has one live stream while the page is open.
 */
import { api } from './api'
import type { RunDetail, Series } from './api'
import { MetricChart } from './chart'
import type { ChartSettings, XAxis } from './chart'
import { colorsFor } from './colors'
import { clear, fmtDuration, h } from './dom'
import { renderHistograms } from './histograms'
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
  const streams = new Map<string, EventSource>()
  const disposers: (() => void)[] = []
  const current: Tab = (TABS as readonly string[]).includes(tab) ? (tab as Tab) : 'scalars'
  const hashFor = (t: Tab) => `#/run?runs=${keys.map(encodeURIComponent).join(',')}&tab=${t}`

  const statusEls = new Map<string, HTMLElement>()
  const header = h(
    'div',
    { class: 'run-header' },
    h('a', { href: '#/', class: 'back' }, '← runs'),
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

  // ---- live streams: one per run, for the charts currently loaded ----
  const connect = () => {
    for (const s of streams.values()) s.close()
    streams.clear()
    for (const r of runs) {
      const loaded = [...charts.values()].filter((c) => c.isLoaded)
      // Each chart resumes after the last step it has for this run (-1: from the start).
      const metrics = loaded.map((c) => c.name)
      const es = new EventSource(api.liveUrl(r.key, metrics, loaded.map((c) => c.lastStep(r.key))))
      es.addEventListener('points', (ev) => {
        const msg = JSON.parse((ev as MessageEvent).data) as Series & { metric: string }
        charts.get(msg.metric)?.append(r.key, msg)
        document.body.dataset.liveEvents = String(Number(document.body.dataset.liveEvents ?? 0) + 1)
      })
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
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined
  const scheduleConnect = () => {
    clearTimeout(reconnectTimer)
    reconnectTimer = setTimeout(connect, 150)
  }

  if (current === 'scalars') renderScalars()
  else if (current === 'histograms') await renderHistograms(body, primary, details.get(primary)?.logs.histograms ?? [])
  else if (current === 'media') await renderMedia(body, primary, details.get(primary)?.logs.media ?? [])
  else if (current === 'tables') await renderTables(body, primary, details.get(primary)?.logs.tables ?? [])
  else if (current === 'config') renderConfig()
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

    const observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue
          observer.unobserve(e.target)
          const chart = charts.get((e.target as HTMLElement).dataset.metric as string)
          if (chart) void chart.load().then(scheduleConnect)
        }
      },
      { rootMargin: '200px' },
    )
    disposers.push(() => observer.disconnect())

    // Training namespaces first, system metrics last, the rest alphabetically in between.
    const rank = (ns: string) => (ns === 'train' ? 0 : ns === 'val' || ns === 'valid' || ns === 'eval' ? 1 : ns === 'test' ? 2 : ns === 'sys' ? 5 : ns === '' ? 4 : 3)
    const sections = new Map<string, { sec: HTMLDetailsElement; count: HTMLElement; fill: () => Promise<void>; filled: boolean }>()
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
        const count = h('span', { class: 'count' }, ` ${nsCounts.get(ns)}`)
        const sec = h('details', { class: 'namespace', 'data-namespace': ns, open: total <= 60 || (i === 0 && sections.size === 0) }, h('summary', {}, ns || '(top level)', count), grid)
        const entry = {
          sec,
          count,
          filled: false,
          fill: async () => {
            if (entry.filled) return
            entry.filled = true
            const lists = await Promise.all(keys.map((k) => api.metrics(k, ns).catch(() => [] as string[])))
            for (const m of [...new Set(lists.flat())].sort()) addChart(grid, m)
          },
        }
        sections.set(ns, entry)
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
      const needle = filter.value.toLowerCase()
      for (const c of charts.values()) c.el.style.display = !needle || c.name.toLowerCase().includes(needle) ? '' : 'none'
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
