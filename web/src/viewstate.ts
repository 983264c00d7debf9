/**
 * The runs page's whole view as a URL (the hash's query): columns, sort, filters, tracked metrics,
 * selection and the compare view's choices, so a view can be shared and a reload restores it.
 * Only what differs from the default is written, so the plain list stays `#/`.
 */

export interface ListState {
  /** Search text over project, name, id, annotation, tags, note and config. */
  q: string
  project: string
  /** Column ids chosen by the user, in order; null: the default (differing config keys + tracked metrics' summaries). */
  cols: string[] | null
  /** Metrics whose summaries the table and the compare view read. */
  metrics: string[]
  sort: string
  desc: boolean
  /** Column id → filter text as typed (see parseFilter). */
  filters: Map<string, string>
  selected: Set<string>
  compare: boolean
  /** The compare view's metric summary (a `last:`/`min:`/`max:` column id). */
  target: string
  scatterX: string
  scatterY: string
  /** Config key the grouped curves group by ('' = all runs in one group). */
  group: string
  /** Whether archived runs are listed too. */
  archived: boolean
  /** Only runs with this tag ('' = any). */
  tag: string
}

export const DEFAULT_SORT = 'field:createdAt'

export function parseState(query: string): ListState {
  const p = new URLSearchParams(query)
  const filters = new Map<string, string>()
  // A filter is `f.<column id>=<text>`: any column id and any text, without an escape of our own.
  for (const [k, v] of p) if (k.startsWith('f.') && v.trim()) filters.set(k.slice(2), v)
  return {
    q: p.get('q') ?? '',
    project: p.get('project') ?? '',
    cols: p.has('cols') ? p.getAll('col') : null,
    metrics: p.getAll('m'),
    sort: p.get('sort') ?? DEFAULT_SORT,
    desc: p.get('asc') === null,
    filters,
    selected: new Set(p.getAll('sel')),
    compare: p.get('view') === 'compare',
    target: p.get('target') ?? '',
    scatterX: p.get('x') ?? '',
    scatterY: p.get('y') ?? '',
    group: p.get('group') ?? '',
    archived: p.get('archived') === '1',
    tag: p.get('tag') ?? '',
  }
}

export function stateQuery(s: ListState): string {
  const p = new URLSearchParams()
  if (s.q) p.set('q', s.q)
  if (s.project) p.set('project', s.project)
  if (s.cols) {
    p.set('cols', String(s.cols.length))
    for (const c of s.cols) p.append('col', c)
  }
  for (const m of s.metrics) p.append('m', m)
  if (s.sort !== DEFAULT_SORT) p.set('sort', s.sort)
  if (!s.desc) p.set('asc', '1')
  for (const [col, raw] of s.filters) if (raw.trim()) p.set(`f.${col}`, raw)
  for (const k of s.selected) p.append('sel', k)
  if (s.compare) p.set('view', 'compare')
  if (s.target) p.set('target', s.target)
  if (s.scatterX) p.set('x', s.scatterX)
  if (s.scatterY) p.set('y', s.scatterY)
  if (s.group) p.set('group', s.group)
  if (s.archived) p.set('archived', '1')
  if (s.tag) p.set('tag', s.tag)
  return p.toString()
}

/**
 * Puts the state into the address bar without a navigation: replaceState fires no hashchange, so
 * the page is not rendered again, and the browser's back button still leaves the list in one step.
 */
export function writeState(s: ListState): void {
  const q = stateQuery(s)
  const hash = q ? `#/?${q}` : '#/'
  history.replaceState(history.state, '', hash)
  // Where the run page's "← runs" link goes back to.
  sessionStorage.setItem('amber.listHash', hash)
}
