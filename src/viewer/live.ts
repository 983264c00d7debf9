/**
 * Live updates over Server-Sent Events. One stream per run: the client says what it shows (the
 * metrics it draws with the last step it has; the histograms, media and tables it shows with how
 * many entries it has) and the server polls the run and pushes only what was logged after that:
 * new points, new histogram steps, new media items, new table entries, plus status changes, new
 * metric or log names and output growth. Each poll first compares the run's fingerprint (it
 * changes whenever the run stores anything), so a quiet run costs a few stat calls per tick; a
 * busy one reads its metrics' summaries (counts, no points) and then only the watched metrics
 * whose count moved.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { VaultError } from '../errors'
import type { RunReads } from './reads'
import { MAX_POINTS } from './routes'
import type { LogKind, LogNames } from './wire'

export interface LogWatch {
  kind: LogKind
  name: string
  /** How many entries of this log the client already has. */
  have: number
}

export interface LiveOptions {
  project: string
  folder: string
  metrics: string[]
  /** Per metric: the last step the client has (-1 for none). */
  since: number[]
  /** Histograms, media and tables the client shows (none by default). */
  logs?: LogWatch[]
  intervalMs: number
  /**
   * Subscribe to the run's changes where the store can tell (another replica stored into it):
   * the stream then looks at once instead of at its next tick. Returns the unsubscribe.
   */
  watch?: (wake: () => void) => () => void
}

export function serveLive(store: RunReads, opts: LiveOptions, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  const { project, folder } = opts
  const sinceByMetric = new Map(opts.metrics.map((m, i) => [m, opts.since[i]]))
  const logs = (opts.logs ?? []).map((w) => ({ ...w }))
  const fingerprints = new Map<string, string>()
  /** True when the fingerprint under `key` differs from the last tick's (and remembers it). */
  const changed = (key: string, print: string) => {
    if (fingerprints.get(key) === print) return false
    fingerprints.set(key, print)
    return true
  }
  let status = ''
  let metricCount = -1
  /** Per watched metric: its stored count when last read. */
  const counts = new Map<string, number>()
  let logNames = ''
  let outputSize = -1
  const send = (event: string, data: unknown) => {
    if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
  }

  const entries = (w: LogWatch): Promise<unknown[]> | unknown[] => {
    if (w.kind === 'histograms') return store.histograms(project, folder, w.name)
    if (w.kind === 'media') return store.media(project, folder, w.name)
    return store.tables(project, folder, w.name)
  }

  const look = async () => {
    try {
      const meta = await store.metadata(project, folder)
      const st = String(meta.status ?? 'unknown')
      if (st !== status) {
        status = st
        send('status', { status, finishedAt: meta.finishedAt ?? null })
      }
      // Nothing stored since the last tick: no summary, point or row to read.
      const stored = changed('run', await store.fingerprint(project, folder))
      if (stored) {
        const summaries = await store.summaries(project, folder)
        if (summaries.length !== metricCount) {
          if (metricCount >= 0) send('metrics', { count: summaries.length })
          metricCount = summaries.length
        }
        for (const m of summaries) {
          const since = sinceByMetric.get(m.name)
          if (since === undefined || counts.get(m.name) === m.count) continue
          const pts = await store.scalarsSince(project, folder, m.name, since, MAX_POINTS.since)
          // A catch-up longer than one reply goes out a reply per tick; the count is kept only
          // once the stream has caught up.
          if (pts.step.length < MAX_POINTS.since) counts.set(m.name, m.count)
          if (pts.step.length === 0) continue
          sinceByMetric.set(m.name, pts.step[pts.step.length - 1])
          send('points', { metric: m.name, ...pts })
        }
        const now: LogNames = await store.logNames(project, folder)
        const text = JSON.stringify(now)
        if (logNames && text !== logNames) send('logs', now)
        logNames = text
      }
      for (const w of logs) {
        if (!stored) continue
        let all: unknown[]
        try {
          all = await entries(w)
        } catch (e) {
          if (e instanceof VaultError && e.code === 'NOT_FOUND') continue // not logged yet
          throw e
        }
        if (all.length <= w.have) continue
        send(w.kind, { name: w.name, from: w.have, entries: all.slice(w.have) })
        w.have = all.length
      }
      const out = (await store.outputLog(project, folder, 0)).size
      if (out !== outputSize) {
        if (outputSize >= 0) send('output', { size: out })
        outputSize = out
      }
    } catch (e) {
      send('problem', { message: (e as Error).message })
    }
  }
  /** One look at a time: a tick or wake-up that comes while one runs asks for one more after it. */
  let running: Promise<void> | null = null
  let again = false
  let closed = false
  const tick = () => {
    if (closed) return
    if (running) {
      again = true
      return
    }
    running = look().finally(() => {
      running = null
      if (again) {
        again = false
        tick()
      }
    })
  }
  tick()
  const timer = setInterval(tick, opts.intervalMs)
  const unwatch = opts.watch?.(tick)
  // A comment line now and then keeps proxies and idle timeouts from closing a quiet stream.
  const ping = setInterval(() => res.write(': ping\n\n'), 15000)
  const stop = () => {
    closed = true
    unwatch?.()
    clearInterval(timer)
    clearInterval(ping)
  }
  req.on('close', stop)
  res.on('close', stop)
}
