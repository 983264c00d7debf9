/**
 * The team server under many big scalar batches at once (a real `amber serve` process on
 * 127.0.0.1): its peak RSS (VmHWM) stays under the bound docs/api.md states, every batch is
 * stored exactly once or refused (4xx, or 503 beyond the batches in flight), and it answers after.
 */
import test from 'ava'
import { readFileSync } from 'node:fs'
import * as http from 'node:http'
import { encodeBatch } from '../src/sync/protocol'
import { createToken, freePort, startServerProcess, temp } from './sync-helpers'

/** docs/api.md, "What the servers answer, and their bounds": peak RSS under 8 maximum-size batches. */
const PEAK_RSS_MB = 900
/** The default scalar batch limit (`--max-scalar-batch-mb 16`). */
const MAX_SCALAR_BODY = 16 << 20

function peakRssMb(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024
}

function request(port: number, token: string, method: string, path: string, body?: Buffer): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((done) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', ...(body ? { 'content-length': body.length } : {}) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => {
        let json: Record<string, unknown> = {}
        try {
          json = JSON.parse(text)
        } catch {}
        done({ status: res.statusCode!, json })
      })
    })
    // A refused upload may be cut before all of it went up: no reply, nothing stored.
    r.on('error', () => done({ status: -1, json: {} }))
    r.end(body)
  })
}

/** One metric's points filling a scalar batch of exactly `bytes` or just under. */
function fullBatch(bytes: number): { body: Buffer; n: number } {
  const head = (8 + JSON.stringify({ metrics: [{ name: 'loss', from: 0, n: 9_999_999 }] }).length + 7) & ~7
  const n = Math.floor((bytes - head) / 32)
  const step = Float64Array.from({ length: n }, (_, i) => i)
  const ts = Float64Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i)
  const value = Float64Array.from({ length: n }, (_, i) => Math.sin(i))
  return { body: encodeBatch([{ name: 'loss', from: 0, step, globalStep: step, timestamp: ts, value }]), n }
}

test('8 concurrent maximum-size scalar batches: bounded peak RSS, each stored once or refused, the server answers after', async (t) => {
  t.timeout(180_000)
  const data = temp('serve-memory')
  const token = createToken(data, 'p')
  const srv = await startServerProcess(data, await freePort())
  t.teardown(() => srv.kill())
  const port = srv.port
  const { body, n } = fullBatch(MAX_SCALAR_BODY)
  t.true(body.length <= MAX_SCALAR_BODY && body.length > MAX_SCALAR_BODY - 64)
  const runs = Array.from({ length: 8 }, (_, i) => `run-${i}`)
  for (const r of runs) t.is((await request(port, token, 'PUT', `/api/sync/runs/p/${r}`, Buffer.from(JSON.stringify({ metadata: { name: r } })))).status, 200)

  const replies = await Promise.all(runs.map((r) => request(port, token, 'POST', `/api/sync/runs/p/${r}/scalars`, body)))
  const peak = peakRssMb(srv.child.pid!)
  t.log(`statuses ${replies.map((x) => x.status).join(',')}; peak RSS ${peak.toFixed(0)} MB (bound ${PEAK_RSS_MB} MB)`)
  t.true(peak < PEAK_RSS_MB, `peak RSS ${peak.toFixed(0)} MB`)
  for (const x of replies) {
    if (x.status === 200) t.deepEqual(x.json, { stored: n, counts: { loss: n } })
    else t.true(x.status === 503 || x.status === -1 || (x.status >= 400 && x.status < 500), `status ${x.status}`)
  }
  t.true(replies.some((x) => x.status === 200))

  // The server answers at once, and each batch sent again is stored exactly once in all.
  t.is((await request(port, token, 'GET', '/api/health')).status, 200)
  for (const [i, r] of runs.entries()) {
    const put = await request(port, token, 'PUT', `/api/sync/runs/p/${r}`, Buffer.from(JSON.stringify({ metadata: { name: r } })))
    const have = (put.json.metrics as Record<string, number>).loss ?? 0
    t.is(have, replies[i].status === 200 ? n : 0, r)
    const again = await request(port, token, 'POST', `/api/sync/runs/p/${r}/scalars`, body)
    t.deepEqual(again.json, { stored: replies[i].status === 200 ? 0 : n, counts: { loss: n } }, r)
  }
  // A declared length one byte over the scalar limit: 413 before any of the body is sent.
  const over = await new Promise<number>((done) => {
    const r = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/api/sync/runs/p/run-0/scalars', headers: { authorization: `Bearer ${token}`, 'content-length': MAX_SCALAR_BODY + 1 } }, (res) => {
      res.resume()
      done(res.statusCode!)
      r.destroy()
    })
    r.on('error', () => done(-1))
    r.flushHeaders()
  })
  t.is(over, 413)
  t.is((await request(port, token, 'GET', '/api/health')).status, 200)
  const after = peakRssMb(srv.child.pid!)
  t.true(after < PEAK_RSS_MB, `peak RSS ${after.toFixed(0)} MB after the batches were sent again`)
})
