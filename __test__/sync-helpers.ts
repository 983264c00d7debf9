/**
 * Helpers for the sync and serve specs: a real `amber serve` in a child process on 127.0.0.1
 * (so it can be killed with SIGKILL and restarted on the same port), tokens made with the real
 * CLI, a TCP proxy that cuts connections, and a point-for-point comparison of two runs.
 */
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import * as net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { openRun } from '../src/index'

export const AMBER = join(__dirname, '..', 'src', 'cli', 'amber.ts')

export function temp(tag: string): string {
  return mkdtempSync(join(tmpdir(), `amber-${tag}-`))
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
 * A TCP proxy to `target` that, for the first `cuts` connections, either destroys the connection
 * after `cutAfterBytes` bytes went up (side 'request': requests die mid-body, nothing stored), or
 * drops the server's reply to a scalar batch (side 'reply': stored, but the client never hears).
 */
export function cuttingProxy(targetPort: number, cutAfterBytes: number, cuts: number, side: 'request' | 'reply' = 'request'): Promise<{ port: number; cut: () => number; close: () => Promise<void> }> {
  let done = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    let sent = 0
    let batch = false
    const cutThis = done < cuts
    client.on('data', (d) => {
      sent += d.length
      if (d.includes('/scalars ')) batch = true
      if (side === 'request' && cutThis && sent > cutAfterBytes) {
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
