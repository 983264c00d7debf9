/**
 * The viewer's one door to the Board read side (`listRuns`, `openRun`; docs/api.md). Everything the
 * HTTP layer sends is shaped here, so the routes never depend on the reader's internal types, and
 * open runs are kept in a small LRU because opening a run costs file opens per request otherwise.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import { listRuns, openRun } from '../board'
import { labelRun, labelsOf } from '../board/labels'
import type { LabelPatch, RunLabels } from '../board/labels'
import type { Run, RunInfo } from '../board'
import { downsample, withinSteps } from '../board/downsample'
import { HttpError, resolveRunDir } from './paths'
import { mimeOf } from './mime'
import type { RunReads, StepRange } from './reads'
import { jsonNumber, metricStats } from './wire-values'
import type { HistogramEntry, MediaEntry, MetricStats, RunRow, Series, TableEntry } from './wire'

export type { RunRow, Series } from './wire'


type Scalars = ReturnType<Run['scalars']>

function toSeries(s: Scalars): Series {
  const n = s.value.length
  const out: Series = { step: [], globalStep: [], timestamp: [], value: [] }
  for (let i = 0; i < n; i++) {
    out.step.push(Number(s.step[i]))
    out.globalStep.push(Number(s.globalStep[i]))
    out.timestamp.push(Number(s.timestamp[i]))
    out.value.push(jsonNumber(s.value[i]))
  }
  return out
}

export class RunStore implements RunReads {
  private readonly open = new Map<string, Run>()

  constructor(readonly baseDir: string, private readonly capacity = 32) {}

  list(project?: string): RunRow[] {
    const infos: RunInfo[] = listRuns(this.baseDir, project ? { project } : undefined)
    return infos.map((r) => this.row(r))
  }

  private row(r: RunInfo): RunRow {
    const folder = basename(r.runDir)
    const m = r.metadata
    return {
      key: `${r.project}/${folder}`,
      project: r.project,
      folder,
      runId: r.runId,
      name: r.name,
      status: r.status ?? 'unknown',
      createdAt: r.createdAt ?? null,
      finishedAt: m.finishedAt ?? null,
      annotation: m.annotation ?? null,
      config: m.config ?? {},
      ...labelsOf(m as Record<string, unknown>),
    }
  }

  /** The open reader of a run named in a URL; path checks happen before anything is opened. */
  run(project: string, folder: string): Run {
    const dir = resolveRunDir(this.baseDir, project, folder)
    const hit = this.open.get(dir)
    if (hit) {
      this.open.delete(dir)
      this.open.set(dir, hit)
      return hit
    }
    let run: Run
    try {
      run = openRun(dir)
    } catch (e) {
      throw new HttpError(404, `not a run: ${project}/${folder} (${(e as Error).message})`)
    }
    this.open.set(dir, run)
    if (this.open.size > this.capacity) {
      const [oldKey, oldRun] = this.open.entries().next().value as [string, Run]
      this.open.delete(oldKey)
      oldRun.close()
    }
    return run
  }

  labelRun(project: string, folder: string, patch: LabelPatch): RunLabels {
    this.run(project, folder) // a 404 for a folder that is not a run
    return labelRun(resolveRunDir(this.baseDir, project, folder), patch)
  }

  /** Close the run's reader, if open (its folder is about to go). */
  forget(project: string, folder: string): void {
    const dir = resolveRunDir(this.baseDir, project, folder)
    this.open.get(dir)?.close()
    this.open.delete(dir)
  }

  /** metadata.json as it is now (the reader reads it fresh: status changes while a run is live). */
  metadata(project: string, folder: string): Record<string, unknown> {
    return this.run(project, folder).metadata as unknown as Record<string, unknown>
  }

  metrics(project: string, folder: string): string[] {
    return this.run(project, folder).metrics()
  }

  scalars(project: string, folder: string, name: string, maxPoints?: number, range?: StepRange): Series {
    // No names listing first: with 10,000 metrics that is a directory read per chart. A missing
    // metric is the reader's NOT_FOUND, which the server answers with a 404.
    const run = this.run(project, folder)
    if (range?.start === undefined && range?.end === undefined) return toSeries(run.scalars(name, maxPoints ? { maxPoints } : undefined))
    // The reader has no step range (and steps need not ascend): read the points, keep those in
    // range, then downsample by the reader's own rule, so a zoom matches the database backend.
    const cut = withinSteps(run.scalars(name), range.start, range.end)
    return toSeries(maxPoints ? downsample(cut, maxPoints) : cut)
  }

  metricStats(metric: string, project?: string): Record<string, MetricStats | null> {
    const out: Record<string, MetricStats | null> = {}
    for (const row of this.list(project)) {
      try {
        const m = this.run(row.project, row.folder).summaries().find((x) => x.name === metric)
        out[row.key] = m ? metricStats(m) : null
      } catch {
        out[row.key] = null // a run that cannot be read has no stats; the others still answer
      }
    }
    return out
  }

  /** Every metric's count and last point (no point is read): what a live stream compares. */
  summaries(project: string, folder: string): ReturnType<Run['summaries']> {
    return this.run(project, folder).summaries()
  }

  /** Changes whenever the run stores anything: a live stream reads nothing while it stays. */
  fingerprint(project: string, folder: string): string {
    return this.run(project, folder).fingerprint()
  }

  /**
   * The first `limit` points logged after step `since`: what a live chart appends (it asks again
   * from the last step it got for the rest). The reader reads only that tail
   * from disk, so a live poll of a 1M-point metric costs what was added, not the whole series.
   */
  scalarsSince(project: string, folder: string, name: string, since: number, limit: number): Series {
    const s = this.run(project, folder).scalars(name, { since })
    if (s.value.length <= limit) return toSeries(s)
    return toSeries({ step: s.step.subarray(0, limit), globalStep: s.globalStep.subarray(0, limit), timestamp: s.timestamp.subarray(0, limit), value: s.value.subarray(0, limit) })
  }

  /** Names of the non-scalar logs, for the run page's tabs. */
  logNames(project: string, folder: string): { histograms: string[]; media: string[]; tables: string[] } {
    const run = this.run(project, folder)
    return { histograms: run.histogramNames(), media: run.mediaNames(), tables: run.tableNames() }
  }

  histograms(project: string, folder: string, name: string): HistogramEntry[] {
    return this.run(project, folder)
      .histograms(name)
      .map((h) => ({ step: Number(h.step), globalStep: Number(h.globalStep), edges: Array.from(h.edges, Number), counts: Array.from(h.counts, Number) }))
  }

  media(project: string, folder: string, name: string): MediaEntry[] {
    return this.run(project, folder)
      .media(name)
      .map((m) => ({ step: Number(m.step), globalStep: Number(m.globalStep), id: m.hash, type: m.type, caption: m.caption ?? null, mime: mimeOf(m.format) }))
  }

  /** Media bytes by content hash; the hash must be one this run logged (it is looked up, never a path). */
  mediaBlob(project: string, folder: string, id: string): { type: string; data: Buffer } {
    const run = this.run(project, folder)
    const found = run.mediaNames().flatMap((n) => run.media(n)).find((m) => m.hash === id)
    if (!found) throw new HttpError(404, `no media ${id} in ${project}/${folder}`)
    return { type: mimeOf(found.format), data: found.data }
  }

  tables(project: string, folder: string, name: string): TableEntry[] {
    return this.run(project, folder)
      .tables(name)
      .map((t) => ({ step: Number(t.step), globalStep: Number(t.globalStep), columns: t.columns, rows: t.rows }))
  }

  /** The last `tailBytes` of logs/output.log (a fixed file inside the run folder) and its size. */
  outputLog(project: string, folder: string, tailBytes: number): { text: string; size: number } {
    const file = this.run(project, folder).outputFile
    let size: number
    try {
      size = statSync(file).size
    } catch {
      return { text: '', size: 0 }
    }
    const len = Math.min(size, Math.max(0, tailBytes))
    if (len === 0) return { text: '', size }
    const buf = Buffer.alloc(len)
    const fd = openSync(file, 'r')
    try {
      readSync(fd, buf, 0, len, size - len)
    } finally {
      closeSync(fd)
    }
    return { text: buf.toString('utf8'), size }
  }

  close(): void {
    for (const r of this.open.values()) r.close()
    this.open.clear()
  }
}
