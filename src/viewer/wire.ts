/**
 * The JSON shapes of the viewer's HTTP API, shared by the server (src/viewer) and the front end
 * (web/src), which imports them as types only.
 */

export interface RunRow {
  /** `project/folder`: the key the front end uses in URLs. */
  key: string
  project: string
  folder: string
  runId: string
  name: string
  status: string
  createdAt: string | null
  finishedAt: string | null
  annotation: string | null
  config: Record<string, unknown>
  /** Labels added after the fact (src/board/labels.ts). */
  tags: string[]
  note: string | null
  archived: boolean
}

export interface Series {
  step: number[]
  globalStep: number[]
  timestamp: number[]
  /** Non-finite values travel as the strings 'NaN', 'Infinity', '-Infinity' (JSON has no such numbers). */
  value: (number | string)[]
}

/** One metric of one run as the runs table and the compare view show it (no point is read). */
export interface MetricStats {
  count: number
  /** Non-finite values travel as the strings 'NaN', 'Infinity', '-Infinity' (as in Series). */
  last: number | string | null
  /** Over the values that are not NaN (±Infinity included). */
  min: number | string | null
  max: number | string | null
  lastStep: number | null
}

/** The non-scalar logs a run page shows, by the route (and live event) that serves them. */
export type LogKind = 'histograms' | 'media' | 'tables'

export interface LogNames {
  histograms: string[]
  media: string[]
  tables: string[]
}
export interface RunDetail {
  key: string
  metadata: Record<string, unknown>
  metricCount: number
  namespaces: { name: string; count: number }[]
  logs: LogNames
}
export interface HistogramEntry {
  step: number
  globalStep: number
  edges: number[]
  counts: number[]
}
export interface MediaEntry {
  step: number
  globalStep: number
  id: string
  type: string
  caption: string | null
  mime: string
}
export interface TableEntry {
  step: number
  globalStep: number
  columns: string[]
  rows: unknown[][]
}

/** A live event with the entries of one log after the first `from` the client had. */
export interface LogAppend<T> {
  name: string
  from: number
  entries: T[]
}
