/** Typed fetches of the viewer's JSON API. */
import type { RunRow, Series, LogKind, LogNames, LogAppend, RunDetail, HistogramEntry, MediaEntry, MetricStats, TableEntry } from '../../src/viewer/wire'

export type { RunRow, Series, LogKind, LogNames, LogAppend, RunDetail, HistogramEntry, MediaEntry, MetricStats, TableEntry }

/** The JSON of a reply, or an Error with the server's message (`{ error }`) and status. */
async function replyOf<T>(res: Response): Promise<T> {
  if (!res.ok) {
    let msg = res.statusText
    try {
      msg = ((await res.json()) as { error: string }).error
    } catch {
      /* not JSON */
    }
    throw new Error(`${res.status}: ${msg}`)
  }
  return (await res.json()) as T
}

async function get<T>(path: string): Promise<T> {
  return replyOf<T>(await fetch(path))
}

/** A run's labels as the server keeps them, and a change of them (src/board/labels.ts). */
export interface RunLabels {
  tags: string[]
  note: string | null
  archived: boolean
}
export interface LabelPatch {
  addTags?: string[]
  removeTags?: string[]
  note?: string | null
  archived?: boolean
}

/** POST a run's label change; the labels after it (or an Error with the server's message). */
async function postLabels(path: string, patch: LabelPatch): Promise<RunLabels> {
  return replyOf<RunLabels>(await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(patch) }))
}

const enc = encodeURIComponent
export const runPath = (key: string) => {
  const [p, r] = key.split('/')
  return `/api/runs/${enc(p)}/${enc(r)}`
}

export const api = {
  runs: () => get<RunRow[]>('/api/runs'),
  /** One metric's count, last, min and max in every run (null for a run without it): one request for the whole table. */
  summaries: (metric: string) => get<Record<string, MetricStats | null>>(`/api/summaries?metric=${enc(metric)}`),
  run: (key: string) => get<RunDetail>(runPath(key)),
  /** Change a run's tags, note or archived flag. */
  label: (key: string, patch: LabelPatch) => postLabels(`${runPath(key)}/labels`, patch),
  /** Every metric name of a run. */
  allMetrics: (key: string) => get<string[]>(`${runPath(key)}/metrics`),
  metrics: (key: string, ns: string) => get<string[]>(`${runPath(key)}/metrics?namespace=${enc(ns)}`),
  /** A metric downsampled to `maxPoints`; with `range`, only its points with a step in [start, end]. */
  scalars: (key: string, name: string, maxPoints: number, range: { start?: number; end?: number } = {}) =>
    get<Series>(`${runPath(key)}/scalars?name=${enc(name)}&maxPoints=${maxPoints}${range.start === undefined ? '' : `&start=${range.start}`}${range.end === undefined ? '' : `&end=${range.end}`}`),
  histograms: (key: string, name: string) => get<HistogramEntry[]>(`${runPath(key)}/histograms?name=${enc(name)}`),
  media: (key: string, name: string) => get<MediaEntry[]>(`${runPath(key)}/media?name=${enc(name)}`),
  mediaUrl: (key: string, id: string) => `${runPath(key)}/media/${enc(id)}`,
  tables: (key: string, name: string) => get<TableEntry[]>(`${runPath(key)}/tables?name=${enc(name)}`),
  output: (key: string) => get<{ text: string; size: number }>(`${runPath(key)}/output?tail=200000`),
  /** The live stream of a run: points after `since` per metric, entries after `have` per log. */
  liveUrl: (key: string, metrics: string[], since: number[], logs: { kind: LogKind; name: string; have: number }[] = []) => {
    const param: Record<LogKind, string> = { histograms: 'histogram', media: 'media', tables: 'table' }
    const q = [...metrics.map((m, i) => `metric=${enc(m)}&since=${since[i]}`), ...logs.map((w) => `${param[w.kind]}=${w.have}:${enc(w.name)}`)]
    return `${runPath(key)}/live?${q.join('&')}`
  },
}

/** JSON carries NaN/Infinity as strings; charts want numbers (null for a gap). */
export function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v)
}
