/**
 * Every HTTP route of the viewer against real runs logged with Board: listing, search, run
 * detail, lazy namespaces, scalars (exact, downsampled with the spike kept, incremental `since`),
 * histograms, media bytes, tables, output, the live stream, and the security rules: traversal
 * answered with a 4xx and never a file outside the base dir, read-only methods, 127.0.0.1.
 */
import test from 'ava'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import { startViewer } from '../src/viewer/server'
import type { Viewer } from '../src/viewer/server'
import { logRun, startLiveChild, tempBase } from './viewer-fixtures'
import type { LoggedRun } from './viewer-fixtures'

let viewer: Viewer
let root: string
let base: string
let a: LoggedRun
let b: LoggedRun
const SECRET = 'TOP-SECRET-OUTSIDE-BASE'

test.before(async () => {
  root = tempBase('viewer-http')
  base = join(root, 'base')
  mkdirSync(base)
  writeFileSync(join(root, 'secret.txt'), SECRET)
  writeFileSync(join(base, 'secret.txt'), SECRET) // inside the base dir but not a run: still never served
  a = await logRun(base, { name: 'alpha', steps: 60, lr: 0.1, spikeAt: 17 })
  b = await logRun(base, { name: 'beta', project: 'other', steps: 20, lr: 0.001 })
  viewer = await startViewer({ baseDir: base, liveIntervalMs: 100 })
})
test.after.always(async () => {
  await viewer?.close()
  if (root) rmSync(root, { recursive: true, force: true })
})

/** A raw GET that keeps the path exactly as written (fetch would normalise `..`). */
function raw(path: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: viewer.port, path, method }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function json<T = any>(path: string): Promise<T> {
  const r = await raw(path)
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body}`)
  return JSON.parse(r.body) as T
}

const runPath = (r: LoggedRun) => `/api/runs/${r.key.split('/').map(encodeURIComponent).join('/')}`

test('binds 127.0.0.1 by default and serves the front end', async (t) => {
  t.is(viewer.host, '127.0.0.1')
  t.is((await json('/api/health')).ok, true)
  const page = await raw('/')
  t.is(page.status, 200)
  t.regex(page.type, /text\/html/)
  t.regex(page.body, /main\.js/)
  t.is((await raw('/main.js')).status, 200)
})

test('GET /api/runs lists every run with project, status and config; project and search filters work', async (t) => {
  const rows = await json('/api/runs')
  t.is(rows.length, 2)
  const alpha = rows.find((r: any) => r.name === 'alpha')
  t.is(alpha.key, a.key)
  t.is(alpha.project, 'proj')
  t.is(alpha.status, 'finished')
  t.is(alpha.config.lr, 0.1)
  t.deepEqual((await json('/api/runs?project=other')).map((r: any) => r.name), ['beta'])
  t.deepEqual((await json('/api/runs?q=alp')).map((r: any) => r.name), ['alpha'])
  t.deepEqual(await json('/api/projects'), [
    { name: 'other', runs: 1 },
    { name: 'proj', runs: 1 },
  ])
})

test('GET /api/runs/:project/:run gives metadata, namespaces with counts and log names', async (t) => {
  const d = await json(runPath(a))
  t.is(d.metadata.name, 'alpha')
  t.deepEqual(d.namespaces, [
    { name: '', count: 1 },
    { name: 'train', count: 2 },
    { name: 'val', count: 1 },
  ])
  t.deepEqual(d.logs, { histograms: ['params/w'], media: ['samples'], tables: ['preds'] })
  t.deepEqual(await json(`${runPath(a)}/metrics?namespace=train`), ['train/loss', 'train/nan'])
})

test('scalars come back exactly, NaN as a string', async (t) => {
  const s = await json(`${runPath(a)}/scalars?name=train%2Floss`)
  t.deepEqual(s.value, a.loss)
  t.deepEqual(s.step, a.loss.map((_, i) => i))
  t.deepEqual(s.globalStep, a.loss.map((_, i) => i))
  t.true(s.timestamp.every((x: number, i: number) => i === 0 || x >= s.timestamp[i - 1]))
  const n = await json(`${runPath(a)}/scalars?name=train%2Fnan`)
  t.deepEqual(n.value, ['NaN'])
})

test('maxPoints downsamples on the server and never loses the one-point spike', async (t) => {
  const s = await json(`${runPath(a)}/scalars?name=train%2Floss&maxPoints=10`)
  t.true(s.value.length <= 20, `got ${s.value.length}`)
  t.true(s.value.length < a.loss.length)
  t.is(Math.max(...s.value), 1000)
  t.is(s.step[s.value.indexOf(1000)], 17)
})

test('since returns only the points after a step (what a live chart appends)', async (t) => {
  const s = await json(`${runPath(a)}/scalars?name=train%2Floss&since=55`)
  t.deepEqual(s.step, [56, 57, 58, 59])
  t.deepEqual(s.value, a.loss.slice(56))
})

test('histograms, media (bytes with the right type) and tables', async (t) => {
  const h = await json(`${runPath(a)}/histograms?name=params%2Fw`)
  t.is(h.length, 1)
  t.is(h[0].edges.length, h[0].counts.length + 1)
  t.is(h[0].counts.reduce((x: number, y: number) => x + y, 0), 500)
  const m = await json(`${runPath(a)}/media?name=samples`)
  t.is(m.length, 1)
  t.is(m[0].caption, 'checker')
  t.is(m[0].mime, 'image/png')
  const blob = await fetch(`${viewer.url}${runPath(a).slice(1)}/media/${m[0].id}`)
  t.is(blob.status, 200)
  t.is(blob.headers.get('content-type'), 'image/png')
  t.deepEqual([...new Uint8Array(await blob.arrayBuffer()).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47])
  const tab = await json(`${runPath(a)}/tables?name=preds`)
  t.is(tab.length, 1)
  t.deepEqual(tab[0].columns, ['id', 'label', 'score'])
  t.deepEqual(tab[0].rows, [
    [1, 'cat', 0.9],
    [2, 'dog', 0.4],
  ])
})

test('last values of one metric for every run (the run list sorts by them)', async (t) => {
  const last = await json('/api/last?metric=train%2Floss')
  t.is(last[a.key], a.loss[a.loss.length - 1])
  t.is(last[b.key], b.loss[b.loss.length - 1])
})

test('missing things are 404, bad parameters 400', async (t) => {
  t.is((await raw('/api/runs/proj/nope')).status, 404)
  t.is((await raw(`${runPath(a)}/scalars?name=no%2Fsuch`)).status, 404)
  t.is((await raw(`${runPath(a)}/scalars`)).status, 400)
  t.is((await raw(`${runPath(a)}/scalars?name=train%2Floss&maxPoints=-3`)).status, 400)
  t.is((await raw(`${runPath(a)}/scalars?name=train%2Floss&since=abc`)).status, 400)
  t.is((await raw(`${runPath(a)}/media/0123456789abcdef`)).status, 404)
  t.is((await raw('/api/nothing')).status, 404)
  t.is((await raw('/nothing.js')).status, 404)
})

test('the viewer only reads: other methods are 405', async (t) => {
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await raw('/api/runs', m)
    t.is(r.status, 405, m)
  }
})

test('path traversal anywhere is a 4xx and never serves a file outside the base dir', async (t) => {
  const attacks = [
    '/../secret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e/%2e%2e/secret.txt',
    '/..%5c..%5csecret.txt',
    '/%2e%2e%2f%2e%2e%2fpackage.json',
    '/api/runs/..%2F..%2F/x',
    '/api/runs/proj/..',
    '/api/runs/%2e%2e/%2e%2e',
    '/api/runs/proj/..%2F..%2Fsecret.txt',
    '/api/runs/proj/.%2E',
    `/api/runs/proj/${encodeURIComponent('../../')}`,
    `${runPath(a)}/media/..%2F..%2Fmetadata.json`,
    `${runPath(a)}/media/${encodeURIComponent('../../../secret.txt')}`,
    `${runPath(a)}/scalars?name=..%2F..%2Fsecret`,
    `${runPath(a)}/histograms?name=..%2F..%2Fsecret`,
    '/api/runs/proj/%00',
    '/%00',
    '/api/runs/secret.txt/x',
    `${runPath(a)}/live?metric=train%2Floss`,
    `${runPath(a)}/live?media=..%2F..%2Fsecret.txt`,
    `${runPath(a)}/live?table=-1:preds`,
    '/api/runs/..%2F..%2F/x/live?media=0:samples',
    '/api/runs/proj/%2e%2e/live?histogram=0:params%2Fw',
  ]
  for (const path of attacks) {
    const r = await raw(path)
    t.true(r.status >= 400 && r.status < 500, `${path} -> ${r.status}`)
    t.false(r.body.includes(SECRET), path)
  }
  // '../../x' is a metric name like any other (names are data, never paths, so a live stream of
  // one simply has nothing to send): no run has it.
  const last = await raw('/api/last?metric=..%2F..%2Fx')
  t.is(last.status, 200)
  t.false(last.body.includes(SECRET))
  t.true(Object.values(JSON.parse(last.body)).every((v) => v === null))
})

test('the live stream pushes only new points while a child process logs', async (t) => {
  const { key } = await startLiveChild(t, base, 'livehttp', 60, 50)
  // Wait until the run has some points, then stream from the last one we have.
  let first: any = null
  for (let i = 0; i < 100 && !(first?.step?.length >= 3); i++) {
    await new Promise((r) => setTimeout(r, 100))
    const r = await raw(`/api/runs/${key}/scalars?name=train%2Floss`)
    if (r.status === 200) first = JSON.parse(r.body)
  }
  t.true(first.step.length >= 3)
  const since = first.step[first.step.length - 1]
  const ac = new AbortController()
  const res = await fetch(`${viewer.url}api/runs/${key}/live?metric=train%2Floss&since=${since}`, { signal: ac.signal })
  t.regex(String(res.headers.get('content-type')), /text\/event-stream/)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const got: number[] = []
  let text = ''
  const deadline = Date.now() + 20000
  while (got.length < 5 && Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    text += Buffer.from(value).toString('utf8')
    let i: number
    while ((i = text.indexOf('\n\n')) >= 0) {
      const ev = text.slice(0, i)
      text = text.slice(i + 2)
      if (ev.startsWith('event: points')) got.push(...JSON.parse(ev.split('\ndata: ')[1]).step)
    }
  }
  ac.abort()
  // Captured stdout of the child is served from logs/output.log.
  let out = { text: '', size: 0 }
  for (let i = 0; i < 100 && !out.text.includes('child step 5'); i++) {
    out = await json(`/api/runs/${key}/output?tail=4096`)
    await new Promise((r) => setTimeout(r, 100))
  }
  t.regex(out.text, /child step 0\n[\s\S]*child step 5/)
  t.true(out.size >= out.text.length)
  t.is((await json(`/api/runs/${key}/output?tail=8`)).text.length <= 8, true)
  t.true(got.length >= 5, `got ${got.length} live points`)
  t.true(got.every((s) => s > since), 'nothing already sent comes again')
  t.deepEqual(got, [...got].sort((x, y) => x - y))
  t.is(new Set(got).size, got.length)
})

/** Reads SSE events from a live URL until `done(events)` or the deadline; then aborts. */
async function readEvents(path: string, done: (ev: { event: string; data: any }[]) => boolean, ms = 30000): Promise<{ event: string; data: any }[]> {
  const ac = new AbortController()
  const res = await fetch(`${viewer.url}${path.slice(1)}`, { signal: ac.signal })
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`)
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const events: { event: string; data: any }[] = []
  let text = ''
  const deadline = Date.now() + ms
  const timer = setTimeout(() => ac.abort(), ms)
  try {
    while (!done(events) && Date.now() < deadline) {
      const { value, done: end } = await reader.read()
      if (end) break
      text += Buffer.from(value).toString('utf8')
      let i: number
      while ((i = text.indexOf('\n\n')) >= 0) {
        const ev = text.slice(0, i)
        text = text.slice(i + 2)
        const m = /^event: (.*)\ndata: (.*)$/s.exec(ev)
        if (m) events.push({ event: m[1], data: JSON.parse(m[2]) })
      }
    }
  } catch (e) {
    if (!ac.signal.aborted) throw e
  } finally {
    clearTimeout(timer)
    ac.abort()
  }
  return events
}

test('the live stream pushes new histogram steps, media items, table entries and new log names, each once', async (t) => {
  const { key } = await startLiveChild(t, base, 'livelogs', 80, 60, 4)
  // Wait for the first entries of each log, then stream from what we have.
  const have: Record<string, number> = {}
  for (let i = 0; i < 200; i++) {
    const got = await Promise.all(
      [['histograms', 'weights%2Fw'], ['media', 'samples'], ['tables', 'preds']].map(async ([k, n]) => {
        const r = await raw(`/api/runs/${key}/${k}?name=${n}`)
        return r.status === 200 ? (JSON.parse(r.body) as unknown[]).length : 0
      }),
    )
    ;[have.histograms, have.media, have.tables] = got
    if (got.every((n) => n >= 1)) break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.true(have.histograms >= 1 && have.media >= 1 && have.tables >= 1)
  const path = `/api/runs/${key}/live?histogram=${have.histograms}:weights%2Fw&media=${have.media}:samples&table=${have.tables}:preds`
  const count = (evs: { event: string; data: any }[], kind: string) => evs.filter((e) => e.event === kind).reduce((n, e) => n + e.data.entries.length, 0)
  const events = await readEvents(path, (evs) => ['histograms', 'media', 'tables'].every((k) => count(evs, k) >= 2) && evs.some((e) => e.event === 'logs'))
  for (const kind of ['histograms', 'media', 'tables']) {
    const evs = events.filter((e) => e.event === kind)
    t.true(count(events, kind) >= 2, `${kind}: ${count(events, kind)} new entries`)
    // Consecutive appends: each event starts where the last one ended (nothing sent twice).
    let next = have[kind]
    for (const e of evs) {
      t.is(e.data.from, next, kind)
      next += e.data.entries.length
    }
  }
  const hist = events.filter((e) => e.event === 'histograms').flatMap((e) => e.data.entries)
  t.true(hist.every((h: any) => h.edges.length === h.counts.length + 1 && h.counts.reduce((a: number, b: number) => a + b, 0) === 200))
  const media = events.filter((e) => e.event === 'media').flatMap((e) => e.data.entries)
  t.true(media.every((m: any) => m.mime === 'image/png' && /^sample at \d+$/.test(m.caption)))
  // The newest image is served by its id.
  const blob = await raw(`/api/runs/${key}/media/${media[media.length - 1].id}`)
  t.is(blob.status, 200)
  const tables = events.filter((e) => e.event === 'tables').flatMap((e) => e.data.entries)
  t.deepEqual(tables[0].columns, ['step', 'loss'])
  t.true(tables.map((x: any) => x.step).every((s: number, i: number, all: number[]) => i === 0 || s > all[i - 1]))
  // The image logged under a new name mid-run shows up as a change of the log names.
  const logs = events.find((e) => e.event === 'logs')
  t.truthy(logs)
  t.deepEqual(logs?.data.media, ['late', 'samples'])
})

test('a live stream refuses malformed log watches with a 400', async (t) => {
  for (const q of ['media=samples', 'histogram=x:params%2Fw', 'table=-1:preds', 'media=1e3:samples', 'table=0:']) {
    const r = await raw(`${runPath(a)}/live?${q}`)
    t.is(r.status, 400, q)
  }
})
