/**
 * The HTTP servers under hostile or careless clients, against real servers on 127.0.0.1 (the
 * viewer and the team server in process, `amber open` / `amber serve` as child processes) with
 * real runs, every loop bounded:
 * - Host check (DNS rebinding): only loopback names and --allowed-hosts are answered;
 * - timeouts and per-client connection caps: idle sockets of one client never lock others out,
 *   half-sent headers are cut, --trust-proxy moves the cap to X-Forwarded-For;
 * - memory bounds: 413 before an oversized body is read, default caps on scalar reads;
 * - one unreadable run fails only its own requests, and no error shows a file-system path;
 * - the login cookie: form POST only, no uploads, Origin and JSON checks, Secure over https,
 *   page headers, revocation ending live streams, metadata types checked on upload.
 */
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { execFile, spawn } from 'node:child_process'
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import * as net from 'node:net'
import { join } from 'node:path'
import { Board, listRuns } from '../src/index'
import { TokenStore, startServer } from '../src/server'
import type { TeamServer } from '../src/server'
import { hostCheck } from '../src/viewer/hosts'
import { LIMITS } from '../src/viewer/limits'
import { startViewer } from '../src/viewer/server'
import type { Viewer, ViewerOptions } from '../src/viewer/server'
import { AMBER, freePort, sleep, startServerProcess } from './sync-helpers'
import { logRun, tempBase } from './viewer-fixtures'
import type { LoggedRun } from './viewer-fixtures'

interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** One HTTP/1.1 request to 127.0.0.1:port, headers exactly as given (Host included). */
function send(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: { host: `127.0.0.1:${port}`, ...opts.headers }, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.setTimeout(15_000, () => req.destroy(new Error(`${path}: no answer in 15 s`)))
    req.on('error', reject)
    req.end(opts.body)
  })
}

/**
 * `amber …` in a child process, without blocking this process (the in-process servers of the
 * other tests keep answering meanwhile; spawnSync would stall them past their header timeout).
 */
function amber(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', AMBER, ...args], { encoding: 'utf8', timeout: 120_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

/** Bytes written as they are to a new socket; resolves with what came back once it closes. */
function rawExchange(port: number, text: string, ms = 5000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text))
    let got = ''
    s.on('data', (d) => (got += d))
    const timer = setTimeout(() => s.destroy(), ms)
    s.on('close', () => {
      clearTimeout(timer)
      resolve(got)
    })
    s.on('error', () => undefined)
  })
}

const viewers: Viewer[] = []
const servers: TeamServer[] = []
const dirs: string[] = []
test.after.always(async () => {
  for (const v of viewers) await v.close()
  for (const s of servers) await s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** A temp folder removed when the file's tests are done. */
function temp(tag: string): string {
  const d = tempBase(tag)
  dirs.push(d)
  return d
}

/** Overwrite every file under `dir` with bytes that are no database, no JSON, nothing. */
function garble(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) writeFileSync(join(e.parentPath, e.name), Buffer.alloc(8192, 0x5a))
  }
}

async function viewer(base: string, opts: Partial<ViewerOptions> = {}): Promise<Viewer> {
  const v = await startViewer({ baseDir: base, liveIntervalMs: 100, ...opts })
  viewers.push(v)
  return v
}

async function teamServer(opts: Partial<Parameters<typeof startServer>[0]> = {}): Promise<TeamServer> {
  const s = await startServer({ dataDir: temp('harden-data'), liveIntervalMs: 100, ...opts })
  servers.push(s)
  return s
}

let base: string
let a: LoggedRun
let b: LoggedRun

test.before(async () => {
  base = temp('harden')
  a = await logRun(base, { name: 'alpha', steps: 30 })
  b = await logRun(base, { name: 'beta', project: 'other', steps: 20 })
})

// ---------------------------------------------------------------- 1. Host check

test('bound to loopback, the viewer answers loopback Host names with any port and refuses others with 403 and no run data', async (t) => {
  const v = await viewer(base)
  for (const host of [`127.0.0.1:${v.port}`, `localhost:${v.port}`, 'LOCALHOST', `[::1]:${v.port}`, '127.0.0.1', 'localhost:9999', '127.1.2.3:80']) {
    const r = await send(v.port, '/api/runs', { headers: { host } })
    t.is(r.status, 200, host)
  }
  for (const host of ['evil.example', `evil.example:${v.port}`, 'localhost.evil.example', '10.0.0.1', `192.168.1.2:${v.port}`, 'a@localhost', 'localhost:80:80']) {
    for (const path of ['/api/runs', '/api/last?metric=train%2Floss', `/api/runs/${a.key}`, '/', '/main.js']) {
      const r = await send(v.port, path, { headers: { host } })
      t.is(r.status, 403, `${host} ${path}`)
      t.false(r.body.includes('alpha') || r.body.includes(a.key.split('/')[1]), `${host} ${path}: no run data`)
    }
  }
  // HTTP/1.0 without any Host header, and an empty one.
  t.regex(await rawExchange(v.port, 'GET /api/runs HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 403/)
  t.regex(await rawExchange(v.port, 'GET /api/runs HTTP/1.0\r\nHost: \r\n\r\n'), /^HTTP\/1\.1 403/)
})

test('--allowed-hosts adds names; "*" allows every Host; off loopback, IP literals are allowed too', async (t) => {
  const v = await viewer(base, { allowedHosts: ['viewer.lan', 'Box.Example:8080'] })
  t.is((await send(v.port, '/api/runs', { headers: { host: 'viewer.lan' } })).status, 200)
  t.is((await send(v.port, '/api/runs', { headers: { host: `VIEWER.lan:${v.port}` } })).status, 200)
  t.is((await send(v.port, '/api/runs', { headers: { host: 'box.example' } })).status, 200)
  t.is((await send(v.port, '/api/runs', { headers: { host: 'evil.example' } })).status, 403)
  const any = await viewer(base, { allowedHosts: ['*'] })
  t.is((await send(any.port, '/api/runs', { headers: { host: 'evil.example' } })).status, 200)
  // The rule for a server bound elsewhere (checked as a function: the tests bind loopback only).
  const lan = hostCheck('0.0.0.0', ['team.example'])
  for (const h of ['192.168.1.2:8470', '[fe80::1]:8470', 'localhost', 'team.example', '127.0.0.1']) t.true(lan.allows(h), h)
  for (const h of ['evil.example', 'team.example.evil', undefined, '']) t.false(lan.allows(h), String(h))
  t.false(hostCheck('127.0.0.1').allows('192.168.1.2'))
  t.true(hostCheck('0.0.0.0', ['*']).allows('anything.example'))
})

test('amber open and amber serve (child processes) refuse a rebinding Host and take --allowed-hosts', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', AMBER, 'open', base, '--allowed-hosts', 'viewer.lan'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => child.kill('SIGKILL'))
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (c) => {
      buf += c
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(buf)
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', (code) => reject(new Error(`amber open exited ${code}`)))
  })
  t.is((await send(port, '/api/runs', { headers: { host: 'evil.example' } })).status, 403)
  t.is((await send(port, '/api/runs', { headers: { host: 'viewer.lan' } })).status, 200)
  t.is((await send(port, '/api/runs')).status, 200)

  const data = temp('harden-serve')
  const token = new TokenStore(data).create({ projects: '*' }).token
  const s = await startServerProcess(data, await freePort(), ['--allowed-hosts', 'team.lan'])
  t.teardown(() => s.kill())
  const auth = { authorization: `Bearer ${token}` }
  t.is((await send(s.port, '/api/runs', { headers: { ...auth, host: 'evil.example' } })).status, 403)
  t.is((await send(s.port, '/api/runs', { headers: { ...auth, host: 'team.lan:8470' } })).status, 200)
  t.is((await send(s.port, '/api/runs', { headers: auth })).status, 200)
  for (const cmd of ['serve', 'open', 'demo']) t.regex((await amber([cmd, '--help'])).stdout, /--allowed-hosts[\s\S]*--trust-proxy/, cmd)
})

// ---------------------------------------------------------------- 2. Timeouts and connection caps

test('the servers have the documented timeouts', async (t) => {
  const v = await viewer(base)
  const s = await teamServer()
  for (const server of [v.server, s.server]) {
    t.is(server.headersTimeout, LIMITS.headersTimeoutMs)
    t.is(server.requestTimeout, LIMITS.requestTimeoutMs)
    t.is(server.keepAliveTimeout, LIMITS.keepAliveTimeoutMs)
  }
  t.deepEqual({ ...LIMITS }, { headersTimeoutMs: 30_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 10_000, connectionsPerClient: 32 })
})

test('150 idle sockets from one client: the server keeps at most 32 of them and a normal request still answers at once', async (t) => {
  const v = await viewer(base)
  const sockets: net.Socket[] = []
  let closedByServer = 0
  t.teardown(() => sockets.forEach((s) => s.destroy()))
  for (let i = 0; i < 150; i++) {
    const s = net.connect(v.port, '127.0.0.1')
    s.on('error', () => undefined)
    s.on('close', () => closedByServer++)
    sockets.push(s)
    await new Promise<void>((resolve) => {
      s.once('connect', () => resolve())
      s.once('close', () => resolve())
    })
  }
  const deadline = Date.now() + 5000
  while (closedByServer < 150 - LIMITS.connectionsPerClient && Date.now() < deadline) await sleep(20)
  t.true(closedByServer >= 150 - LIMITS.connectionsPerClient, `${closedByServer} closed`)
  t.true(150 - closedByServer <= LIMITS.connectionsPerClient)
  const started = Date.now()
  const r = await send(v.port, '/api/runs')
  t.is(r.status, 200)
  t.true(Date.now() - started < 2000, `answered in ${Date.now() - started} ms`)
})

test('busy connections (live streams) are never closed for newer ones; past the cap a new connection is refused', async (t) => {
  const v = await viewer(base, { limits: { connectionsPerClient: 3 } })
  const streams: AbortController[] = []
  // The Responses stay referenced until teardown: fetch cancels an unread body once its Response
  // is garbage collected, which would close the stream's connection and free its slot mid-test.
  const open: Response[] = []
  t.teardown(() => {
    streams.forEach((c) => c.abort())
    open.length = 0
  })
  for (let i = 0; i < 3; i++) {
    const ctl = new AbortController()
    streams.push(ctl)
    const r = await fetch(`${v.url}api/runs/${a.key}/live?metric=train%2Floss&since=-1`, { signal: ctl.signal })
    t.is(r.status, 200) // its body stays unread: the stream stays open
    open.push(r)
  }
  await t.throwsAsync(send(v.port, '/api/runs'))
  streams.shift()!.abort()
  let status = 0
  for (let i = 0; i < 50 && status !== 200; i++) {
    await sleep(50)
    status = await send(v.port, '/api/runs').then((r) => r.status, () => 0)
  }
  t.is(status, 200, 'a slot frees when a stream ends')
})

test('half-sent headers are cut within the header timeout', async (t) => {
  const v = await viewer(base, { limits: { headersTimeoutMs: 1000, requestTimeoutMs: 5000 } })
  const started = Date.now()
  const got = await rawExchange(v.port, `GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1`, 8000)
  const took = Date.now() - started
  t.regex(got, /^HTTP\/1\.1 408/)
  t.true(took < 6000, `cut after ${took} ms (Node's own default: 60 s)`)
  // A socket that sends nothing at all is cut the same way.
  const silentStart = Date.now()
  await rawExchange(v.port, '', 8000)
  t.true(Date.now() - silentStart < 6000)
})

test('--trust-proxy: the cap counts X-Forwarded-For clients, and X-Forwarded-Proto https makes the cookie Secure', async (t) => {
  const s = await teamServer({ trustProxy: true, limits: { connectionsPerClient: 2 } })
  const { token } = await s.tokens.create({ projects: '*' })
  const runsAs = (xff: string) => send(s.port, '/api/runs', { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': xff } })
  // Two requests in progress for 203.0.113.7 (the proxy's last X-Forwarded-For entry): live streams.
  const run = new Board({ baseDir: temp('harden-proxy'), project: 'p', runId: 'r', captureOutput: false, systemMetrics: false })
  run.log({ x: 1 })
  await run.finish()
  const { syncRun } = await import('../src/index')
  await syncRun(run.runDir, { url: s.url, token })
  const ctls = [new AbortController(), new AbortController()]
  const open: Response[] = [] // referenced until teardown, so fetch does not cancel the unread streams
  t.teardown(() => {
    ctls.forEach((c) => c.abort())
    open.length = 0
  })
  for (const ctl of ctls) {
    const r = await fetch(`${s.url}api/runs/p/r/live?metric=x&since=-1`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '198.51.100.1, 203.0.113.7' }, signal: ctl.signal })
    t.is(r.status, 200)
    open.push(r)
  }
  t.is((await runsAs('203.0.113.7')).status, 503)
  t.is((await runsAs('203.0.113.8')).status, 200, 'another client is not affected')
  const login = (headers: Record<string, string>) =>
    send(s.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: `token=${encodeURIComponent(token)}` })
  t.regex(String((await login({ 'x-forwarded-proto': 'https' })).headers['set-cookie']), /; Secure/)
  t.notRegex(String((await login({})).headers['set-cookie']), /Secure/)
  // Without --trust-proxy the headers are not believed.
  const plain = await teamServer({ limits: { connectionsPerClient: 2 } })
  const tok2 = (await plain.tokens.create({ projects: '*' })).token
  const r = await send(plain.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-proto': 'https' }, body: `token=${encodeURIComponent(tok2)}` })
  t.is(r.status, 303)
  t.notRegex(String(r.headers['set-cookie']), /Secure/)
})

// ---------------------------------------------------------------- 3. Memory bounds

test('an over-limit upload gets 413 before its body is read, and the server keeps serving', async (t) => {
  const s = await teamServer({ maxBodyBytes: 64 * 1024 })
  const { token } = await s.tokens.create({ projects: ['alpha'] })
  const auth = { authorization: `Bearer ${token}` }
  t.is((await send(s.port, '/api/sync/runs/alpha/r1', { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { runId: 'r1' } }) })).status, 200)
  // Only the headers go out, announcing 50 MB: the 413 comes back without any body bytes sent.
  const answer = await rawExchange(s.port, `POST /api/sync/runs/alpha/r1/scalars HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 50000000\r\n\r\n`, 5000)
  t.regex(answer, /^HTTP\/1\.1 413/)
  t.regex(answer, /over the 65536 byte limit/)
  // A chunked body with no length is cut once it passes the limit.
  const chunk = Buffer.alloc(16 * 1024, 1)
  const cut = await new Promise<number | string>((resolve) => {
    const req = request({ host: '127.0.0.1', port: s.port, path: '/api/sync/runs/alpha/r1/scalars', method: 'POST', headers: auth, agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', (e) => resolve(e.message))
    let sent = 0
    const pump = () => {
      while (sent < 40 && req.write(chunk)) sent++
      if (sent < 40) req.once('drain', pump)
      else req.end()
    }
    pump()
  })
  t.true(cut === 413 || typeof cut === 'string', `got ${cut}`)
  t.is((await send(s.port, '/api/sync/whoami', { headers: auth })).status, 200)
  t.is((await send(s.port, '/api/runs', { headers: auth })).status, 200)
})

test('a large metric read without maxPoints is capped at 10,000 points (spike kept); since reads page by 10,000', async (t) => {
  const big = temp('harden-big')
  const board = new Board({ baseDir: big, project: 'p', runId: 'big', captureOutput: false, systemMetrics: false })
  for (let i = 0; i < 30_000; i++) {
    board.log({ m: i === 12_345 ? 1e6 : Math.sin(i / 100) })
    board.step()
  }
  await board.finish()
  const v = await viewer(big)
  const all = JSON.parse((await send(v.port, '/api/runs/p/big/scalars?name=m')).body) as { step: number[]; value: number[] }
  t.true(all.value.length <= 10_000, `${all.value.length} points`)
  t.true(all.value.includes(1e6), 'the spike survives the default downsample')
  t.is((await send(v.port, '/api/runs/p/big/scalars?name=m&maxPoints=100001')).status, 400)
  const page = JSON.parse((await send(v.port, '/api/runs/p/big/scalars?name=m&since=-1')).body) as { step: number[] }
  t.is(page.step.length, 10_000)
  t.is(page.step[0], 0)
  const next = JSON.parse((await send(v.port, `/api/runs/p/big/scalars?name=m&since=${page.step[9_999]}`)).body) as { step: number[] }
  t.is(next.step[0], 10_000)
})

// ---------------------------------------------------------------- 4. One bad run

test('a run with a corrupt metadata.json or data file fails only its own requests; errors show no paths', async (t) => {
  const root = temp('harden-bad')
  const good = await logRun(root, { name: 'good', project: 'proj', steps: 10 })
  const other = await logRun(root, { name: 'secret-other', project: 'other', steps: 10 })
  const badMeta = await logRun(root, { name: 'badmeta', project: 'proj', steps: 10 })
  const badData = await logRun(root, { name: 'baddata', project: 'proj', steps: 10 })
  writeFileSync(join(badMeta.runDir, 'metadata.json'), '{"name": "badmeta", garbage')
  garble(join(badData.runDir, 'data'))
  const v = await viewer(root)
  const s = await teamServer({ dataDir: root })
  const { token } = await s.tokens.create({ projects: ['proj'] })
  const auth = { authorization: `Bearer ${token}` }
  for (const [who, port, headers] of [['viewer', v.port, {}], ['team server', s.port, auth]] as const) {
    const runs = JSON.parse((await send(port, '/api/runs', { headers })).body) as Array<{ key: string }>
    t.true(runs.some((r) => r.key === good.key), `${who}: the good run is listed`)
    const last = await send(port, '/api/last?metric=train%2Floss', { headers })
    t.is(last.status, 200, `${who}: /api/last answers`)
    const values = JSON.parse(last.body) as Record<string, number | null>
    t.is(values[good.key], good.loss[good.loss.length - 1])
    t.is(values[badData.key], null)
    const scoped = await send(port, '/api/last?metric=train%2Floss&project=proj', { headers })
    t.is(scoped.status, 200)
    for (const path of [`/api/runs/${badMeta.key}`, `/api/runs/${badData.key}/scalars?name=train%2Floss`, `/api/runs/${badMeta.key}/scalars?name=train%2Floss`]) {
      const r = await send(port, path, { headers })
      t.true(r.status >= 400, `${who} ${path}: ${r.status}`)
      t.false(r.body.includes(root), `${who} ${path}: no base dir in ${r.body}`)
      t.notRegex(r.body, /\/tmp\/|[A-Za-z]:\\\\/, `${who} ${path}: no absolute path in ${r.body}`)
      t.false(r.body.includes('secret-other') || r.body.includes(other.key.split('/')[1]), `${who} ${path}: no other run's name`)
    }
    t.is((await send(port, `/api/runs/${good.key}/scalars?name=train%2Floss`, { headers })).status, 200, `${who}: the good run still reads`)
  }
})

// ---------------------------------------------------------------- 5. Cookies, CSRF, headers

async function loggedIn(t: ExecutionContext): Promise<{ s: TeamServer; token: string; id: string; cookie: string }> {
  const s = await teamServer()
  const { token, record } = await s.tokens.create({ projects: ['team'] })
  const r = await send(s.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: `http://127.0.0.1:${s.port}` }, body: `token=${encodeURIComponent(token)}` })
  t.is(r.status, 303)
  t.is(r.headers.location, '/')
  const set = String(r.headers['set-cookie'])
  t.regex(set, /HttpOnly/)
  t.regex(set, /SameSite=Strict/)
  t.notRegex(set, /Secure/, 'plain http: no Secure flag')
  return { s, token, id: record.id, cookie: set.split(';')[0] }
}

test('/login takes the token by form POST only, never from the query string', async (t) => {
  const { s, token } = await loggedIn(t)
  const viaQuery = await send(s.port, `/login?token=${encodeURIComponent(token)}`)
  t.is(viaQuery.status, 400)
  t.is(viaQuery.headers['set-cookie'], undefined)
  const form = await send(s.port, '/login')
  t.is(form.status, 200)
  t.regex(form.body, /<form[^>]*method="post"[^>]*action="\/login"/)
  t.regex(String(form.headers['content-security-policy']), /frame-ancestors 'none'/)
  const form2 = (body: string, headers: Record<string, string> = {}) => send(s.port, '/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
  const bad = await form2('token=amb_nope')
  t.is(bad.status, 401)
  t.is(bad.headers['set-cookie'], undefined)
  t.is((await form2(`token=${encodeURIComponent(token)}`, { origin: 'http://evil.example' })).status, 403, 'login CSRF refused')
  t.is((await send(s.port, '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) })).status, 415)
  t.is((await send(s.port, `/login?token=${encodeURIComponent(token)}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })).status, 400)
})

test('the login cookie reads but never uploads; cookie writes need this Origin and JSON', async (t) => {
  const { s, token, cookie } = await loggedIn(t)
  const origin = `http://127.0.0.1:${s.port}`
  t.is((await send(s.port, '/api/runs', { headers: { cookie } })).status, 200)
  const put = (headers: Record<string, string>) => send(s.port, '/api/sync/runs/team/r1', { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ metadata: { runId: 'r1' } }) })
  const withCookie = await put({ cookie, origin })
  t.is(withCookie.status, 401)
  t.regex(withCookie.body, /Bearer/)
  t.is((await send(s.port, '/api/sync/whoami', { headers: { cookie } })).status, 401)
  t.is(listRuns(s.dataDir!).length, 0, 'nothing stored with the cookie')
  t.is((await put({ authorization: `Bearer ${token}` })).status, 200, 'the bearer token uploads')
  const post = (headers: Record<string, string>) => send(s.port, '/api/runs', { method: 'POST', headers: { cookie, ...headers }, body: '{}' })
  t.is((await post({ origin: 'http://evil.example', 'content-type': 'application/json' })).status, 403, 'cross-origin')
  t.is((await post({ 'content-type': 'application/json' })).status, 403, 'no Origin')
  t.is((await post({ origin, 'content-type': 'text/plain' })).status, 403, 'a form-like type')
  t.is((await post({ origin, 'content-type': 'application/json' })).status, 405, 'same origin and JSON pass the check (and the read route refuses POST)')
})

test('pages are not frameable and carry a CSP; JSON and media keep nosniff', async (t) => {
  const v = await viewer(base)
  const s = await teamServer()
  for (const port of [v.port, s.port]) {
    for (const path of ['/', '/main.js']) {
      const r = await send(port, path)
      t.is(r.status, 200, path)
      t.is(r.headers['x-frame-options'], 'DENY')
      const csp = String(r.headers['content-security-policy'])
      for (const d of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"]) t.true(csp.includes(d), `${path}: ${d}`)
      t.is(r.headers['x-content-type-options'], 'nosniff')
    }
  }
})

test('revoking a token ends the live streams opened with it', async (t) => {
  const { s, token, id, cookie } = await loggedIn(t)
  const run = new Board({ baseDir: temp('harden-live'), project: 'team', runId: 'r', captureOutput: false, systemMetrics: false })
  run.log({ x: 1 })
  await run.finish()
  const { syncRun } = await import('../src/index')
  await syncRun(run.runDir, { url: s.url, token })
  // Each stream: `opened` once the server answered 200, `ended` with the ms from revocation on.
  let revokedAt = 0
  const stream = (headers: Record<string, string>) => {
    let opened!: () => void
    const open = new Promise<void>((r) => (opened = r))
    const ended = new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: s.port, path: '/api/runs/team/r/live?metric=x&since=-1', headers, agent: false }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`live: ${res.statusCode}`))
        opened()
        res.resume()
        res.on('end', () => resolve(Date.now() - revokedAt))
        res.on('close', () => resolve(Date.now() - revokedAt))
      })
      req.setTimeout(15_000, () => req.destroy(new Error('the stream did not end')))
      req.on('error', reject)
      req.end()
    })
    return { open, ended }
  }
  const b = stream({ authorization: `Bearer ${token}` })
  const c = stream({ cookie })
  // Revoke only once both streams are open (a loaded machine may take a while to connect).
  await Promise.race([Promise.all([b.open, c.open]), Promise.all([b.ended, c.ended])])
  revokedAt = Date.now()
  await s.tokens.revoke(id)
  const [bearer, viaCookie] = [b.ended, c.ended]
  const [x, y] = await Promise.all([bearer, viaCookie])
  t.true(x < 5000 && y < 5000, `ended ${x} / ${y} ms after the revocation`)
  t.is((await send(s.port, '/api/runs', { headers: { cookie } })).status, 401)
})

test('run metadata is type-checked on upload, and amber runs lists a run whose name is not a string', async (t) => {
  const s = await teamServer()
  const { token } = await s.tokens.create({ projects: ['team'] })
  const put = (metadata: unknown) => send(s.port, '/api/sync/runs/team/r1', { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ metadata }) })
  for (const [field, value] of [['name', { evil: 1 }], ['name', 42], ['config', [1, 2]], ['argv', 'node x'], ['pid', 1.5], ['createdAt', {}]] as const) {
    const r = await put({ [field]: value })
    t.is(r.status, 400, `${field}: ${JSON.stringify(value)}`)
    t.regex(r.body, new RegExp(`metadata\\.${field}`))
  }
  t.is(listRuns(s.dataDir!).length, 0, 'nothing created by refused uploads')
  t.is((await put({ name: 'fine', config: { lr: 1 }, pid: 7, argv: ['node'], annotation: null })).status, 200)
  // A run written by something else with an object for a name: `amber runs` still prints its table.
  const odd = temp('harden-odd')
  const r = await logRun(odd, { name: 'odd', steps: 3 })
  const file = join(r.runDir, 'metadata.json')
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), name: { evil: 1 }, runId: 7 }))
  const out = await amber(['runs', odd])
  t.is(out.code, 0, out.stderr)
  t.regex(out.stdout, /\{"evil":1\}/)
  const v = await viewer(odd)
  t.is((await send(v.port, '/api/runs')).status, 200)
})
