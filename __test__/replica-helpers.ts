/**
 * Helpers for the fault specs of the PostgreSQL + S3 server mode (serve-replicas.spec.ts): real
 * `amber serve --db … --bucket …` replicas as child processes (so they can be SIGKILLed or sent
 * SIGTERM), tokens made with the real CLI, proxies that play the load balancer in front of the
 * replicas or the network between a replica and S3, a Server-Sent Events reader, and comparisons
 * of a local run with what the replicas serve and with what PostgreSQL and the bucket hold.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import * as http from 'node:http'
import * as net from 'node:net'
import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import type { ExecutionContext } from 'ava'
import { Client } from 'pg'
import { openRun } from '../src/index'
import { decodeChunk } from '../src/server/pg/chunk'
import type { PointColumns } from '../src/server/pg/chunk'
import { Bucket } from '../src/server/pg/bucket'
import { AMBER } from './sync-helpers'

/** tsx by absolute URL: a replica started in an empty folder cannot resolve `--import tsx` from its cwd. */
const TSX = pathToFileURL(require.resolve('tsx')).href

export interface ReplicaOptions {
  db: string
  bucket: string
  s3Endpoint: string
  port: number
  /** The replica's working directory (default: this process's). */
  cwd?: string
  /** Added to this process's environment (which carries the AWS_* test credentials). */
  env?: Record<string, string>
  extra?: string[]
}

export interface Replica {
  url: string
  port: number
  child: ChildProcess
  /** Everything the replica wrote to stderr so far. */
  stderr(): string
  /** Resolves when the process has exited, with how. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Send `signal` (default SIGKILL) unless it has exited, and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>
}

/**
 * `amber serve --db … --bucket …` in a child process on 127.0.0.1:`port`; resolves once it
 * listens. Killed (SIGKILL) when the test ends, whatever happened to it.
 */
export function startReplica(t: ExecutionContext, o: ReplicaOptions): Promise<Replica> {
  const args = ['--import', TSX, AMBER, 'serve', '--db', o.db, '--bucket', o.bucket, '--s3-endpoint', o.s3Endpoint, '--port', String(o.port), ...(o.extra ?? [])]
  const child = spawn(process.execPath, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once('exit', (code, signal) => done({ code, signal })))
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  t.teardown(() => kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill('SIGKILL')
      reject(new Error(`amber serve did not listen within 30 s: ${err}`))
    }, 30_000)
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`amber serve exited (${code ?? signal}) before listening: ${err}`))
    })
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('http://')) {
        clearTimeout(timer)
        resolve({ url: `http://127.0.0.1:${o.port}`, port: o.port, child, stderr: () => err, exited, kill })
      }
    })
  })
}

/**
 * The requests a replica answered with a 5xx so far, as it logged them (`amber serve: METHOD
 * path: error`, first line of each): a replica that fails a request without a fault to blame
 * has a bug, even when the client's retry hides it.
 */
export function failedRequests(r: Replica): string[] {
  return r.stderr().split('\n').filter((l) => /^amber serve: [A-Z]+ \//.test(l))
}

/** Run the `amber` CLI (without blocking this process's event loop: replicas and streams keep going). */
export function amberAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, AMBER, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.once('exit', (code, signal) => resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr }))
  })
}

/** `amber token create --db`: the token and its id (for `amber token revoke`). */
export async function dbToken(db: string, project = 'team', extra: string[] = []): Promise<{ token: string; id: string }> {
  const r = await amberAsync(['token', 'create', '--db', db, '--project', project, ...extra])
  const id = /^token (\S+)/m.exec(r.stderr)?.[1]
  if (r.code !== 0 || !id) throw new Error(`amber token create --db failed (${r.code}): ${r.stderr}`)
  return { token: r.stdout.trim(), id }
}

/** GET `path` of a replica with the token; the parsed JSON, or an error naming the status. */
export async function apiGet<T = any>(base: string, token: string, path: string): Promise<T> {
  const res = await fetch(new URL(path, base), { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) })
  const text = await res.text()
  if (!res.ok) throw new Error(`GET ${path} on ${base}: ${res.status} ${text}`)
  return JSON.parse(text) as T
}

export const runPath = (project: string, folder: string) => `/api/runs/${encodeURIComponent(project)}/${encodeURIComponent(folder)}`

/** Poll `check` every 50 ms until it is truthy or `ms` pass (then the last value is returned). */
export async function waitFor<T>(check: () => T | Promise<T>, ms: number): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v || Date.now() > until) return v
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A JSON value of the read API against a local f64: finite numbers as numbers, the others as strings. */
function sameJsonNumber(remote: unknown, local: number): boolean {
  // JSON has no -0: the API's 0 stands for either zero (the SQL check below tells them apart).
  return Number.isFinite(local) ? remote === local : remote === String(local)
}

/**
 * What a replica's read API shows of the run equals the local run: the metric list, every point
 * of every metric (step, global step, timestamp, value), every media entry and media file byte,
 * every histogram and table, and the status. Returns the number of points compared.
 */
export async function assertSameThroughApi(t: ExecutionContext, base: string, token: string, runDir: string, project: string, label: string): Promise<number> {
  const run = openRun(runDir)
  const folder = path.basename(run.runDir)
  const at = runPath(project, folder)
  try {
    const info = await apiGet(base, token, at)
    t.is(info.metadata.status, run.metadata.status, `${label}: status`)
    const names = await apiGet<string[]>(base, token, `${at}/metrics`)
    t.deepEqual([...names].sort(), [...run.metrics()].sort(), `${label}: metric names`)
    let points = 0
    for (const name of run.metrics()) {
      const local = run.scalars(name)
      const remote = await apiGet(base, token, `${at}/scalars?name=${encodeURIComponent(name)}&maxPoints=100000`)
      t.is(remote.value.length, local.value.length, `${label}: ${name} has as many points`)
      let bad = -1
      for (let i = 0; i < local.value.length && bad < 0; i++) {
        if (remote.step[i] !== Number(local.step[i]) || remote.globalStep[i] !== Number(local.globalStep[i]) || remote.timestamp[i] !== Number(local.timestamp[i]) || !sameJsonNumber(remote.value[i], local.value[i])) bad = i
      }
      t.is(bad, -1, `${label}: ${name} differs at point ${bad}: ${bad < 0 ? '' : JSON.stringify([remote.step[bad], remote.value[bad]])} vs ${bad < 0 ? '' : JSON.stringify([Number(local.step[bad]), String(local.value[bad])])}`)
      points += local.value.length
    }
    for (const name of run.mediaNames()) {
      const local = run.media(name)
      const remote = await apiGet<Array<{ step: number; id: string; caption: string | null }>>(base, token, `${at}/media?name=${encodeURIComponent(name)}`)
      t.is(remote.length, local.length, `${label}: media ${name} count`)
      for (let i = 0; i < Math.min(remote.length, local.length); i++) {
        t.is(remote[i].step, local[i].step, `${label}: media ${name}[${i}] step`)
        t.is(remote[i].caption, local[i].caption, `${label}: media ${name}[${i}] caption`)
        t.is(remote[i].id, local[i].key.slice(0, 64), `${label}: media ${name}[${i}] file`)
      }
      // Every file once (several occurrences may share one).
      for (const key of new Set(local.map((e) => e.key))) {
        const res = await fetch(new URL(`${at}/media/${key.slice(0, 64)}`, base), { headers: { authorization: `Bearer ${token}` } })
        t.is(res.status, 200, `${label}: media file ${key} is served`)
        t.true(Buffer.from(await res.arrayBuffer()).equals(run.mediaBytes(key)), `${label}: media file ${key} byte for byte`)
      }
    }
    for (const name of run.histogramNames()) {
      const local = run.histograms(name)
      const remote = await apiGet<Array<{ step: number; edges: number[]; counts: number[] }>>(base, token, `${at}/histograms?name=${encodeURIComponent(name)}`)
      t.is(remote.length, local.length, `${label}: histogram ${name} count`)
      for (let i = 0; i < Math.min(remote.length, local.length); i++) {
        t.deepEqual([remote[i].step, remote[i].edges, remote[i].counts], [local[i].step, Array.from(local[i].edges), Array.from(local[i].counts)], `${label}: histogram ${name}[${i}]`)
      }
    }
    for (const name of run.tableNames()) {
      const local = run.tables(name)
      const remote = await apiGet<Array<{ step: number; columns: string[]; rows: unknown[][] }>>(base, token, `${at}/tables?name=${encodeURIComponent(name)}`)
      t.is(remote.length, local.length, `${label}: table ${name} count`)
      for (let i = 0; i < Math.min(remote.length, local.length); i++) {
        t.deepEqual([remote[i].step, remote[i].columns, remote[i].rows], [local[i].step, local[i].columns, local[i].rows], `${label}: table ${name}[${i}]`)
      }
    }
    return points
  } finally {
    run.close()
  }
}

/** Compare two f64 columns bit for bit (so -0 is not 0, and NaN is NaN); the first index that differs, or -1. */
function firstBitDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length)
  const x = Buffer.from(Float64Array.from(a).buffer)
  const y = Buffer.from(Float64Array.from(b).buffer)
  for (let i = 0; i < a.length; i++) if (!x.subarray(i * 8, i * 8 + 8).equals(y.subarray(i * 8, i * 8 + 8))) return i
  return -1
}

/**
 * What PostgreSQL and the bucket hold of the run, read straight from the tables and objects
 * (not through a replica): per metric, the head's count equals the local count; the stored
 * pieces (tail rows and sealed chunks) cover points 0..count once each, in order, with no gap
 * and no overlap; decoded, they equal the local points bit for bit (-0 and NaN included).
 * Media: one row per local occurrence, indexes 0..n-1, and every media row's object is in the
 * bucket (nothing half-stored). Returns the number of points checked.
 */
export async function assertStoredOnce(t: ExecutionContext, db: string, bucketUrl: string, s3Endpoint: string, runDir: string, project: string): Promise<number> {
  const run = openRun(runDir)
  const folder = path.basename(run.runDir)
  const c = new Client({ connectionString: db })
  const bucket = new Bucket(bucketUrl, { endpoint: s3Endpoint })
  await c.connect()
  try {
    const runs = (await c.query<{ id: string }>('SELECT id FROM amber_runs WHERE project = $1 AND folder = $2', [project, folder])).rows
    t.is(runs.length, 1, 'one run row')
    const id = runs[0].id
    const series = (await c.query<{ id: number; name: string; count: string; sealed: string }>('SELECT id, name, count, sealed FROM amber_series WHERE run = $1', [id])).rows
    t.deepEqual(series.map((s) => s.name).sort(), [...run.metrics()].sort(), 'one series row per metric')
    let points = 0
    for (const s of series) {
      const local = run.scalars(s.name)
      t.is(Number(s.count), local.value.length, `${s.name}: the head counts every point once`)
      const pieces = (await c.query<{ start: string; n: number; object: string | null; data: Buffer | null }>(
        `SELECT start, n, object, NULL::bytea AS data FROM amber_chunks WHERE run = $1 AND series = $2
         UNION ALL SELECT start, n, NULL, data FROM amber_tail WHERE run = $1 AND series = $2 ORDER BY start`,
        [id, s.id],
      )).rows
      let next = 0
      for (const p of pieces) {
        t.is(Number(p.start), next, `${s.name}: piece at ${p.start} follows the one before (no gap, no overlap)`)
        next = Number(p.start) + p.n
      }
      t.is(next, local.value.length, `${s.name}: the pieces end at the count`)
      const cols: PointColumns[] = []
      for (const p of pieces) cols.push(decodeChunk(p.object ? await bucket.get(p.object) : p.data!))
      for (const k of ['step', 'globalStep', 'timestamp', 'value'] as const) {
        const stored = cols.flatMap((x) => Array.from(x[k]))
        const bad = firstBitDifference(stored, local[k])
        t.is(bad, -1, `${s.name}.${k} stored bit for bit${bad < 0 ? '' : ` (differs at ${bad}: ${stored[bad]} vs ${local[k][bad]})`}`)
      }
      points += local.value.length
    }
    for (const name of run.mediaNames()) {
      const idx = (await c.query<{ idx: number }>('SELECT idx FROM amber_media WHERE run = $1 AND name = $2 ORDER BY idx', [id, name])).rows.map((r) => r.idx)
      t.deepEqual(idx, run.media(name).map((_, i) => i), `media ${name}: one row per occurrence`)
    }
    t.deepEqual(await missingObjects(c, bucket), [], 'every object a row refers to is in the bucket')
    return points
  } finally {
    bucket.close()
    await c.end()
    run.close()
  }
}

/** Keys rows of the database refer to (media, run files, chunks, large records, sealed output) whose object the bucket lacks. */
export async function missingObjects(c: Client, bucket: Bucket): Promise<string[]> {
  const keys = (await c.query<{ key: string }>(
    `SELECT 'media/' || key AS key FROM amber_media UNION SELECT 'media/' || key FROM amber_run_files
     UNION SELECT object FROM amber_chunks UNION SELECT object FROM amber_records WHERE object IS NOT NULL
     UNION SELECT object FROM amber_output WHERE object IS NOT NULL`,
  )).rows.map((r) => r.key)
  const missing: string[] = []
  for (const k of keys) if (!(await bucket.exists(k))) missing.push(k)
  return missing
}

/** `missingObjects` with connections of its own. */
export async function missingObjectsIn(db: string, bucketUrl: string, s3Endpoint: string): Promise<string[]> {
  const c = new Client({ connectionString: db })
  const bucket = new Bucket(bucketUrl, { endpoint: s3Endpoint })
  await c.connect()
  try {
    return await missingObjects(c, bucket)
  } finally {
    bucket.close()
    await c.end()
  }
}

/** One SQL query on `db`, with a connection of its own. */
export async function sql<R extends Record<string, any> = any>(db: string, text: string, values: unknown[] = []): Promise<R[]> {
  const c = new Client({ connectionString: db })
  await c.connect()
  try {
    return (await c.query<R>(text, values)).rows
  } finally {
    await c.end()
  }
}

/** A Server-Sent Events stream read as it arrives: every event with the time it arrived. */
export interface SseStream {
  status: number
  events: Array<{ event: string; data: any; at: number }>
  /** Resolves when the server ends the stream (or the connection breaks). */
  ended: Promise<void>
  /** Resolves with the first event (from now on or already received) that `match` accepts. */
  next(match: (e: { event: string; data: any }) => boolean, ms: number): Promise<{ event: string; data: any; at: number } | null>
  close(): void
}

export async function openSse(url: string, token: string): Promise<SseStream> {
  const ac = new AbortController()
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ac.signal })
  const events: SseStream['events'] = []
  const waiters = new Set<() => void>()
  let buf = ''
  const ended = (async () => {
    if (!res.body) return
    const dec = new TextDecoder()
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += dec.decode(chunk, { stream: true })
        let k: number
        while ((k = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, k)
          buf = buf.slice(k + 2)
          const event = /^event: (.*)$/m.exec(block)?.[1]
          const data = /^data: (.*)$/m.exec(block)?.[1]
          if (event && data !== undefined) events.push({ event, data: JSON.parse(data), at: performance.now() })
        }
        for (const w of waiters) w()
      }
    } catch {
      // aborted by close(), or the connection broke: the stream ended either way
    } finally {
      for (const w of waiters) w()
    }
  })()
  let done = false
  void ended.then(() => (done = true))
  const next: SseStream['next'] = async (match, ms) => {
    const until = Date.now() + ms
    for (let seen = 0; ; ) {
      for (; seen < events.length; seen++) if (match(events[seen])) return events[seen]
      if (done || Date.now() > until) return null
      await new Promise<void>((wake) => {
        const timer = setTimeout(finish, Math.max(1, until - Date.now()))
        function finish() {
          clearTimeout(timer)
          waiters.delete(finish)
          wake()
        }
        waiters.add(finish)
      })
    }
  }
  return { status: res.status, events, ended, next, close: () => ac.abort() }
}

/** The request a piece of bytes on a balancer connection belongs to. */
export interface RequestInfo {
  /** The request line, e.g. `POST /api/sync/runs/team/x/scalars HTTP/1.1`. */
  line: string
  /** Its body's length (content-length; 0 without one). */
  length: number
}

/**
 * What a balancer hook decides for a piece of a request: nothing (forward it), 'cut' (close
 * both sides without forwarding it), a function to run once it has been forwarded, or a promise
 * of one of these (the connection waits meanwhile).
 */
export type HookVerdict = void | 'cut' | (() => Promise<void>)

/**
 * A load balancer in front of replicas, at the TCP level: each new connection goes to the port
 * `target()` names when it opens. `hook` sees every piece of a request's body on its way up
 * (with the body bytes that went up before it, and the request it belongs to) and decides what
 * happens to it. Requests on one connection follow each other (HTTP/1.1 without pipelining, as
 * fetch sends them), so a piece belongs to one request.
 */
export function tcpBalancer(target: () => number, hook?: (chunk: Buffer, bodyBefore: number, req: RequestInfo) => HookVerdict | Promise<HookVerdict>): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(target(), '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    let head = Buffer.alloc(0)
    let req: RequestInfo | null = null
    let body = 0
    let queue = Promise.resolve()
    /** Split `d` into header and body pieces and hand the body pieces to the hook. */
    const pieces = (d: Buffer): Array<{ piece: Buffer; before: number; req: RequestInfo | null }> => {
      const out: Array<{ piece: Buffer; before: number; req: RequestInfo | null }> = []
      while (d.length) {
        if (!req) {
          head = Buffer.concat([head, d])
          const end = head.indexOf('\r\n\r\n')
          if (end < 0) {
            out.push({ piece: d, before: 0, req: null })
            return out
          }
          const text = head.subarray(0, end).toString('latin1')
          const headerBytes = d.length - (head.length - end - 4)
          out.push({ piece: d.subarray(0, headerBytes), before: 0, req: null })
          req = { line: text.split('\r\n')[0], length: Number(/^content-length: *(\d+)/im.exec(text)?.[1] ?? 0) }
          body = 0
          head = Buffer.alloc(0)
          d = d.subarray(headerBytes)
          if (req.length === 0) req = null
          continue
        }
        const take = Math.min(d.length, req.length - body)
        out.push({ piece: d.subarray(0, take), before: body, req })
        body += take
        d = d.subarray(take)
        if (body >= req.length) req = null
      }
      return out
    }
    client.on('data', (d) => {
      client.pause()
      const parts = pieces(d)
      queue = queue.then(async () => {
        for (const { piece, before, req: r } of parts) {
          const verdict = hook && r ? await hook(piece, before, r) : undefined
          if (verdict === 'cut' || client.destroyed || upstream.destroyed) {
            client.destroy()
            upstream.destroy()
            return
          }
          upstream.write(piece)
          if (typeof verdict === 'function') await verdict()
        }
        client.resume()
      })
    })
    relayBack(client, upstream, sockets)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => new Promise<void>((done) => {
          for (const s of sockets) s.destroy()
          server.close(() => done())
        }),
      })
    })
  })
}

/**
 * A load balancer at the HTTP level: each request goes to the next replica in turn (`ports`
 * round robin), so a client's consecutive batches land on different replicas even over one
 * keep-alive connection. Counts the requests each replica got, by route.
 */
export function roundRobinProxy(ports: number[]): Promise<{ port: number; sent: Map<number, string[]>; close: () => Promise<void> }> {
  let turn = 0
  const sent = new Map<number, string[]>(ports.map((p) => [p, []]))
  const agent = new http.Agent({ keepAlive: true })
  const server = http.createServer((req, res) => {
    const port = ports[turn++ % ports.length]
    sent.get(port)!.push(`${req.method} ${req.url}`)
    const up = http.request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers, agent }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers)
      r.pipe(res)
    })
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: 'bad gateway' }))
    })
    req.pipe(up)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        sent,
        close: () => new Promise<void>((done) => {
          agent.destroy()
          server.closeAllConnections()
          server.close(() => done())
        }),
      })
    })
  })
}

/**
 * The network between a replica and the S3 server: a TCP proxy that can go down (every open
 * connection cut, new ones refused: what a replica sees when the object store is unreachable)
 * and come back on the same port, without the S3 server losing what it holds. `onRequest` sees
 * the first piece of each request (method and path) on its way up.
 */
export async function s3Link(s3Port: number, onRequest?: (head: string) => void): Promise<{ port: number; down: () => Promise<void>; up: () => Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  let port = 0
  let server: net.Server | null = null
  const listen = () => new Promise<void>((resolve, reject) => {
    const s = net.createServer((client) => {
      const upstream = net.connect(s3Port, '127.0.0.1')
      sockets.add(client)
      sockets.add(upstream)
      client.on('data', (d) => {
        const line = d.subarray(0, 200).toString('latin1')
        if (/^(GET|PUT|POST|HEAD|DELETE) /.test(line)) onRequest?.(line.split('\r\n')[0])
        upstream.write(d)
      })
      relayBack(client, upstream, sockets)
    })
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => {
      port = (s.address() as net.AddressInfo).port
      server = s
      resolve()
    })
  })
  const down = () => new Promise<void>((done) => {
    const s = server
    server = null
    for (const x of sockets) x.destroy()
    if (s) s.close(() => done())
    else done()
  })
  await listen()
  return { port, down, up: listen, close: down }
}

/** The replies of a proxied connection back to its client; either side ending ends both. */
function relayBack(client: net.Socket, upstream: net.Socket, sockets: Set<net.Socket>): void {
  upstream.on('data', (d) => client.write(d))
  const end = () => {
    client.destroy()
    upstream.destroy()
    sockets.delete(client)
    sockets.delete(upstream)
  }
  for (const x of [client, upstream]) {
    x.on('error', end)
    x.on('close', end)
  }
}
