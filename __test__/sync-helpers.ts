/**
 * Helpers for the sync and serve specs: a real `amber serve` in a child process on 127.0.0.1
 * (so it can be killed with SIGKILL and restarted on the same port), tokens made with the real
 * CLI, a TCP proxy that cuts connections, and a point-for-point comparison of two runs.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as net from 'node:net'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { listRuns, openRun } from '../src/index'
import { tempDir } from './temp-dirs'

export const AMBER = join(__dirname, '..', 'src', 'cli', 'amber.ts')

/** A temp folder `amber-<tag>-XXXXXX`, removed after the spec file's tests. */
export function temp(tag: string): string {
  return tempDir(`amber-${tag}-`)
}

export function amber(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', AMBER, ...args], { encoding: 'utf8', env: { ...process.env, ...env } })
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr }
}

export function createToken(dataDir: string, project: string, extra: string[] = []): string {
  const r = amber(['token', 'create', '--data-dir', dataDir, '--project', project, ...extra])
  if (r.code !== 0) throw new Error(`token create failed: ${r.stderr}`)
  return r.stdout.trim()
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
}

export interface ServerProc {
  url: string
  port: number
  child: ChildProcess
  kill(signal?: NodeJS.Signals): Promise<void>
}

/** `amber serve` as a child process; resolves once it listens. */
export function startServerProcess(dataDir: string, port: number, extra: string[] = []): Promise<ServerProc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', AMBER, 'serve', '--data-dir', dataDir, '--port', String(port), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr!.on('data', (d) => (err += d))
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    child.once('exit', (code) => reject(new Error(`amber serve exited (${code}): ${err}`)))
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('http://')) {
        resolve({
          url: `http://127.0.0.1:${port}`,
          port,
          child,
          kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal)
            await exited
          },
        })
      }
    })
  })
}

/**
 * A TCP proxy to `target` that, `cuts` times, either destroys a connection once `cutAfterBytes`
 * bytes went up on it (side 'request': the first `cuts` connections to get that far die
 * mid-body, nothing stored; an idle keep-alive connection reused later counts when it gets
 * there, not when it was opened), or
 * drops the server's reply to a batch whose request line contains one of `routes` (side 'reply':
 * stored, but the client never hears).
 */
export function cuttingProxy(targetPort: number, cutAfterBytes: number, cuts: number, side: 'request' | 'reply' = 'request', routes = ['/scalars ']): Promise<{ port: number; cut: () => number; close: () => Promise<void> }> {
  let done = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    let sent = 0
    let batch = false
    client.on('data', (d) => {
      sent += d.length
      if (routes.some((r) => d.includes(r))) batch = true
      if (side === 'request' && done < cuts && sent > cutAfterBytes) {
        done++
        upstream.write(d.subarray(0, d.length - (sent - cutAfterBytes)))
        client.destroy()
        upstream.destroy()
        return
      }
      upstream.write(d)
    })
    upstream.on('data', (d) => {
      if (side === 'reply' && batch && done < cuts) {
        done++
        client.destroy()
        upstream.destroy()
        return
      }
      client.write(d)
    })
    const end = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        cut: () => done,
        close: () => new Promise<void>((c) => {
          for (const s of sockets) s.destroy()
          server.close(() => c())
        }),
      })
    })
  })
}

/** Every metric of `a` equals `b` point for point (step, global step, timestamp, value; NaN = NaN). */
export function assertSameRun(t: ExecutionContext, localDir: string, remoteDir: string): number {
  const a = openRun(localDir)
  const b = openRun(remoteDir)
  try {
    t.deepEqual(b.metrics().sort(), a.metrics().sort(), 'same metric names')
    let points = 0
    for (const m of a.metrics()) {
      const x = a.scalars(m)
      const y = b.scalars(m)
      t.is(y.value.length, x.value.length, `${m}: same number of points`)
      for (const k of ['step', 'globalStep', 'timestamp', 'value'] as const) {
        t.true(Buffer.from(new Float64Array(y[k]).buffer).equals(Buffer.from(new Float64Array(x[k]).buffer)), `${m}.${k} equal bit for bit`)
      }
      points += x.value.length
    }
    return points
  } finally {
    a.close()
    b.close()
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const bytesOf = (a: ArrayLike<number>) => Buffer.from(new Float64Array(a).buffer)

/**
 * Everything but scalars of `a` equals `b`: every histogram bin and edge (bit for bit), table
 * cell, tensor and kernel density byte, media field (size included) and media file byte, and
 * the captured output byte for byte. Returns how many occurrences were compared.
 */
export function assertSameRecords(t: ExecutionContext, localDir: string, remoteDir: string): number {
  const a = openRun(localDir)
  const b = openRun(remoteDir)
  let n = 0
  try {
    t.deepEqual(b.histogramNames(), a.histogramNames(), 'same histogram names')
    for (const name of a.histogramNames()) {
      const [x, y] = [a.histograms(name), b.histograms(name)]
      t.is(y.length, x.length, `${name}: same number of histograms`)
      for (let i = 0; i < x.length; i++) {
        for (const k of ['step', 'globalStep', 'timestamp', 'nan', 'posinf', 'neginf'] as const) t.is(y[i][k], x[i][k], `${name}[${i}].${k}`)
        t.true(bytesOf(y[i].edges).equals(bytesOf(x[i].edges)), `${name}[${i}] edges bit for bit`)
        t.true(bytesOf(y[i].counts).equals(bytesOf(x[i].counts)), `${name}[${i}] counts`)
        n++
      }
    }
    t.deepEqual(b.tableNames(), a.tableNames(), 'same table names')
    for (const name of a.tableNames()) {
      const [x, y] = [a.tables(name), b.tables(name)]
      t.is(y.length, x.length, `${name}: same number of tables`)
      for (let i = 0; i < x.length; i++) {
        t.deepEqual(y[i], x[i], `${name}[${i}] every cell`)
        for (const row of x[i].rows) {
          for (const c of row) {
            const m = c as { media_hash?: string; format?: string } | null
            if (m?.media_hash) t.true(b.mediaBytes(`${m.media_hash}.${m.format}`).equals(a.mediaBytes(`${m.media_hash}.${m.format}`)), 'table media file')
          }
        }
        n++
      }
    }
    t.deepEqual(b.tensorNames(), a.tensorNames(), 'same tensor names')
    for (const name of a.tensorNames()) {
      const [x, y] = [a.tensors(name), b.tensors(name)]
      t.is(y.length, x.length, `${name}: same number of tensors`)
      for (let i = 0; i < x.length; i++) {
        for (const k of ['step', 'globalStep', 'timestamp', 'dtype'] as const) t.is(y[i][k], x[i][k], `${name}[${i}].${k}`)
        t.deepEqual(y[i].shape, x[i].shape)
        t.deepEqual(y[i].metadata, x[i].metadata)
        t.true(y[i].npy.equals(x[i].npy), `${name}[${i}] .npy bytes`)
        n++
      }
    }
    t.deepEqual(b.kernelDensityNames(), a.kernelDensityNames(), 'same kernel density names')
    for (const name of a.kernelDensityNames()) {
      const [x, y] = [a.kernelDensity(name), b.kernelDensity(name)]
      t.is(y.length, x.length, `${name}: same number of densities`)
      for (let i = 0; i < x.length; i++) {
        for (const k of ['step', 'globalStep', 'timestamp', 'points', 'bandwidth', 'count'] as const) t.is(y[i][k], x[i][k], `${name}[${i}].${k}`)
        t.true(bytesOf(y[i].grid).equals(bytesOf(x[i].grid)) && bytesOf(y[i].density).equals(bytesOf(x[i].density)), `${name}[${i}] grid and density`)
        n++
      }
    }
    t.deepEqual(b.mediaNames(), a.mediaNames(), 'same media names')
    for (const name of a.mediaNames()) {
      const [x, y] = [a.media(name), b.media(name)]
      t.is(y.length, x.length, `${name}: same number of media`)
      for (let i = 0; i < x.length; i++) {
        for (const k of ['step', 'globalStep', 'timestamp', 'key', 'type', 'caption', 'width', 'height', 'size'] as const) t.is(y[i][k], x[i][k], `${name}[${i}].${k}`)
        t.true(y[i].data.equals(x[i].data), `${name}[${i}] bytes`)
        n++
      }
    }
    const out = (d: string) => {
      try {
        return readFileSync(join(d, 'logs', 'output.log'))
      } catch {
        return Buffer.alloc(0)
      }
    }
    t.true(out(remoteDir).equals(out(localDir)), 'logs/output.log byte for byte')
    return n
  } finally {
    a.close()
    b.close()
  }
}

/** The folder of the one run a server's data dir holds. */
export function serverRunDir(dataDir: string): string {
  const runs = listRuns(dataDir)
  if (runs.length !== 1) throw new Error(`expected one run on the server, found ${runs.length}`)
  return runs[0].runDir
}
