/**
 * What the team-server benches (bench/serve.ts, bench/serve-pg.ts) share: the logged workload
 * (scalars plus every other log type), per-request latency of uploads measured around fetch, and
 * `amber serve` child processes.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import * as net from 'node:net'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Board, Histogram, KernelDensity, Media, Table, TensorLog } from '../../src/index'

export const AMBER = join(__dirname, '..', '..', 'src', 'cli', 'amber.ts')

export const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}
export const strArg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? String(process.argv[i + 1]) : dflt
}

export const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

/**
 * Per-request latency of batch uploads, measured around fetch (headers arrive after the store):
 * scalar batches, and the other kinds' uploads (records, media, output) apart. `scalarOk` holds
 * only the 2xx answers (a 503 "busy, retry" is answered before the body is read and says nothing
 * about storing), and `otherByKind` those of the other uploads per kind; `refused` counts the
 * answers that were not 2xx.
 */
export const latency = { scalars: [] as number[], scalarOk: [] as number[], other: [] as number[], otherByKind: new Map<string, number[]>(), refused: 0 }
export function resetLatency(): void {
  latency.scalars.length = 0
  latency.scalarOk.length = 0
  latency.other.length = 0
  latency.otherByKind.clear()
  latency.refused = 0
}
let wrapped = false
export function timeUploads(): void {
  if (wrapped) return
  wrapped = true
  const origFetch = globalThis.fetch
  globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const t0 = performance.now()
    const r = await origFetch(input, init)
    const url = String(input)
    const ms = performance.now() - t0
    if (url.endsWith('/scalars')) {
      latency.scalars.push(ms)
      if (r.ok) latency.scalarOk.push(ms)
      else latency.refused++
    } else {
      const kind = /\/(records|media|output)(\?from=\d+)?$/.exec(url)?.[1]
      if (kind && (kind === 'output') === url.includes('?from=')) {
        latency.other.push(ms)
        if (!r.ok) latency.refused++
        else {
          const xs = latency.otherByKind.get(kind) ?? []
          xs.push(ms)
          latency.otherByKind.set(kind, xs)
        }
      }
    }
    return r
  }) as typeof fetch
}

/** Histogram, tensor and density occurrences (every 100 steps) plus tables (every 1000) per run. */
export const recordsPerRun = (steps: number): number => 3 * Math.ceil(steps / 100) + Math.ceil(steps / 1000)

export function pixels(seed: number, side: number): { data: Uint8Array; width: number; height: number; channels: number } {
  const data = new Uint8Array(side * side * 3)
  let x = seed * 7919 + 1
  for (let i = 0; i < data.length; i++) data[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24
  return { data, width: side, height: side, channels: 3 }
}

/**
 * `n` finished runs logged with Board under `base`: `steps` steps of `metrics` scalars, and every
 * 100 steps a histogram, a 32x32 float tensor, a kernel density and a line of captured output;
 * every 1000 steps a table with image cells and an image (raw pixels).
 */
export async function logRuns(base: string, n: number, project: string, steps: number, metrics: number): Promise<string[]> {
  const dirs: string[] = []
  for (let r = 0; r < n; r++) {
    // Captured output goes to the run, not to the terminal.
    const write = process.stdout.write
    process.stdout.write = (() => true) as typeof process.stdout.write
    try {
      const b = new Board({ baseDir: base, project, runId: `run${r}`, captureOutput: true })
      const names = Array.from({ length: metrics }, (_, m) => `train/m${m}`)
      for (let i = 0; i < steps; i++) {
        const v: Record<string, number> = {}
        for (let m = 0; m < metrics; m++) v[names[m]] = Math.sin(i * 0.01 + m) + r
        b.log(v)
        if (i % 100 === 0) {
          const vals = Float64Array.from({ length: 256 }, (_, k) => Math.sin(i + k * 1.7) * (r + 1))
          b.log({ 'grads/w': new Histogram(vals), 'weights/t': new TensorLog(Float32Array.from({ length: 1024 }, (_, k) => k + i), [32, 32]), acts: new KernelDensity(vals, { points: 64 }) })
          process.stdout.write(`step ${i}: loss ${v[names[0]].toFixed(4)}\n`)
        }
        if (i % 1000 === 0) {
          b.log({ samples: new Media(pixels(i + r, 32)), preds: new Table([{ id: i, img: new Media(pixels(i, 16)), p: 0.5 }, { id: i + 1, img: new Media(pixels(r, 16)), p: 0.25 }]) })
        }
      }
      await b.finish()
      dirs.push(b.runDir)
    } finally {
      process.stdout.write = write
    }
  }
  return dirs
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port
      s.close(() => resolve(p))
    })
  })
}

// Server children still running when this process leaves (the time cap, an error) are killed.
const servers = new Set<ChildProcess>()
process.on('exit', () => servers.forEach((s) => s.kill('SIGKILL')))

/**
 * An `amber serve` child with these storage flags (`--data-dir D`, or `--db URL --bucket s3://…`),
 * once it listens; `nodeArgs` go to node (e.g. `--cpu-prof`).
 */
export async function startServerChild(storageFlags: string[], port: number, nodeArgs: string[] = []): Promise<ChildProcess> {
  const server = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', AMBER, 'serve', ...storageFlags, '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
  servers.add(server)
  server.once('exit', () => servers.delete(server))
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`amber serve ${storageFlags.join(' ')} exited (${code}) before listening`))
    server.once('exit', onExit)
    server.stdout!.on('data', (d) => {
      if (String(d).includes('http://')) {
        server.off('exit', onExit)
        resolve()
      }
    })
  })
  return server
}

/** Stop a server child (SIGTERM: it drains and closes its storage) and wait for it to exit. */
export async function stopServerChild(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return
  const exited = new Promise((r) => server.once('exit', r))
  server.kill('SIGTERM')
  await exited
}
