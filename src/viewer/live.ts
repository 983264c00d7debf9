/**
 * Live updates over Server-Sent Events. One stream per run: the client says which metrics it
 * draws and the last step it has; the server polls the run and pushes only points logged after
 * that step (`RunStore.scalarsSince`), plus status changes, new metric names and output growth.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RunStore } from './data'

export interface LiveOptions {
  project: string
  folder: string
  metrics: string[]
  /** Per metric: the last step the client has (-1 for none). */
  since: number[]
  intervalMs: number
}

export function serveLive(store: RunStore, opts: LiveOptions, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  const sinceByMetric = new Map(opts.metrics.map((m, i) => [m, opts.since[i]]))
  const fingerprints = new Map<string, string>()
  let status = ''
  let metricCount = -1
  let outputSize = -1
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)

  const tick = () => {
    try {
      const meta = store.metadata(opts.project, opts.folder)
      const st = String(meta.status ?? 'unknown')
      if (st !== status) {
        status = st
        send('status', { status, finishedAt: meta.finishedAt ?? null })
      }
      const names = store.metrics(opts.project, opts.folder)
      if (names.length !== metricCount) {
        if (metricCount >= 0) send('metrics', { count: names.length })
        metricCount = names.length
      }
      for (const [metric, since] of sinceByMetric) {
        if (!names.includes(metric)) continue
        // Unchanged files mean no new points: skip reading the series (it may hold millions).
        const print = store.metricFingerprint(opts.project, opts.folder, metric)
        if (fingerprints.get(metric) === print) continue
        fingerprints.set(metric, print)
        const pts = store.scalarsSince(opts.project, opts.folder, metric, since)
        if (pts.step.length === 0) continue
        sinceByMetric.set(metric, pts.step[pts.step.length - 1])
        send('points', { metric, ...pts })
      }
      const out = store.outputLog(opts.project, opts.folder, 0).size
      if (out !== outputSize) {
        if (outputSize >= 0) send('output', { size: out })
        outputSize = out
      }
    } catch (e) {
      send('problem', { message: (e as Error).message })
    }
  }
  tick()
  const timer = setInterval(tick, opts.intervalMs)
  // A comment line now and then keeps proxies and idle timeouts from closing a quiet stream.
  const ping = setInterval(() => res.write(': ping\n\n'), 15000)
  const stop = () => {
    clearInterval(timer)
    clearInterval(ping)
  }
  req.on('close', stop)
  res.on('close', stop)
}
