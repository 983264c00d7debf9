/**
 * The viewer's HTTP server: a read-only JSON API over the runs of one base dir, a live stream per
 * run, and the static front end. It binds 127.0.0.1 unless told otherwise, answers only GET/HEAD
 * and only Host headers of ./hosts, holds what one client may open to ./limits, and every project,
 * run or metric name taken from a URL goes through ./paths first.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { listen, pathRoots, sendError, sendJson } from './http'
import { resolve } from 'node:path'
import { existsSync, statSync } from 'node:fs'
import { RunStore } from './data'
import { hostCheck } from './hosts'
import { createLimitedServer } from './limits'
import type { Limits } from './limits'
import { serveLive } from './live'
import type { LogWatch } from './live'
import type { LogKind } from './wire'
import { HttpError, checkMetricName, checkSegment } from './paths'
import { findWebDist, serveStatic } from './static'
import { labelRoute } from './label-route'
import { apiRoutes } from './routes'
import { checkBrowserWrite } from './same-origin'

export interface ViewerOptions {
  baseDir: string
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Where the built front end lives (default: the package's web/dist). */
  webDir?: string
  /** How often a live stream looks for new points (default 1000 ms). */
  liveIntervalMs?: number
  /** Host names answered besides loopback ones (`['*']`: any); see ./hosts. */
  allowedHosts?: string[]
  /** Believe `X-Forwarded-For` / `X-Forwarded-Proto` (only behind a proxy that sets them). */
  trustProxy?: boolean
  /** Timeouts and per-client caps (defaults: LIMITS of ./limits). */
  limits?: Partial<Limits>
}

export interface Viewer {
  url: string
  host: string
  port: number
  server: Server
  close(): Promise<void>
}

/**
 * The histograms, media and tables a live stream watches: `histogram=<have>:<name>` (likewise
 * `media=`, `table=`), where <have> is how many entries of that log the client already has.
 */
function liveLogWatches(params: URLSearchParams): LogWatch[] {
  const kinds: [string, LogKind][] = [['histogram', 'histograms'], ['media', 'media'], ['table', 'tables']]
  return kinds.flatMap(([param, kind]) =>
    params.getAll(param).map((v) => {
      const m = /^(\d{1,9}):(.*)$/s.exec(v)
      if (!m) throw new HttpError(400, `${param} must be <entries you have>:<name>, got ${JSON.stringify(v)}`)
      return { kind, have: Number(m[1]), name: checkMetricName(m[2]) }
    }),
  )
}

export async function startViewer(opts: ViewerOptions): Promise<Viewer> {
  const baseDir = resolve(opts.baseDir)
  if (!existsSync(baseDir) || !statSync(baseDir).isDirectory()) {
    return Promise.reject(new HttpError(404, `base dir not found: ${baseDir}`))
  }
  const store = new RunStore(baseDir)
  const webDir = opts.webDir ?? findWebDist()
  const liveIntervalMs = opts.liveIntervalMs ?? 1000
  const routes = apiRoutes(store, { baseDir })
  const open = new Set<ServerResponse>()
  const hosts = hostCheck(opts.host ?? '127.0.0.1', opts.allowedHosts)
  const roots = pathRoots(baseDir)

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!hosts.allows(req.headers.host)) throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed (start the viewer with --allowed-hosts to add a name)`)
    // The URL parser would quietly resolve `..` and `%2e%2e` segments; a traversal attempt is
    // refused as such instead, before anything else looks at the path.
    const rawPath = (req.url ?? '/').split('?')[0]
    if (rawPath.split('/').some((seg) => /^(\.|%2e){1,2}$/i.test(seg))) throw new HttpError(400, 'dot segments are not allowed in a path')
    const url = new URL(req.url ?? '/', 'http://viewer.local')
    // The one write the viewer takes (a run's labels), from its own pages only.
    const labelPost = req.method === 'POST' && /^\/api\/runs\/[^/]+\/[^/]+\/labels$/.test(url.pathname)
    if (labelPost) checkBrowserWrite(req)
    else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      throw new HttpError(405, `the viewer only reads (${req.method} refused)`)
    }
    // Raw path segments (still encoded) so an encoded slash cannot smuggle in a separator.
    const raw = url.pathname.split('/').slice(1)
    if (raw[0] !== 'api') return serveStatic(webDir, url.pathname, res)
    const seg = raw.map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        throw new HttpError(400, 'bad path encoding')
      }
    })
    if (labelPost) return labelRoute(req, res, store, checkSegment('project', seg[2]), checkSegment('run', seg[3]))
    if (seg[1] === 'runs' && seg.length >= 4 && seg[4] === 'live') {
      const project = checkSegment('project', seg[2])
      const folder = checkSegment('run', seg[3])
      await store.metadata(project, folder) // 404 for a folder that is not a run
      // metric=a&since=10&metric=b&since=12: each metric resumes after its own step (-1: from the start).
      const metrics = url.searchParams.getAll('metric').map(checkMetricName)
      const since = url.searchParams.getAll('since').map(Number)
      if (since.length !== metrics.length || since.some((x) => !Number.isFinite(x))) throw new HttpError(400, 'give one since=<step> per metric=<name>')
      const logs = liveLogWatches(url.searchParams)
      open.add(res)
      res.on('close', () => open.delete(res))
      return serveLive(store, { project, folder, metrics, since, logs, intervalMs: liveIntervalMs }, req, res)
    }
    const out = await routes(seg.slice(1), url.searchParams)
    if (out.kind === 'json') return sendJson(res, 200, out.body)
    res.writeHead(200, {
      'content-type': out.type,
      'content-length': out.body.length,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'",
    })
    res.end(req.method === 'HEAD' ? undefined : out.body)
  }

  const server = createLimitedServer((req, res) => {
    handle(req, res).catch((e: unknown) => sendError(req, res, e, roots, 'amber viewer'))
  }, opts)

  const listening = await listen(server, opts, open, () => store.close())
  return { ...listening, server }
}
