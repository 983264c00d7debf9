/**
 * The viewer's reads on PostgreSQL and the bucket. The run list, last values and summaries are
 * indexed rows; a chart of a long metric is drawn from its sealed chunks' level-of-detail blobs
 * (each block's min and max points, so spikes survive) plus the tail, without fetching a chunk
 * object; a short metric, a zoom into a step range or a live read after a step decodes only the
 * chunks it needs.
 */
import { HttpError } from '../../viewer/paths'
import { mimeOf } from '../../viewer/mime'
import type { RunReads, StepRange } from '../../viewer/reads'
import { applyLabels, checkLabelPatch, labelsOf } from '../../board/labels'
import type { LabelPatch, RunLabels } from '../../board/labels'
import { CHANGES } from './ingest'
import { jsonNumber, metricStats } from '../../viewer/wire-values'
import type { HistogramEntry, LogNames, MediaEntry, MetricStats, RunRow, Series, TableEntry } from '../../viewer/wire'
import type { MetricSummary } from '../../board'
import { downsample, withinSteps } from '../../board/downsample'
import { decodeChunk } from './chunk'
import type { PointColumns } from './chunk'
import type { Db } from './db'
import { KEYS } from './objects'
import type { Objects } from './objects'
import { concatColumns, emptyColumns, sliceColumns } from './points'
import { LOD_BLOCK, decodeLod, lodPoints } from './lod'

/** One stored run of a metric's points: a sealed chunk (object) or a tail row (data). */
interface Piece {
  start: number
  n: number
  min_step: number
  object: string | null
  data: Buffer | null
}

function toSeries(c: PointColumns): Series {
  return { step: Array.from(c.step), globalStep: Array.from(c.globalStep), timestamp: Array.from(c.timestamp), value: Array.from(c.value, jsonNumber) }
}

function runRow(project: string, folder: string, m: Record<string, unknown>): RunRow {
  const str = (v: unknown) => (typeof v === 'string' ? v : null)
  return {
    key: `${project}/${folder}`,
    project,
    folder,
    runId: str(m.runId) ?? folder,
    name: str(m.name) ?? folder,
    status: str(m.status) ?? 'unknown',
    createdAt: str(m.createdAt),
    finishedAt: str(m.finishedAt),
    annotation: str(m.annotation),
    config: m.config !== null && typeof m.config === 'object' && !Array.isArray(m.config) ? (m.config as Record<string, unknown>) : {},
    ...labelsOf(m),
  }
}

export class PgReads implements RunReads {
  constructor(
    private readonly db: Db,
    private readonly objects: Objects,
  ) {}

  /** The run's row, or a 404. */
  private async run(project: string, folder: string): Promise<{ id: number; metadata: Record<string, unknown>; version: number; output_size: number }> {
    const rows = await this.db.query<{ id: number; metadata: Record<string, unknown>; version: number; output_size: number }>('SELECT id, metadata, version, output_size FROM amber_runs WHERE project = $1 AND folder = $2', [project, folder])
    if (!rows.length) throw new HttpError(404, `not a run: ${project}/${folder}`)
    return rows[0]
  }

  private async series(project: string, folder: string, name: string): Promise<{ run: number; id: number; count: number }> {
    const rows = await this.db.query<{ run: number; id: number; count: number }>(
      'SELECT s.run, s.id, s.count FROM amber_series s JOIN amber_runs r ON r.id = s.run WHERE r.project = $1 AND r.folder = $2 AND s.name = $3',
      [project, folder, name],
    )
    if (!rows.length) {
      await this.run(project, folder)
      throw new HttpError(404, `metric ${name} not found in ${project}/${folder}`)
    }
    return rows[0]
  }

  async list(project?: string): Promise<RunRow[]> {
    const rows = await this.db.query<{ project: string; folder: string; metadata: Record<string, unknown> }>(
      `SELECT project, folder, metadata FROM amber_runs ${project ? 'WHERE project = $1' : ''} ORDER BY metadata->>'createdAt', id`,
      project ? [project] : [],
    )
    return rows.map((r) => runRow(r.project, r.folder, r.metadata))
  }

  async metricStats(metric: string, project?: string): Promise<Record<string, MetricStats | null>> {
    const rows = await this.db.query<{ project: string; folder: string; name: string | null; count: number; last_step: number | null; last_value: number | null; min: number | null; max: number | null }>(
      `SELECT r.project, r.folder, s.name, s.count, s.last_step, s.last_value, s.min, s.max FROM amber_runs r
       LEFT JOIN amber_series s ON s.run = r.id AND s.name = $1 ${project ? 'WHERE r.project = $2' : ''}`,
      project ? [metric, project] : [metric],
    )
    return Object.fromEntries(rows.map((r) => [`${r.project}/${r.folder}`, r.name === null ? null : metricStats({ count: r.count, lastStep: r.last_step, lastValue: r.last_value, min: r.min, max: r.max })]))
  }

  async metadata(project: string, folder: string): Promise<Record<string, unknown>> {
    return (await this.run(project, folder)).metadata
  }

  async metrics(project: string, folder: string): Promise<string[]> {
    const { id } = await this.run(project, folder)
    return (await this.db.query<{ name: string }>('SELECT name FROM amber_series WHERE run = $1 ORDER BY name COLLATE "C"', [id])).map((r) => r.name)
  }

  /** The pieces of a metric covering points `from` to `to` (indexes), in order. */
  private async pieces(run: number, series: number, from: number, to: number, withData: boolean): Promise<Piece[]> {
    const cols = withData ? 'start, n, min_step, object, NULL::bytea AS data' : 'start, n, min_step, NULL AS object, NULL::bytea AS data'
    const tailCols = withData ? 'start, n, min_step, NULL AS object, data' : 'start, n, min_step, NULL AS object, NULL::bytea AS data'
    return this.db.query<Piece>(
      `SELECT * FROM (SELECT ${cols} FROM amber_chunks WHERE run = $1 AND series = $2 AND start < $4 AND start + n > $3
        UNION ALL SELECT ${tailCols} FROM amber_tail WHERE run = $1 AND series = $2 AND start < $4 AND start + n > $3) p ORDER BY start`,
      [run, series, from, to],
    )
  }

  /** The points of `pieces`, cut to indexes `from` to `to`. */
  private async points(pieces: Piece[], from: number, to: number): Promise<PointColumns> {
    const parts = await Promise.all(pieces.map(async (p) => decodeChunk(p.object ? await this.objects.read(p.object) : p.data!)))
    const all = concatColumns(parts.length ? parts : [emptyColumns()])
    const first = pieces.length ? pieces[0].start : from
    return sliceColumns(all, Math.max(0, from - first), Math.max(0, Math.min(all.value.length, to - first)))
  }

  async scalars(project: string, folder: string, name: string, maxPoints?: number, range?: StepRange): Promise<Series> {
    const s = await this.series(project, folder, name)
    if (range && (range.start !== undefined || range.end !== undefined)) return toSeries(await this.zoomed(s, maxPoints, range.start ?? -Infinity, range.end ?? Infinity))
    if (maxPoints === undefined || s.count <= maxPoints) return toSeries(await this.points(await this.pieces(s.run, s.id, 0, s.count, true), 0, s.count))
    // Where a downsample bucket spans at least a lod block, the lods draw the same extremes as
    // the points would: sealed chunks are read from their summaries, the tail thinned by the same
    // block rule (a long live tail does not crowd out the rest).
    if ((2 * s.count) / maxPoints >= LOD_BLOCK) {
      const rows = await this.db.query<{ lod: Buffer | null; data: Buffer | null }>(
        `SELECT * FROM (SELECT start, lod, NULL::bytea AS data FROM amber_chunks WHERE run = $1 AND series = $2
          UNION ALL SELECT start, NULL, data FROM amber_tail WHERE run = $1 AND series = $2) p ORDER BY start`,
        [s.run, s.id],
      )
      const overview = concatColumns(rows.map((r) => (r.lod ? decodeLod(r.lod) : lodPoints(decodeChunk(r.data!)))))
      return toSeries(downsample(overview, maxPoints))
    }
    return toSeries(downsample(await this.points(await this.pieces(s.run, s.id, 0, s.count, true), 0, s.count), maxPoints))
  }

  /**
   * The points with a step in [lo, hi], at most about `maxPoints`: only the pieces whose step range
   * overlaps it are looked at. The one or two cut by its edges (and tail rows) are read and cut;
   * then, by the overview's rule, when a downsample bucket would still span a lod block, the chunks
   * wholly inside are drawn from their lods and the cut points thinned by the same block rule
   * (even density, exact extremes at the edges); else the chunks inside are read too, and the
   * answer is the run-folder backend's to the point.
   */
  private async zoomed(s: { run: number; id: number }, maxPoints: number | undefined, lo: number, hi: number): Promise<PointColumns> {
    const rows = await this.db.query<Piece & { max_step: number; lod: Buffer | null }>(
      `SELECT * FROM (SELECT start, n, min_step, max_step, object, lod, NULL::bytea AS data FROM amber_chunks WHERE run = $1 AND series = $2 AND max_step >= $3 AND min_step <= $4
        UNION ALL SELECT start, n, min_step, max_step, NULL, NULL, data FROM amber_tail WHERE run = $1 AND series = $2 AND max_step >= $3 AND min_step <= $4) p ORDER BY start`,
      [s.run, s.id, lo, hi],
    )
    const read = async (p: Piece) => decodeChunk(p.object ? await this.objects.read(p.object) : p.data!)
    const sealedInside = (r: (typeof rows)[number]) => r.lod !== null && r.min_step >= lo && r.max_step <= hi
    const cut = new Map(await Promise.all(rows.filter((r) => !sealedInside(r)).map(async (r) => [r, withinSteps(await read(r), lo, hi)] as const)))
    const inRange = rows.reduce((sum, r) => sum + (cut.get(r)?.value.length ?? r.n), 0)
    const coarse = maxPoints !== undefined && (2 * inRange) / maxPoints >= LOD_BLOCK
    const parts = await Promise.all(
      rows.map(async (r) => {
        const points = cut.get(r)
        if (points) return coarse ? lodPoints(points) : points
        return coarse ? decodeLod(r.lod!) : read(r)
      }),
    )
    const points = concatColumns(parts.length ? parts : [emptyColumns()])
    return maxPoints === undefined ? points : downsample(points, maxPoints)
  }

  async scalarsSince(project: string, folder: string, name: string, since: number, limit: number): Promise<Series> {
    const s = await this.series(project, folder, name)
    // The points after the last one whose step is <= since (the reader's rule): walk the pieces
    // back from the end to the first that holds such a step, then decode only from there.
    const index = await this.pieces(s.run, s.id, 0, s.count, false)
    let k = index.length - 1
    while (k >= 0 && !(index[k].min_step <= since)) k--
    let from = 0
    if (k >= 0) {
      const boundary = await this.points(await this.pieces(s.run, s.id, index[k].start, index[k].start + index[k].n, true), index[k].start, index[k].start + index[k].n)
      let i = boundary.step.length - 1
      while (i >= 0 && !(boundary.step[i] <= since)) i--
      from = index[k].start + i + 1
    }
    const to = Math.min(s.count, from + limit)
    if (to <= from) return toSeries(emptyColumns())
    return toSeries(await this.points(await this.pieces(s.run, s.id, from, to, true), from, to))
  }

  async summaries(project: string, folder: string): Promise<MetricSummary[]> {
    const { id } = await this.run(project, folder)
    const rows = await this.db.query<{ name: string; count: number; last_step: number | null; last_global_step: number | null; last_timestamp: number | null; last_value: number | null; min: number | null; max: number | null }>(
      'SELECT name, count, last_step, last_global_step, last_timestamp, last_value, min, max FROM amber_series WHERE run = $1 ORDER BY name COLLATE "C"',
      [id],
    )
    return rows.map((r) => ({ name: r.name, count: r.count, lastStep: r.last_step, lastGlobalStep: r.last_global_step, lastTimestamp: r.last_timestamp, lastValue: r.last_value, min: r.min, max: r.max }))
  }

  async fingerprint(project: string, folder: string): Promise<string> {
    return String((await this.run(project, folder)).version)
  }

  async logNames(project: string, folder: string): Promise<LogNames> {
    const { id } = await this.run(project, folder)
    const names = async (sql: string, params: unknown[]) => (await this.db.query<{ name: string }>(sql, params)).map((r) => r.name)
    const [histograms, media, tables] = await Promise.all([
      names('SELECT DISTINCT name COLLATE "C" AS name FROM amber_records WHERE run = $1 AND kind = $2 ORDER BY 1', [id, 'histograms']),
      names('SELECT DISTINCT name COLLATE "C" AS name FROM amber_media WHERE run = $1 ORDER BY 1', [id]),
      names('SELECT DISTINCT name COLLATE "C" AS name FROM amber_records WHERE run = $1 AND kind = $2 ORDER BY 1', [id, 'tables']),
    ])
    return { histograms, media, tables }
  }

  /** A kind of record's rows of one name, in order, with their data (from the bucket when large). */
  private async records(project: string, folder: string, kind: string, name: string): Promise<Array<{ step: number; global_step: number; meta: Record<string, unknown>; data: Buffer }>> {
    const { id } = await this.run(project, folder)
    const rows = await this.db.query<{ step: number; global_step: number; meta: Record<string, unknown>; data: Buffer | null; object: string | null }>(
      'SELECT step, global_step, meta, data, object FROM amber_records WHERE run = $1 AND kind = $2 AND name = $3 ORDER BY idx',
      [id, kind, name],
    )
    if (!rows.length) throw new HttpError(404, `${kind} ${name} not found in ${project}/${folder}`)
    return Promise.all(rows.map(async (r) => ({ ...r, data: r.object ? await this.objects.read(r.object) : (r.data ?? Buffer.alloc(0)) })))
  }

  async histograms(project: string, folder: string, name: string): Promise<HistogramEntry[]> {
    return (await this.records(project, folder, 'histograms', name)).map((r) => {
      const f = new Float64Array(r.data.byteLength / 8)
      new Uint8Array(f.buffer).set(r.data)
      const bins = (f.length - 1) / 2
      return { step: r.step, globalStep: r.global_step, edges: Array.from(f.subarray(0, bins + 1)), counts: Array.from(f.subarray(bins + 1)) }
    })
  }

  async media(project: string, folder: string, name: string): Promise<MediaEntry[]> {
    const { id } = await this.run(project, folder)
    const rows = await this.db.query<{ step: number; global_step: number; type: string; caption: string | null; key: string }>(
      'SELECT step, global_step, type, caption, key FROM amber_media WHERE run = $1 AND name = $2 ORDER BY idx',
      [id, name],
    )
    if (!rows.length) throw new HttpError(404, `media ${name} not found in ${project}/${folder}`)
    return rows.map((r) => ({ step: r.step, globalStep: r.global_step, id: r.key.slice(0, 64), type: r.type, caption: r.caption, mime: mimeOf(r.key.slice(65)) }))
  }

  /** The file key (`<sha256>.<format>`) of a media hash the run refers to, or a 404. */
  async mediaKey(project: string, folder: string, hash: string): Promise<string> {
    const { id } = await this.run(project, folder)
    // Only a file this run refers to: the key is looked up, never built from the URL alone.
    const rows = await this.db.query<{ key: string }>("SELECT key FROM amber_run_files WHERE run = $1 AND key LIKE $2 || '.%' LIMIT 1", [id, hash.replace(/[%_\\]/g, '')])
    if (!rows.length || rows[0].key.slice(0, 64) !== hash) throw new HttpError(404, `no media ${hash} in ${project}/${folder}`)
    return rows[0].key
  }

  async mediaBlob(project: string, folder: string, hash: string): Promise<{ type: string; data: Buffer }> {
    const key = await this.mediaKey(project, folder, hash)
    return { type: mimeOf(key.slice(65)), data: await this.objects.read(KEYS.media(key)) }
  }

  async tables(project: string, folder: string, name: string): Promise<TableEntry[]> {
    return (await this.records(project, folder, 'tables', name)).map((r) => ({ step: r.step, globalStep: r.global_step, columns: r.meta.columns as string[], rows: r.meta.rows as unknown[][] }))
  }

  async outputLog(project: string, folder: string, tailBytes: number): Promise<{ text: string; size: number }> {
    const { id, output_size: size } = await this.run(project, folder)
    const len = Math.min(size, Math.max(0, tailBytes))
    if (len === 0) return { text: '', size }
    const from = size - len
    // Pieces still in the database, or a finished run's output sealed into an object.
    const rows = await this.db.query<{ start: number; data: Buffer | null; object: string | null }>('SELECT start, data, object FROM amber_output WHERE run = $1 AND start + size > $2 ORDER BY start', [id, from])
    const all = Buffer.concat(await Promise.all(rows.map(async (r) => (r.object ? this.objects.read(r.object) : r.data!))))
    const first = rows.length ? rows[0].start : from
    return { text: all.subarray(from - first).toString('utf8'), size }
  }

  /** Labels are metadata: merged under the run's row lock, announced like any change. */
  async labelRun(project: string, folder: string, patch: LabelPatch): Promise<RunLabels> {
    const checked = checkLabelPatch(patch)
    return this.db.tx(async (c) => {
      const r = (await c.query<{ id: number; metadata: Record<string, unknown> }>('SELECT id, metadata FROM amber_runs WHERE project = $1 AND folder = $2 FOR UPDATE', [project, folder])).rows[0]
      if (!r) throw new HttpError(404, `not a run: ${project}/${folder}`)
      const labels = applyLabels(r.metadata, checked)
      await c.query('UPDATE amber_runs SET metadata = metadata || $2::jsonb, version = version + 1 WHERE id = $1', [r.id, JSON.stringify(labels)])
      await c.query('SELECT pg_notify($1, $2)', [CHANGES, `${project}/${folder}`])
      return labels
    })
  }

  close(): void {}
}
