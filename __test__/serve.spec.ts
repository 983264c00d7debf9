/**
 * `amber serve` on 127.0.0.1 in a child process: tokens (hashed at rest, project scopes,
 * read-only, revocation at once), requests without or with a wrong token, malformed and
 * oversized bodies; after each bad request the server still works and stored nothing.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { Board, listRuns, openRun, syncRun } from '../src/index'
import { encodeBatch } from '../src/sync/protocol'
import { amber, createToken, freePort, startServerProcess, temp } from './sync-helpers'
import type { ServerProc } from './sync-helpers'

interface Ctx {
  data: string
  s: ServerProc
  write: string
  readOnly: string
  other: string
  runDir: string
}

const ctxs: ServerProc[] = []
test.after.always(async () => {
  for (const s of ctxs) await s.kill()
})

async function setup(extra: string[] = []): Promise<Ctx> {
  const data = temp('serve-data')
  const base = temp('serve-local')
  const write = createToken(data, 'alpha', ['--name', 'ci'])
  const readOnly = createToken(data, 'alpha', ['--read-only'])
  const other = createToken(data, 'beta')
  const s = await startServerProcess(data, await freePort(), extra)
  ctxs.push(s)
  const b = new Board({ baseDir: base, project: 'alpha', runId: 'r1', captureOutput: false })
  for (let i = 0; i < 300; i++) b.log({ 'train/loss': 1 / (i + 1) })
  await b.finish()
  await syncRun(b.runDir, { url: s.url, token: write })
  return { data, s, write, readOnly, other, runDir: b.runDir }
}

const get = (c: Ctx, path: string, token?: string) => fetch(`${c.s.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} })

function points(c: Ctx): number {
  return openRun(join(c.data, 'alpha', 'r1')).scalars('train/loss').value.length
}

test('no token, a wrong token or a revoked token: 401 on every API route; the front end itself is public', async (t) => {
  const c = await setup()
  for (const p of ['/api/runs', '/api/projects', '/api/runs/alpha/r1', '/api/runs/alpha/r1/scalars?name=train/loss', '/api/sync/whoami']) {
    const r = await get(c, p)
    t.is(r.status, 401, p)
    t.is(r.headers.get('www-authenticate'), 'Bearer')
    t.is((await get(c, p, 'amb_not-a-token')).status, 401, `${p} with a wrong token`)
  }
  const put = await fetch(`${c.s.url}/api/sync/runs/alpha/r2`, { method: 'PUT', body: JSON.stringify({ metadata: {} }) })
  t.is(put.status, 401)
  t.is((await get(c, '/')).status, 200)
  // Revocation applies to the running server at once.
  const id = amber(['token', 'list', '--data-dir', c.data]).stdout.split('\n').find((l) => l.includes(' beta '))?.trim().split(/\s+/)[0]
  t.truthy(id)
  t.is((await get(c, '/api/runs', c.other)).status, 200)
  t.is(amber(['token', 'revoke', id!, '--data-dir', c.data]).code, 0)
  t.is((await get(c, '/api/runs', c.other)).status, 401)
  t.is(amber(['token', 'revoke', 'nope', '--data-dir', c.data]).code, 3)
})

test('tokens are stored hashed, never in clear', async (t) => {
  const c = await setup()
  const file = readFileSync(join(c.data, '.amber', 'tokens.json'), 'utf8')
  for (const tok of [c.write, c.readOnly, c.other]) {
    t.regex(tok, /^amb_[A-Za-z0-9_-]{40,}$/)
    t.false(file.includes(tok))
  }
  t.is(JSON.parse(file).length, 3)
})

test('project scopes and read-only tokens: read what the token may see, upload only with write access', async (t) => {
  const c = await setup()
  const runs = (await (await get(c, '/api/runs', c.readOnly)).json()) as Array<{ key: string }>
  t.deepEqual(runs.map((r) => r.key), ['alpha/r1'])
  const sc = (await (await get(c, '/api/runs/alpha/r1/scalars?name=train/loss', c.readOnly)).json()) as { value: number[] }
  t.is(sc.value.length, 300)
  // beta's token sees no alpha run, and cannot read it by name.
  t.deepEqual(await (await get(c, '/api/runs', c.other)).json(), [])
  t.deepEqual(await (await get(c, '/api/projects', c.other)).json(), [])
  t.is((await get(c, '/api/runs/alpha/r1', c.other)).status, 403)
  t.is((await get(c, '/api/runs?project=alpha', c.other)).status, 403)
  // The live stream is behind the same door.
  const ctl = new AbortController()
  const liveOk = await fetch(`${c.s.url}/api/runs/alpha/r1/live?metric=train/loss&since=-1`, { headers: { authorization: `Bearer ${c.readOnly}` }, signal: ctl.signal })
  t.is(liveOk.status, 200)
  t.regex(liveOk.headers.get('content-type') ?? '', /text\/event-stream/)
  ctl.abort()
  t.is((await get(c, '/api/runs/alpha/r1/live?metric=train/loss&since=-1', c.other)).status, 403)
  t.is((await get(c, '/api/runs/alpha/r1/live?metric=train/loss&since=-1')).status, 401)
  // Uploads: read-only refused, other project refused, nothing stored.
  const e1 = await t.throwsAsync(syncRun(c.runDir, { url: c.s.url, token: c.readOnly, retryForMs: 0 }))
  t.regex(e1!.message, /403.*read-only/)
  const e2 = await t.throwsAsync(syncRun(c.runDir, { url: c.s.url, token: c.other, project: 'alpha', retryForMs: 0 }))
  t.regex(e2!.message, /403.*no access to project alpha/)
  t.is((e2 as { code?: string }).code, 'INVALID_ARGUMENT')
  t.is(listRuns(c.data).length, 1)
  t.is(points(c), 300)
  // The read routes only read.
  t.is((await fetch(`${c.s.url}/api/runs`, { method: 'DELETE', headers: { authorization: `Bearer ${c.write}` } })).status, 405)
  // The browser logs in once (a form POST); the cookie then carries the token.
  const login = await fetch(`${c.s.url}/login`, { method: 'POST', body: new URLSearchParams({ token: c.readOnly }), redirect: 'manual' })
  t.is(login.status, 303)
  const cookie = login.headers.get('set-cookie')!.split(';')[0]
  t.regex(login.headers.get('set-cookie')!, /HttpOnly/)
  t.is((await fetch(`${c.s.url}/api/runs`, { headers: { cookie } })).status, 200)
})

test('malformed batches get 400, name the problem, store nothing, and the server goes on', async (t) => {
  const c = await setup()
  const route = `${c.s.url}/api/sync/runs/alpha/r1`
  const auth = { authorization: `Bearer ${c.write}` }
  await fetch(route, { method: 'PUT', headers: auth, body: JSON.stringify({ metadata: { runId: 'r1' } }) })
  const good = encodeBatch([{ name: 'train/loss', from: 300, step: [300], globalStep: [0], timestamp: [1], value: [0.5] }])
  const headerLen = good.readUInt32LE(4)
  const badHeader = Buffer.from(good)
  badHeader.write('x', 8)
  const cases: Array<[string, Buffer | string, RegExp]> = [
    ['empty', Buffer.alloc(0), /magic/],
    ['wrong magic', Buffer.from('GET / HTTP/1.1 nonsense'), /magic/],
    ['truncated', good.subarray(0, good.length - 8), /header announces/],
    ['trailing bytes', Buffer.concat([good, Buffer.alloc(8)]), /header announces/],
    ['header not JSON', badHeader, /not JSON/],
    ['header length past the end', (() => { const b = Buffer.from(good); b.writeUInt32LE(1 << 30, 4); return b })(), /longer than the body/],
    ['name with a control character', encodeBatch([{ name: 'a\x07b', from: 300, step: [1], globalStep: [0], timestamp: [1], value: [1] }]), /metric name "a\\u0007b" has a control character/],
    ['name with a lone surrogate', encodeBatch([{ name: 'x\ud800', from: 300, step: [1], globalStep: [0], timestamp: [1], value: [1] }]), /lone surrogate/],
    ['empty name', encodeBatch([{ name: '', from: 300, step: [1], globalStep: [0], timestamp: [1], value: [1] }]), /metric name "" is empty/],
    ['name over 4096 bytes', encodeBatch([{ name: 'é'.repeat(2049), from: 300, step: [1], globalStep: [0], timestamp: [1], value: [1] }]), /4098 UTF-8 bytes/],
    ['fractional step', encodeBatch([{ name: 'train/loss', from: 300, step: [1.5], globalStep: [0], timestamp: [1], value: [1] }]), /not an integer/],
    ['negative from', encodeBatch([{ name: 'train/loss', from: -1, step: [1], globalStep: [0], timestamp: [1], value: [1] }]), /not an index/],
  ]
  t.true(headerLen > 0)
  for (const [what, body, why] of cases) {
    const r = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: typeof body === 'string' ? body : new Uint8Array(body) })
    t.is(r.status, 400, what)
    t.regex(String(((await r.json()) as { error: string }).error), why, what)
  }
  const badJson = await fetch(route, { method: 'PUT', headers: auth, body: '{"metadata": ' })
  t.is(badJson.status, 400)
  t.is((await fetch(`${route}/finish`, { method: 'POST', headers: auth, body: JSON.stringify({ status: 'exploded' }) })).status, 400)
  t.is((await fetch(`${c.s.url}/api/sync/runs/al%2Fpha/r1`, { method: 'PUT', headers: auth, body: '{}' })).status, 400)
  // fetch would normalise `..` away; send the raw path.
  for (const raw of ['/api/sync/runs/../r1', '/api/sync/runs/%2e%2e/r1', '/api/sync/runs/alpha/..']) {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: c.s.port, path: raw, method: 'PUT', headers: auth }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      req.end('{"metadata":{}}')
    })
    t.is(status, 400, raw)
  }
  t.is(points(c), 300, 'nothing stored by the bad requests')
  // The same connection pool and server still take a good batch.
  const ok = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: new Uint8Array(good) })
  t.deepEqual(await ok.json(), { stored: 1, counts: { 'train/loss': 301 } })
})

test('the ingest takes every name Board.log() takes (dots, backslashes, __proto__, ...) and answers counts per name', async (t) => {
  const c = await setup()
  const route = `${c.s.url}/api/sync/runs/alpha/names`
  const auth = { authorization: `Bearer ${c.write}` }
  const names = ['.', '..', 'a/./b', 'a/../b', 'a\\b', '/lead', 'trail/', 'CON', ':*?"<>|%', ' sp ace ', '__proto__', 'constructor', 'hasOwnProperty', 'ü 日本 🚀']
  const put = () => fetch(route, { method: 'PUT', headers: auth, body: JSON.stringify({ metadata: { runId: 'names' } }) })
  t.is((await put()).status, 200)
  const batch = new Uint8Array(encodeBatch(names.map((name) => ({ name, from: 0, step: [0, 1, 2], globalStep: [0, 0, 0], timestamp: [1, 2, 3], value: [1, 2, 3] }))))
  const r = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: batch })
  const out = (await r.json()) as { stored: number; counts: Record<string, number>; error?: string }
  t.is(r.status, 200, out.error)
  t.is(out.stored, names.length * 3)
  const own = (o: Record<string, number>, k: string) => (Object.hasOwn(o, k) ? o[k] : undefined)
  for (const n of names) t.is(own(out.counts, n), 3, `batch reply count of ${n}`)
  // The PUT reply, where a client resumes from, has each name as a key of its own.
  const state = (await (await put()).json()) as { metrics: Record<string, number> }
  for (const n of names) t.is(own(state.metrics, n), 3, `PUT reply count of ${n}`)
  // Sent again: nothing stored twice.
  const re = (await (await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: batch })).json()) as { stored: number }
  t.is(re.stored, 0)
  const copy = openRun(join(c.data, 'alpha', 'names'))
  for (const n of names) t.deepEqual([...copy.scalars(n).value], [1, 2, 3], n)
  copy.close()
})

test('oversized requests get 413 without being stored, and the server keeps serving', async (t) => {
  const c = await setup(['--max-body-mb', '1'])
  const route = `${c.s.url}/api/sync/runs/alpha/r1`
  const auth = { authorization: `Bearer ${c.write}` }
  await fetch(route, { method: 'PUT', headers: auth, body: JSON.stringify({ metadata: { runId: 'r1' } }) })
  const n = 40_000 // 1.28 MB of points
  const a = Float64Array.from({ length: n }, (_, i) => 300 + i)
  const big = encodeBatch([{ name: 'train/loss', from: 300, step: a, globalStep: a, timestamp: a, value: a }])
  const r = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: new Uint8Array(big) })
  t.is(r.status, 413)
  t.regex(String(((await r.json()) as { error: string }).error), /over the 1048576 byte limit/)
  // A streamed body without content-length is cut off the same way.
  const stream = new ReadableStream({
    start(ctl) {
      ctl.enqueue(new Uint8Array(big.subarray(0, 700_000)))
      ctl.enqueue(new Uint8Array(big.subarray(700_000)))
      ctl.close()
    },
  })
  const r2 = await fetch(`${route}/scalars`, { method: 'POST', headers: auth, body: stream, duplex: 'half' } as RequestInit).catch((e: Error) => e)
  t.true(r2 instanceof Error || r2.status === 413)
  t.is(points(c), 300)
  // The client splits into batches under the limit, so a real sync still goes through.
  const sr = await syncRun(c.runDir, { url: c.s.url, token: c.write, batchPoints: 10_000 })
  t.is(sr.sentPoints, 0)
  // Batches stay under batchPoints (30,000 points = 960 KB, under the 1 MiB limit) however the
  // metrics group.
  const b = new Board({ baseDir: temp('serve-big'), project: 'alpha', runId: 'big', captureOutput: false })
  for (let i = 0; i < 40_000; i++) b.log({ a: i, b: -i, c: i / 2 })
  for (let i = 0; i < 5_000; i++) b.log({ a: i })
  await b.finish()
  const bigSync = await syncRun(b.runDir, { url: c.s.url, token: c.write, batchPoints: 30_000, retryForMs: 0 })
  t.is(bigSync.sentPoints, 125_000)
  t.is((await get(c, '/api/runs', c.write)).status, 200)
})

test('the data dir is a base dir: listRuns / openRun read what the server stored', async (t) => {
  const c = await setup()
  const runs = listRuns(c.data)
  t.is(runs.length, 1)
  t.is(runs[0].project, 'alpha')
  t.is(runs[0].metadata.runId, 'r1')
  const local = openRun(c.runDir).scalars('train/loss')
  t.deepEqual(Array.from(openRun(runs[0].runDir).scalars('train/loss').value), Array.from(local.value))
  const who = (await (await get(c, '/api/sync/whoami', c.write)).json()) as { projects: string[]; readOnly: boolean; name: string }
  t.like(who, { name: 'ci', projects: ['alpha'], readOnly: false })
})

test('amber token and serve: usage errors have exit code 2', (t) => {
  const data = temp('serve-cli')
  t.is(amber(['token', 'create', '--data-dir', data]).code, 2)
  t.is(amber(['token', 'create', '--data-dir', data, '--project', '../x']).code, 2)
  t.is(amber(['serve']).code, 2)
  t.is(amber(['sync', data, '--remote', 'http://127.0.0.1:1']).code, 2, 'no token')
})

test('media batches: a file whose bytes do not match its hash is refused, an unknown file is asked for', async (t) => {
  const c = await setup()
  const { encodeMediaBatch } = await import('../src/sync/protocol')
  const { createHash } = await import('node:crypto')
  const route = `${c.s.url}/api/sync/runs/alpha/r1`
  const auth = { authorization: `Bearer ${c.write}` }
  await fetch(route, { method: 'PUT', headers: auth, body: JSON.stringify({ metadata: { runId: 'r1' } }) })
  const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415408d763f8cfc000000301010018dd8db40000000049454e44ae426082', 'hex')
  const key = `${createHash('sha256').update(png).digest('hex')}.png`
  const item = { step: 0, globalStep: 0, timestamp: 1, key, type: 'image', caption: null }
  const post = (b: Buffer) => fetch(`${route}/media`, { method: 'POST', headers: auth, body: new Uint8Array(b) })
  const forged = await post(encodeMediaBatch({ media: [{ name: 'img', from: 0, items: [item] }], blobs: new Map([[key, Buffer.from('not the png')]]) }))
  t.is(forged.status, 400)
  t.regex(String(((await forged.json()) as { error: string }).error), /does not match its hash/)
  const missing = await post(encodeMediaBatch({ media: [{ name: 'img', from: 0, items: [item] }], blobs: new Map() }))
  t.is(missing.status, 409)
  t.deepEqual(((await missing.json()) as { missing: string[] }).missing, [key])
  const garbage = await post(Buffer.from('AMM1garbage'))
  t.is(garbage.status, 400)
  const ok = await post(encodeMediaBatch({ media: [{ name: 'img', from: 0, items: [item, { ...item, step: 1 }] }], blobs: new Map([[key, png]]) }))
  t.deepEqual(await ok.json(), { stored: 2, media: { img: 2 } })
  // Later occurrences of a file the server holds need no bytes.
  const reuse = await post(encodeMediaBatch({ media: [{ name: 'img', from: 2, items: [{ ...item, step: 2 }] }], blobs: new Map() }))
  t.deepEqual(await reuse.json(), { stored: 1, media: { img: 3 } })
  const got = await get(c, `/api/runs/alpha/r1/media?name=img`, c.readOnly)
  t.is(((await got.json()) as unknown[]).length, 3)
})
