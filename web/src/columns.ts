/**
 * The runs table's columns: what a column id names, a run's value in it, how values sort and how
 * a column's filter text matches. Column ids are plain strings so they travel in the URL:
 *   field:<name>      a run's own field (project, name, runId, status, createdAt, duration)
 *   config:<key>      a flattened config key (`optimizer.lr`)
 *   last:<metric>, min:<metric>, max:<metric>   a metric's summary from /api/summaries
 */
import type { MetricStats, RunRow } from './api'
import { num } from './api'
import { fmtNum } from './dom'

/** What a flattened config key holds: arrays and other objects stay whole, as JSON text. */
export type Scalar = number | string | boolean | null

export type StatKind = 'last' | 'min' | 'max'
export const STATS: StatKind[] = ['last', 'min', 'max']

/** One run as the table, its filters and the compare view read it. */
export interface RunData {
  row: RunRow
  flat: Map<string, Scalar>
  /** Per tracked metric: its summary in this run (null when the run has no such metric). */
  stats: Map<string, MetricStats | null>
}

/**
 * `{ optimizer: { lr: 0.1 } }` → `optimizer.lr: 0.1`. Only plain objects are walked into: an
 * array is one value (its JSON), since `layers.0.units` columns would explode a model summary.
 */
export function flatten(config: Record<string, unknown> | null | undefined): Map<string, Scalar> {
  const out = new Map<string, Scalar>()
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k
      if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) walk(v as Record<string, unknown>, key)
      else if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out.set(key, v)
      else out.set(key, JSON.stringify(v) ?? null)
    }
  }
  if (config && typeof config === 'object') walk(config, '')
  return out
}

export function runData(row: RunRow, stats: Map<string, MetricStats | null> = new Map()): RunData {
  return { row, flat: flatten(row.config), stats }
}

/**
 * The config keys whose values are not the same in every run given (a key some runs lack counts
 * as differing), in key order: the table's columns until the user picks their own.
 */
export function differingKeys(runs: RunData[]): string[] {
  const first = new Map<string, Scalar | undefined>()
  const differs = new Set<string>()
  runs.forEach((r, i) => {
    for (const [k, v] of r.flat) {
      if (!first.has(k)) {
        first.set(k, v)
        // Absent from the runs before this one.
        if (i > 0) differs.add(k)
      } else if (first.get(k) !== v) differs.add(k)
    }
  })
  for (const k of first.keys()) if (!differs.has(k) && runs.some((r) => !r.flat.has(k))) differs.add(k)
  return [...differs].sort(keyOrder)
}

/** Every config key of the runs given, in key order. */
export function allKeys(runs: RunData[]): string[] {
  const keys = new Set<string>()
  for (const r of runs) for (const k of r.flat.keys()) keys.add(k)
  return [...keys].sort(keyOrder)
}

export function keyOrder(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true })
}

export type ColKind = 'field' | 'config' | StatKind

export function parseCol(id: string): { kind: ColKind; name: string } {
  const i = id.indexOf(':')
  const kind = id.slice(0, i) as ColKind
  return { kind, name: id.slice(i + 1) }
}

export const configCol = (key: string) => `config:${key}`
export const statCol = (stat: StatKind, metric: string) => `${stat}:${metric}`
export const isStat = (kind: ColKind): kind is StatKind => kind === 'last' || kind === 'min' || kind === 'max'

/** The metric a column reads (undefined for a field or config column). */
export function metricOf(id: string): string | undefined {
  const c = parseCol(id)
  return isStat(c.kind) ? c.name : undefined
}

/** The header text of a column. */
export function colLabel(id: string): string {
  const c = parseCol(id)
  if (c.kind === 'field') return FIELD_LABELS[c.name] ?? c.name
  if (c.kind === 'config') return c.name
  return `${c.name} ${c.kind}`
}

const FIELD_LABELS: Record<string, string> = { project: 'project', name: 'name', runId: 'id', status: 'status', createdAt: 'created', duration: 'duration' }

export function durationMs(row: RunRow, now = Date.now()): number {
  if (!row.createdAt) return NaN
  return (row.finishedAt ? Date.parse(row.finishedAt) : now) - Date.parse(row.createdAt)
}

/**
 * A run's value in a column: a number, a string or a boolean; undefined when it has none (a key
 * it lacks, a metric it did not log, a NaN summary: NaN neither sorts nor filters).
 */
export function valueOf(r: RunData, id: string): Scalar | undefined {
  const c = parseCol(id)
  if (c.kind === 'config') {
    const v = r.flat.get(c.name)
    return v === null ? undefined : v
  }
  if (c.kind === 'field') {
    if (c.name === 'duration') {
      const d = durationMs(r.row)
      return Number.isFinite(d) ? d : undefined
    }
    if (c.name === 'createdAt') return r.row.createdAt ? Date.parse(r.row.createdAt) : undefined
    const v = (r.row as unknown as Record<string, unknown>)[c.name]
    return v === null || v === undefined ? undefined : String(v)
  }
  const s = r.stats.get(c.name)
  const v = s ? s[c.kind] : null
  if (v === null || v === undefined) return undefined
  const n = num(v)
  return Number.isNaN(n) ? undefined : n
}

/** A cell's text. */
export function cellText(v: Scalar | undefined): string {
  if (v === undefined || v === null) return ''
  if (typeof v === 'number') return fmtNum(v)
  return String(v)
}

/** Ascending order; a missing value is handled by the caller (always last). */
export function compareValues(a: Scalar, b: Scalar): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b
  if (typeof a === 'number') return -1
  if (typeof b === 'number') return 1
  return String(a).localeCompare(String(b), undefined, { numeric: true })
}

/** True when every value the column has is a number: it gets a range filter and a numeric axis. */
export function isNumeric(values: (Scalar | undefined)[]): boolean {
  let any = false
  for (const v of values) {
    if (v === undefined || v === null) continue
    if (typeof v !== 'number') return false
    any = true
  }
  return any
}

/**
 * A column filter as typed: for a numeric column `min..max` (either side may be left out: `0.01..`,
 * `..0.1`) or one number (that value); anything else, and any text for other columns, is a
 * case-insensitive "contains" on the cell text. An empty filter matches everything; a run with no
 * value matches no filter.
 */
export type Filter = { kind: 'range'; min: number; max: number } | { kind: 'text'; needle: string } | { kind: 'all' }

const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?Infinity`
const RANGE = new RegExp(String.raw`^\s*(${NUM})?\s*\.\.\s*(${NUM})?\s*$`, 'i')

export function parseFilter(raw: string, numeric: boolean): Filter {
  const text = raw.trim()
  if (!text) return { kind: 'all' }
  if (numeric) {
    const m = RANGE.exec(text)
    if (m && (m[1] !== undefined || m[2] !== undefined)) return { kind: 'range', min: m[1] === undefined ? -Infinity : Number(m[1]), max: m[2] === undefined ? Infinity : Number(m[2]) }
    if (new RegExp(`^(?:${NUM})$`, 'i').test(text)) return { kind: 'range', min: Number(text), max: Number(text) }
  }
  return { kind: 'text', needle: text.toLowerCase() }
}

export function matches(f: Filter, v: Scalar | undefined): boolean {
  if (f.kind === 'all') return true
  if (v === undefined || v === null) return false
  if (f.kind === 'range') return typeof v === 'number' && v >= f.min && v <= f.max
  return cellText(v).toLowerCase().includes(f.needle)
}

/** A brushed range as filter text, short but not narrower than the brush (rounded outwards). */
export function rangeText(min: number, max: number): string {
  const round = (v: number, dir: 1 | -1) => {
    if (!Number.isFinite(v) || v === 0) return String(v)
    const p = 10 ** (Math.floor(Math.log10(Math.abs(v))) - 3)
    return String(Number(((dir > 0 ? Math.ceil(v / p) : Math.floor(v / p)) * p).toPrecision(4)))
  }
  return `${round(min, -1)}..${round(max, 1)}`
}
