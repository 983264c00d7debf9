/**
 * What the viewer's routes and live streams read, whatever holds the runs: a base dir of run
 * folders (./data, `amber open` and `amber serve --data-dir`) or the team server's database and
 * bucket (../server/pg). A file reader answers at once and a database one with a promise; the
 * routes await either. Every method throws an HttpError 404 for a run or name it does not hold.
 */
import type { MetricSummary } from '../board'
import type { LabelPatch, RunLabels } from '../board/labels'
import type { HistogramEntry, LogNames, MediaEntry, MetricStats, RunRow, Series, TableEntry } from './wire'

export type Awaitable<T> = T | Promise<T>

/** Steps from `start` to `end`, both included; a side left out is open. */
export interface StepRange {
  start?: number
  end?: number
}

export interface RunReads {
  /** The runs, one project's or all. */
  list(project?: string): Awaitable<RunRow[]>
  /**
   * `metric`'s count, last value, min and max in each run (key `project/folder`; null where the
   * run has no such metric or cannot be read): what the runs table sorts by and the compare view
   * draws, from the runs' metric summaries, no point read.
   */
  metricStats(metric: string, project?: string): Awaitable<Record<string, MetricStats | null>>
  /** The run's metadata as it is now (status changes while a run is live). */
  metadata(project: string, folder: string): Awaitable<Record<string, unknown>>
  metrics(project: string, folder: string): Awaitable<string[]>
  /**
   * At most `maxPoints` points (min/max downsampled, so a spike survives); with `range`, only the
   * points whose step is within [start, end] (a zoomed chart), downsampled by the same rule.
   */
  scalars(project: string, folder: string, name: string, maxPoints?: number, range?: StepRange): Awaitable<Series>
  /** The first `limit` points logged after step `since` (what a live chart appends). */
  scalarsSince(project: string, folder: string, name: string, since: number, limit: number): Awaitable<Series>
  /** Every metric's count and last point, no point read: what a live stream compares. */
  summaries(project: string, folder: string): Awaitable<MetricSummary[]>
  /** Changes whenever the run stores anything: a live stream reads nothing while it stays. */
  fingerprint(project: string, folder: string): Awaitable<string>
  logNames(project: string, folder: string): Awaitable<LogNames>
  histograms(project: string, folder: string, name: string): Awaitable<HistogramEntry[]>
  media(project: string, folder: string, name: string): Awaitable<MediaEntry[]>
  /** Media bytes by content hash; only a hash the run logged (looked up, never a path). */
  mediaBlob(project: string, folder: string, id: string): Awaitable<{ type: string; data: Buffer }>
  tables(project: string, folder: string, name: string): Awaitable<TableEntry[]>
  /** The last `tailBytes` of the run's captured output, and its whole size. */
  outputLog(project: string, folder: string, tailBytes: number): Awaitable<{ text: string; size: number }>
  /** Change the run's tags, note or archived flag; its labels after the change. */
  labelRun(project: string, folder: string, patch: LabelPatch): Awaitable<RunLabels>
  close(): Awaitable<void>
}
