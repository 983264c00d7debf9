/**
 * `amber serve`: the team server. One HTTP server for a data dir that is also a plain base dir:
 * - `/api/sync/*`: the ingest API used by `Board({ remote })` and `amber sync` (token with write
 *   access to the project);
 * - `/api/*`: the viewer's read API (any token of the project, read-only ones included), with
 *   run lists filtered to the projects the token may see;
 * - `/login`: a form that takes the token by POST and puts it in an HttpOnly cookie so the
 *   browser front end can read (./login: what the cookie may and may not do);
 * - everything else: the static front end (code only, no run data).
 * No route answers without a valid token except the front end's files and /login, and none
 * answers a Host header that ../viewer/hosts refuses. Connections, timeouts and bodies are
 * bounded by ../viewer/limits.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { listen, pathRoots, sendError, sendJson } from '../viewer/http'
import { InvalidArgumentError } from '../errors'
import { hostCheck, isHttps } from '../viewer/hosts'
import { createLimitedServer, readBody } from '../viewer/limits'
import type { Limits } from '../viewer/limits'
import { serveLive } from '../viewer/live'
import { HttpError, checkMetricName, checkSegment } from '../viewer/paths'
import { labelRoute } from '../viewer/label-route'
import { apiRoutes } from '../viewer/routes'
import { checkBrowserWrite } from '../viewer/same-origin'
import { findWebDist, pageHeaders, serveStatic } from '../viewer/static'
import { decodeBatch, decodeMediaBatch, decodeRecordBatch } from '../sync/protocol'
import { FileStorage } from './file-storage'
import { handleLogin, presentedToken } from './login'
import { checkRunMetadata } from './run-metadata'
import { GapError } from './storage'
import type { ServerStorage, Tokens } from './storage'
import { tokenAllows } from './tokens'
import type { TokenRecord } from './tokens'

/** Where the server keeps runs and tokens: one of a data dir, a database and bucket, or a storage made elsewhere. */
export interface StorageOptions {
  /** A folder of run folders on this machine (`amber serve --data-dir`). */
  dataDir?: string
  /** A PostgreSQL URL for the index (with `bucket`): what stateless replicas share. */
  db?: string
  /** `s3://bucket/prefix` for the bulk (media, sealed chunks), with `db`. */
  bucket?: string
  /** An S3-compatible endpoint other than AWS's (MinIO, moto, ...). */
  s3Endpoint?: string
  s3Region?: string
  storage?: ServerStorage
}

export interface ServerOptions extends StorageOptions {
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Largest request body accepted (default 64 MiB); larger ones get 413. */
  maxBodyBytes?: number
  /**
   * Largest scalar batch accepted (default 16 MiB, at most `maxBodyBytes`): about 500,000 points,
   * ten times what the sync client sends (`batchPoints`, 50,000); larger ones get 413.
   */
  maxScalarBodyBytes?: number
  /**
   * Upload bodies (scalar, media, record batches, output) read or applied at once, across all
   * runs and clients (default 4); one more gets 503 with `Retry-After: 1` before its body is read
   * (the sync client retries it).
   */
  maxBatchesInFlight?: number
  webDir?: string
  liveIntervalMs?: number
  /** Close a run's writer after this long without a request (default 10 min). */
  idleCloseMs?: number
  /** Host names answered besides loopback ones (`['*']`: any); see ../viewer/hosts. */
  allowedHosts?: string[]
  /**
   * Believe `X-Forwarded-For` (the client address the per-client caps count) and
   * `X-Forwarded-Proto` (https: Secure cookies): only behind a proxy that sets them.
   */
  trustProxy?: boolean
  /**
   * Answer a media file's GET with a redirect to a presigned bucket URL (valid 5 minutes) instead
   * of proxying its bytes: only with a database and bucket.
   */
  mediaRedirect?: boolean
  /** Timeouts and per-client caps (defaults: LIMITS of ../viewer/limits). */
  limits?: Partial<Limits>
}

export interface TeamServer {
  url: string
  port: number
  server: Server
  storage: ServerStorage
  tokens: Tokens
  /** The data dir of a server on one (undefined on a database). */
  dataDir?: string
  /**
   * Stop taking requests, let the ones under way finish (batches, PUTs, finishes; at most `graceMs`, default 30 s),
   * then close: what SIGTERM does, so a load balancer's replica leaves without losing a batch.
   */
  drain(graceMs?: number): Promise<void>
  close(): Promise<void>
}

/** The storage the options name; the database backend's packages are loaded only when used. */
async function openStorage(opts: ServerOptions): Promise<ServerStorage> {
  const given = [opts.dataDir, opts.db, opts.storage].filter((x) => x !== undefined).length
  if (given !== 1) throw new InvalidArgumentError('give the server one of dataDir, db (with bucket) or storage')
  if (opts.storage) return opts.storage
  if (opts.db !== undefined) {
    if (!opts.bucket) throw new InvalidArgumentError('a server on a database needs a bucket too (s3://bucket/prefix): the bulk of the runs is kept there')
    const { openPgStorage } = await import('./pg')
    return openPgStorage({ db: opts.db, bucket: opts.bucket, s3Endpoint: opts.s3Endpoint, s3Region: opts.s3Region })
  }
  return new FileStorage(opts.dataDir!, { idleCloseMs: opts.idleCloseMs })
}

const META_LIMIT = 1 << 20
const STATUSES = new Set(['running', 'finished', 'crashed', 'killed'])

function jsonBody(buf: Buffer): Record<string, unknown> {
  let v: unknown
  try {
    v = JSON.parse(buf.toString('utf8'))
  } catch (e) {
    throw new HttpError(400, `body is not JSON: ${(e as Error).message}`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'body must be a JSON object')
  return v as Record<string, unknown>
}

export async function startServer(opts: ServerOptions): Promise<TeamServer> {
  const maxBody = opts.maxBodyBytes ?? 64 << 20
  const maxScalarBody = Math.min(maxBody, opts.maxScalarBodyBytes ?? 16 << 20)
  const maxInFlight = opts.maxBatchesInFlight ?? 4
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) return Promise.reject(new InvalidArgumentError(`maxBatchesInFlight must be a positive integer (got ${maxInFlight})`))
  /** Upload bodies being read or applied now (see maxBatchesInFlight). */
  let inFlight = 0
  const storage = await openStorage(opts)
  const { tokens, ingest, reads: store } = storage
  if (opts.mediaRedirect && !storage.mediaUrl) {
    await storage.close()
    throw new InvalidArgumentError('media redirects need media in a bucket: --media-redirect goes with --db and --bucket')
  }
  const pages = opts.mediaRedirect ? pageHeaders([await storage.mediaOrigin!()]) : pageHeaders()
  const routes = apiRoutes(store)
  const webDir = opts.webDir ?? findWebDist()
  const liveIntervalMs = opts.liveIntervalMs ?? 1000
  const live = new Set<ServerResponse>()
  /** The token hash each live stream was opened with: revoking the token ends the stream. */
  const liveTokens = new Map<ServerResponse, string>()
  const trustProxy = opts.trustProxy ?? false
  const hosts = hostCheck(opts.host ?? '127.0.0.1', opts.allowedHosts)
  const roots = storage instanceof FileStorage ? pathRoots(storage.dataDir) : []

  /** The token's record; `bearerOnly` for the ingest API, which never takes the login cookie. */
  const authenticate = async (req: IncomingMessage, bearerOnly: boolean): Promise<TokenRecord> => {
    const { token, via } = presentedToken(req)
    if (bearerOnly && via === 'cookie') throw new HttpError(401, 'the ingest API takes the token only as Authorization: Bearer <token>, never the login cookie')
    const t = await tokens.verify(token)
    if (!t) throw new HttpError(401, 'a valid token is required (Authorization: Bearer <token>, or log in at /login)')
    if (via === 'cookie') checkBrowserWrite(req)
    return t
  }
  const allow = (t: TokenRecord, project: string, write: boolean): void => {
    if (!tokenAllows(t, project)) throw new HttpError(403, `token ${t.id} has no access to project ${project}`)
    if (write && t.readOnly) throw new HttpError(403, `token ${t.id} is read-only`)
  }

  /**
   * The POST of a batch (scalars, media, records) or of output bytes, within the in-flight cap.
   * A batch that does not continue the server's copy is a 409 naming where it ends, so the
   * client resumes from there.
   */
  const handleUpload = async (req: IncomingMessage, res: ServerResponse, what: string, project: string, folder: string, url: URL): Promise<void> => {
    const store = async (op: () => Promise<unknown>, gap: (e: GapError) => Record<string, unknown>): Promise<void> => {
      try {
        return sendJson(res, 200, await op())
      } catch (e) {
        if (e instanceof GapError) return sendJson(res, 409, { error: e.message, ...gap(e) })
        throw e
      }
    }
    // The decoders refuse (400) a name Board.log() would refuse (src/board/names.ts), and only those.
    if (what === 'scalars') {
      const batch = decodeBatch(await readBody(req, maxScalarBody))
      return store(() => ingest.scalars(project, folder, batch), (e) => ({ metric: e.metric, have: e.have }))
    }
    if (what === 'media') {
      const batch = decodeMediaBatch(await readBody(req, maxBody))
      return store(() => ingest.media(project, folder, batch), (e) => ({ media: e.metric, have: e.have, missing: e.missing }))
    }
    if (what === 'records') {
      const batch = decodeRecordBatch(await readBody(req, maxBody))
      return store(() => ingest.records(project, folder, batch), (e) => ({ name: e.metric, have: e.have, missing: e.missing }))
    }
    if (what === 'output') {
      // The bytes of logs/output.log from offset `from` on.
      const raw = url.searchParams.get('from')
      const from = raw === null || raw === '' ? NaN : Number(raw)
      if (!Number.isSafeInteger(from) || from < 0) throw new HttpError(400, `output upload needs ?from=<byte offset> (got ${JSON.stringify(url.searchParams.get('from'))})`)
      const body = await readBody(req, maxBody)
      return store(() => ingest.output(project, folder, from, body), (e) => ({ have: e.have }))
    }
    throw new HttpError(404, `no such sync route: POST ${what}`)
  }

  /** `/api/sync/…`: the ingest API. */
  const handleSync = async (req: IncomingMessage, res: ServerResponse, seg: string[], url: URL, t: TokenRecord): Promise<void> => {
    if (seg[0] === 'whoami' && seg.length === 1) return sendJson(res, 200, { id: t.id, name: t.name, projects: t.projects, readOnly: t.readOnly })
    if (seg[0] !== 'runs' || seg.length < 3 || seg.length > 4) throw new HttpError(404, `no such sync route: /api/sync/${seg.join('/')}`)
    const project = checkSegment('project', seg[1])
    const folder = checkSegment('run', seg[2])
    allow(t, project, true)
    const what = seg[3]
    if (req.method === 'POST' && (what === 'scalars' || what === 'media' || what === 'records' || what === 'output')) {
      // A batch is held in memory while it is read and applied: at most maxInFlight at once.
      if (inFlight >= maxInFlight) {
        return sendJson(res, 503, { error: `the server is storing ${inFlight} batches already: retry shortly` }, { 'retry-after': '1', connection: 'close' })
      }
      // Held until the batch is applied, even if its client went away meanwhile (its memory is
      // held until then too); readBody settles when the connection closes mid-body.
      inFlight++
      try {
        return await handleUpload(req, res, what, project, folder, url)
      } finally {
        inFlight--
      }
    }
    if (what === undefined && req.method === 'PUT') {
      const body = jsonBody(await readBody(req, META_LIMIT))
      const metadata = body.metadata
      if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw new HttpError(400, 'PUT a run with { metadata: {...} }')
      checkRunMetadata(metadata as Record<string, unknown>)
      const state = await ingest.open(project, folder, metadata as Record<string, unknown>)
      return sendJson(res, 200, { run: `${project}/${folder}`, ...state })
    }
    if (what === undefined && req.method === 'DELETE') {
      await storage.deleteRun(project, folder)
      return sendJson(res, 200, { deleted: `${project}/${folder}` })
    }
    if (what === 'finish' && req.method === 'POST') {
      const body = jsonBody(await readBody(req, META_LIMIT))
      const status = String(body.status)
      if (!STATUSES.has(status) || status === 'running') throw new HttpError(400, `finish status must be finished, crashed or killed (got ${JSON.stringify(body.status)})`)
      const code = body.exitCode === null || body.exitCode === undefined ? null : Number(body.exitCode)
      if (code !== null && !Number.isInteger(code)) throw new HttpError(400, 'exitCode must be an integer or null')
      await ingest.finish(project, folder, status, code, typeof body.finishedAt === 'string' ? body.finishedAt : null)
      return sendJson(res, 200, { run: `${project}/${folder}`, status })
    }
    throw new HttpError(req.method === 'GET' ? 404 : 405, `no such sync route: ${req.method} /api/sync/${seg.join('/')}`)
  }

  /** `/api/…` except sync: the viewer's read routes, limited to the token's projects. */
  const handleRead = async (req: IncomingMessage, res: ServerResponse, seg: string[], url: URL, t: TokenRecord): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      throw new HttpError(405, `read routes only read (${req.method} refused)`)
    }
    const [head, p, r, what] = seg
    if (head === 'runs' && seg.length >= 3) allow(t, checkSegment('project', p), false)
    const qp = url.searchParams.get('project')
    if (qp) allow(t, checkSegment('project', qp), false)
    if (head === 'runs' && seg.length === 4 && what === 'live') {
      const folder = checkSegment('run', r)
      await store.metadata(p, folder) // 404 for a run the server does not hold
      const metrics = url.searchParams.getAll('metric').map(checkMetricName)
      const since = url.searchParams.getAll('since').map(Number)
      if (since.length !== metrics.length || since.some((x) => !Number.isFinite(x))) throw new HttpError(400, 'give one since=<step> per metric=<name>')
      live.add(res)
      liveTokens.set(res, t.hash)
      res.on('close', () => {
        live.delete(res)
        liveTokens.delete(res)
      })
      const watch = storage.watch ? (wake: () => void) => storage.watch!(p, folder, wake) : undefined
      return serveLive(store, { project: p, folder, metrics, since, intervalMs: liveIntervalMs, watch }, req, res)
    }
    if (opts.mediaRedirect && head === 'runs' && seg.length === 5 && what === 'media') {
      if (!/^[0-9a-f]{64}$/.test(seg[4])) throw new HttpError(400, `invalid media id: ${JSON.stringify(seg[4])}`)
      const location = await storage.mediaUrl!(p, checkSegment('run', r), seg[4], 300)
      res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': 0 })
      res.end()
      return
    }
    const out = await routes(seg, url.searchParams)
    if (out.kind === 'bytes') {
      res.writeHead(200, { 'content-type': out.type, 'content-length': out.body.length, 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'" })
      res.end(req.method === 'HEAD' ? undefined : out.body)
      return
    }
    let body = out.body
    // Lists across projects: keep only what the token may see.
    if (head === 'projects' && seg.length === 1) body = (body as Array<{ name: string }>).filter((x) => tokenAllows(t, x.name))
    if (head === 'runs' && seg.length === 1) body = (body as Array<{ project: string }>).filter((x) => tokenAllows(t, x.project))
    if ((head === 'last' || head === 'summaries') && seg.length === 1) body = Object.fromEntries(Object.entries(body as Record<string, unknown>).filter(([k]) => tokenAllows(t, k.split('/')[0])))
    if (head === 'health') body = { ok: true }
    sendJson(res, 200, body)
  }

  /** Set by drain(): requests still arriving on open connections are turned away. */
  let draining = false
  /**
   * `GET /healthz` for load balancers, without a token or a Host check (it tells nothing about
   * any run): 200 when the storage answers (database and bucket reachable), 503 otherwise or
   * while the server drains.
   */
  const healthz = async (res: ServerResponse): Promise<void> => {
    if (draining) return sendJson(res, 503, { ok: false, error: 'draining' }, { 'retry-after': '1', connection: 'close' })
    try {
      return sendJson(res, 200, { ok: true, ...(await storage.check()) })
    } catch (e) {
      process.stderr.write(`amber serve: health check: ${(e as Error)?.message ?? e}\n`)
      return sendJson(res, 503, { ok: false, error: (e as Error)?.name ?? 'unavailable' }, { 'retry-after': '1' })
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if ((req.url === '/healthz' || req.url?.startsWith('/healthz?')) && (req.method === 'GET' || req.method === 'HEAD')) return healthz(res)
    if (draining) return sendJson(res, 503, { error: 'the server is shutting down: retry on another replica' }, { 'retry-after': '1', connection: 'close' })
    if (!hosts.allows(req.headers.host)) throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed (start the server with --allowed-hosts to add a name)`)
    const rawPath = (req.url ?? '/').split('?')[0]
    if (rawPath.split('/').some((s) => /^(\.|%2e){1,2}$/i.test(s))) throw new HttpError(400, 'dot segments are not allowed in a path')
    const url = new URL(req.url ?? '/', 'http://amber.local')
    if (url.pathname === '/login') return handleLogin(req, res, url, tokens, isHttps(req, trustProxy))
    const raw = url.pathname.split('/').slice(1)
    if (raw[0] !== 'api') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} refused`)
      return serveStatic(webDir, url.pathname, res, pages)
    }
    const seg = raw.map((s) => {
      try {
        return decodeURIComponent(s)
      } catch {
        throw new HttpError(400, 'bad path encoding')
      }
    })
    if (seg[1] === 'sync') return handleSync(req, res, seg.slice(2), url, await authenticate(req, true))
    if (seg[1] === 'runs' && seg.length === 5 && seg[4] === 'labels' && req.method === 'POST') {
      // Labels are the viewer's one write: a write token of the project (the login cookie too,
      // from this server's own pages: authenticate checks that).
      const t = await authenticate(req, false)
      const project = checkSegment('project', seg[2])
      allow(t, project, true)
      return labelRoute(req, res, store, project, checkSegment('run', seg[3]))
    }
    return handleRead(req, res, seg.slice(1), url, await authenticate(req, false))
  }

  /** Requests being answered (live streams aside): what drain() waits for. */
  let active = 0
  const server = createLimitedServer((req, res) => {
    active++
    res.once('close', () => active--)
    handle(req, res).catch((e: unknown) => {
      if (e instanceof GapError) e = new HttpError(409, e.message)
      sendError(req, res, e, roots, 'amber serve', e instanceof HttpError && e.status === 401 ? { 'www-authenticate': 'Bearer' } : {})
    })
  }, opts)

  // Revoking a token ends the live streams opened with it (checked every second).
  let checking = false
  const revocations = setInterval(() => {
    if (checking) return
    checking = true
    void (async () => {
      for (const [res, hash] of liveTokens) {
        try {
          if (await tokens.isValid(hash)) continue
        } catch {
          continue // an unreadable token store: the next check tries again
        }
        liveTokens.delete(res)
        res.end()
      }
    })().finally(() => {
      checking = false
    })
  }, 1000)
  revocations.unref()

  let storageClosed: Promise<void> = Promise.resolve()
  const listening = await listen(server, opts, live, () => {
    clearInterval(revocations)
    storageClosed = storage.close().catch((e: unknown) => {
      process.stderr.write(`amber serve: closing the storage: ${(e as Error)?.stack ?? e}\n`)
    })
  })
  const close = async (): Promise<void> => {
    await listening.close()
    await storageClosed
  }
  const drain = async (graceMs = 30_000): Promise<void> => {
    draining = true
    // No new connection; idle keep-alive ones are closed, busy ones finish their request.
    server.close()
    server.closeIdleConnections()
    const until = Date.now() + graceMs
    while (active > live.size && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    await close()
  }
  return { ...listening, server, storage, tokens, dataDir: storage instanceof FileStorage ? storage.dataDir : undefined, drain, close }
}
