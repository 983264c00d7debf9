/**
 * The JSON API, as a table from path segments (after `/api`) to a read on the RunStore. Each
 * handler validates its names before touching the store; nothing here writes. Scalar reads are
 * bounded (MAX_POINTS), and a run that cannot be read fails only the requests about that run.
 */
import type { RunReads } from './reads'
import { HttpError, checkMetricName, checkSegment } from './paths'

export type RouteResult = { kind: 'json'; body: unknown } | { kind: 'bytes'; type: string; body: Buffer }

const json = (body: unknown): RouteResult => ({ kind: 'json', body })

/**
 * Points one scalar read answers with: `maxPoints` defaults to 10,000 (the reader's min/max
 * downsample, so a spike survives) and may go up to 100,000; a `since` read gives the first
 * 10,000 points after `since` (ask again from the last step for more). A 1M-point metric is
 * then a reply of about 1 MB, not 92. `start`/`end` (steps, both included) cut a zoomed chart's
 * points before the downsample, so a zoom gets the detail the overview had to drop.
 */
export const MAX_POINTS = { default: 10_000, max: 100_000, since: 10_000 } as const

/** `train/loss` → `train`; a name without a slash is in the '' (top-level) namespace. */
export function namespaceOf(name: string): string {
  const i = name.indexOf('/')
  return i < 0 ? '' : name.slice(0, i)
}

function intParam(params: URLSearchParams, key: string, dflt: number, min: number, max: number): number {
  const raw = params.get(key)
  if (raw === null || raw === '') return dflt
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`)
  return n
}

/** A step bound of a zoomed read (`start`, `end`): any finite number, or undefined when left out. */
function stepParam(params: URLSearchParams, key: string): number | undefined {
  const raw = params.get(key)
  if (raw === null || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isFinite(n)) throw new HttpError(400, `${key} must be a step number, got ${JSON.stringify(raw)}`)
  return n
}

/** `health`: what `/api/health` adds to `{ ok: true }` (the base dir, for `amber open`). */
export function apiRoutes(store: RunReads, health: Record<string, unknown> = {}) {
  return async (seg: string[], q: URLSearchParams): Promise<RouteResult> => {
    const [head, p, r, what, extra] = seg
    if (head === 'health' && seg.length === 1) return json({ ok: true, ...health })
    if (head === 'projects' && seg.length === 1) {
      const counts = new Map<string, number>()
      for (const row of await store.list()) counts.set(row.project, (counts.get(row.project) ?? 0) + 1)
      return json([...counts].map(([name, runs]) => ({ name, runs })).sort((x, y) => x.name.localeCompare(y.name)))
    }
    if ((head === 'last' || head === 'summaries') && seg.length === 1) {
      // One metric's summary (count, last, min, max) for every run: what the runs table sorts
      // by and the compare view draws; /api/last is its last values alone.
      const metric = checkMetricName(q.get('metric'))
      const project = q.get('project') ? checkSegment('project', q.get('project') ?? '') : undefined
      const stats = await store.metricStats(metric, project)
      return json(head === 'summaries' ? stats : Object.fromEntries(Object.entries(stats).map(([k, m]) => [k, m?.last ?? null])))
    }
    if (head !== 'runs') throw new HttpError(404, `no such API route: /api/${seg.join('/')}`)
    if (seg.length === 1) {
      const project = q.get('project') ? checkSegment('project', q.get('project') ?? '') : undefined
      const needle = (q.get('q') ?? '').toLowerCase()
      let rows = await store.list(project)
      if (needle) rows = rows.filter((x) => `${x.project} ${x.name} ${x.runId} ${x.annotation ?? ''}`.toLowerCase().includes(needle))
      return json(rows)
    }
    checkSegment('project', p)
    checkSegment('run', r)
    if (seg.length === 3) {
      const [names, metadata, logs] = await Promise.all([store.metrics(p, r), store.metadata(p, r), store.logNames(p, r)])
      const ns = new Map<string, number>()
      for (const n of names) ns.set(namespaceOf(n), (ns.get(namespaceOf(n)) ?? 0) + 1)
      return json({
        key: `${p}/${r}`,
        metadata,
        metricCount: names.length,
        namespaces: [...ns].map(([name, count]) => ({ name, count })).sort((a, b) => a.name.localeCompare(b.name)),
        logs,
      })
    }
    if (seg.length === 4 && what === 'metrics') {
      const names = await store.metrics(p, r)
      const ns = q.get('namespace')
      return json(ns === null ? names : names.filter((n) => namespaceOf(n) === ns))
    }
    if (seg.length === 4 && what === 'scalars') {
      const name = checkMetricName(q.get('name'))
      const start = stepParam(q, 'start')
      const end = stepParam(q, 'end')
      if (q.get('since') !== null) {
        if (start !== undefined || end !== undefined) throw new HttpError(400, 'give since or start/end, not both')
        const since = Number(q.get('since'))
        if (!Number.isFinite(since)) throw new HttpError(400, 'since must be a number')
        return json(await store.scalarsSince(p, r, name, since, MAX_POINTS.since))
      }
      if (start !== undefined && end !== undefined && start > end) throw new HttpError(400, `start (${start}) is after end (${end})`)
      const maxPoints = intParam(q, 'maxPoints', MAX_POINTS.default, 2, MAX_POINTS.max)
      const range = start === undefined && end === undefined ? undefined : { start, end }
      return json(await store.scalars(p, r, name, maxPoints, range))
    }
    if (seg.length === 4 && what === 'histograms') return json(await store.histograms(p, r, checkMetricName(q.get('name'))))
    if (seg.length === 4 && what === 'media') return json(await store.media(p, r, checkMetricName(q.get('name'))))
    if (seg.length === 5 && what === 'media') {
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(extra)) throw new HttpError(400, `invalid media id: ${JSON.stringify(extra)}`)
      const blob = await store.mediaBlob(p, r, extra)
      return { kind: 'bytes', type: blob.type, body: blob.data }
    }
    if (seg.length === 4 && what === 'tables') return json(await store.tables(p, r, checkMetricName(q.get('name'))))
    if (seg.length === 4 && what === 'output') return json(await store.outputLog(p, r, intParam(q, 'tail', 65536, 0, 16 << 20)))
    throw new HttpError(404, `no such API route: /api/${seg.join('/')}`)
  }
}
