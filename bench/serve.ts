/**
 * Team server load: N runs (default 20) syncing at once into one `amber serve` on loopback.
 *   npx tsx bench/serve.ts [--runs 20] [--steps 20000] [--metrics 10] [--batch 50000] [--small 2000] [--log-calls 1000000]
 * The server is a child process (as in production); the clients are concurrent `syncRun` calls in
 * this process. Reported side by side in one run: one run alone vs N at once, with large batches
 * (offline `amber sync`) and small ones (what a live Board sends each second). Ingest latency is
 * per batch request, from send to the server's acknowledgement (sent after the batch is stored in
 * SQLite); transient failures are retried as `amber sync` does and counted. Every run also holds the other log types, synced in the same scenarios: every 100 steps
 * a histogram, a 32x32 float tensor and a kernel density; every 1000 steps a table with image
 * cells and an image (raw pixels); captured output every 100 steps. Their requests (records,
 * media, output) are timed separately. Bounded: N x steps x metrics points per scenario, and a
 * 10 minute cap.
 */
import { spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { Board, syncRun } from '../src/index'
import { benchTemp, removeTemp } from './lib/temp'
import { AMBER, arg, freePort, latency, logRuns as logWorkload, quantile, recordsPerRun, resetLatency, startServerChild, stopServerChild, timeUploads } from './lib/serve-workload'

const RUNS = arg('runs', 20)
const STEPS = arg('steps', 20_000)
const METRICS = arg('metrics', 10)
const BATCH = arg('batch', 50_000)
const SMALL = arg('small', 2_000)
const LOG_CALLS = arg('log-calls', 1_000_000)
setTimeout(() => {
  process.stderr.write('bench/serve: 10 minute cap reached\n')
  process.exit(1)
}, 600_000).unref()

// Per-request latency of batch uploads (bench/lib/serve-workload): scalar batches, and the other
// kinds' uploads (records, media, output) apart.
timeUploads()
const latencies = latency.scalars
const otherLatencies = latency.other

/** Histogram, tensor and density occurrences (every 100 steps) plus tables (every 1000) per run. */
const RECORDS_PER_RUN = recordsPerRun(STEPS)

const logRuns = (base: string, n: number, project: string) => logWorkload(base, n, project, STEPS, METRICS)
const startServer = (data: string, port: number) => startServerChild(['--data-dir', data], port)
const stopServer = stopServerChild

async function scenario(label: string, runDirs: string[], batch: number): Promise<string[]> {
  process.stderr.write(`${label}...\n`)
  // The server's copy of every run: removed as soon as the scenario ends (gigabytes at the defaults).
  const data = benchTemp('amber-bench-serve-data-')
  let results: Awaited<ReturnType<typeof syncRun>>[]
  let secs: number
  let server: ChildProcess | undefined
  try {
    const tok = spawnSync(process.execPath, ['--import', 'tsx', AMBER, 'token', 'create', '--data-dir', data, '--project', '*'], { encoding: 'utf8' })
    const token = tok.stdout.trim()
    const port = await freePort()
    server = await startServer(data, port)
    resetLatency()
    const t0 = performance.now()
    results = await Promise.all(runDirs.map((d) => syncRun(d, { url: `http://127.0.0.1:${port}`, token, batchPoints: batch, retryForMs: 60_000 })))
    secs = (performance.now() - t0) / 1000
  } finally {
    if (server) await stopServer(server)
    removeTemp(data)
  }
  const points = results.reduce((a, r) => a + r.sentPoints, 0)
  if (points !== runDirs.length * STEPS * METRICS) throw new Error(`${label}: stored ${points} points, expected ${runDirs.length * STEPS * METRICS}`)
  const records = results.reduce((a, r) => a + r.sentRecords, 0)
  if (records !== runDirs.length * RECORDS_PER_RUN) throw new Error(`${label}: stored ${records} records, expected ${runDirs.length * RECORDS_PER_RUN}`)
  const media = results.reduce((a, r) => a + r.sentMedia, 0)
  const outKb = results.reduce((a, r) => a + r.sentOutputBytes, 0) / 1024
  return [label, String(runDirs.length), String(batch), String(points), String(latencies.length), (points / secs).toFixed(0), quantile(latencies, 0.5).toFixed(1), quantile(latencies, 0.99).toFixed(1),
    `${records}+${media}`, outKb.toFixed(1), String(otherLatencies.length), quantile(otherLatencies, 0.5).toFixed(1), quantile(otherLatencies, 0.99).toFixed(1),
    String(results.reduce((a, r) => a + r.retries, 0)), secs.toFixed(2)]
}

/**
 * `log()` cost with and without `remote` (the background sync running against a live server):
 * 10 scalars per call, timed per group of 100 calls; p50/p99 of the per-call average.
 */
async function logLatency(remote: { url: string; token: string } | null, calls: number): Promise<string[]> {
  const base = benchTemp('amber-bench-serve-log-')
  const per: number[] = []
  try {
    const b = new Board({ baseDir: base, project: 'bench', captureOutput: false, ...(remote ? { remote: { ...remote, intervalMs: 100 } } : {}) })
    const v: Record<string, number> = {}
    for (let m = 0; m < 10; m++) v[`train/m${m}`] = m
    b.log(v)
    for (let g = 0; g < calls / 100; g++) {
      const t0 = performance.now()
      for (let i = 0; i < 100; i++) {
        v['train/m0'] = i
        b.log(v)
      }
      per.push(((performance.now() - t0) * 1000) / 100)
      // A short pause every 10,000 calls, as a training step would make: the sync worker keeps up.
      if (g % 100 === 99) await new Promise((r) => setTimeout(r, 5))
    }
    await b.finish()
  } finally {
    removeTemp(base)
  }
  return [remote ? 'with remote (background sync)' : 'local only', String(calls), quantile(per, 0.5).toFixed(3), quantile(per, 0.99).toFixed(3)]
}

async function main() {
  const base = benchTemp('amber-bench-serve-')
  process.stderr.write(`logging ${RUNS} runs of ${STEPS} steps x ${METRICS} metrics...\n`)
  let rows: string[][]
  try {
    const dirs = await logRuns(base, RUNS, 'bench')
    rows = [
      await scenario('1 run, large batches', dirs.slice(0, 1), BATCH),
      await scenario(`${RUNS} runs at once, large batches`, dirs, BATCH),
      await scenario('1 run, small batches', dirs.slice(0, 1), SMALL),
      await scenario(`${RUNS} runs at once, small batches`, dirs, SMALL),
    ]
  } finally {
    removeTemp(base)
  }
  // log() side by side, with and without the background sync.
  const data = benchTemp('amber-bench-serve-live-')
  const logRows: string[][] = []
  let server: ChildProcess | undefined
  try {
    const token = spawnSync(process.execPath, ['--import', 'tsx', AMBER, 'token', 'create', '--data-dir', data, '--project', '*'], { encoding: 'utf8' }).stdout.trim()
    const port = await freePort()
    server = await startServer(data, port)
    for (let rep = 0; rep < 2; rep++) {
      logRows.push(await logLatency(null, LOG_CALLS))
      logRows.push(await logLatency({ url: `http://127.0.0.1:${port}`, token }, LOG_CALLS))
    }
  } finally {
    if (server) await stopServer(server)
    removeTemp(data)
  }
  const head = ['scenario', 'runs', 'batch pts', 'points', 'requests', 'points/s', 'p50 ms', 'p99 ms', 'records+media', 'output KB', 'other reqs', 'other p50 ms', 'other p99 ms', 'retries', 'wall s']
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i])).join(' | ')} |`
  process.stdout.write(`${line(head)}\n| ${w.map((n) => '-'.repeat(n)).join(' | ')} |\n${rows.map(line).join('\n')}\n\n`)
  const lhead = ['log() of 10 scalars', 'calls', 'p50 us/call', 'p99 us/call']
  const lw = lhead.map((h, i) => Math.max(h.length, ...logRows.map((r) => r[i].length)))
  const lline = (r: string[]) => `| ${r.map((c, i) => c.padEnd(lw[i])).join(' | ')} |`
  process.stdout.write(`${lline(lhead)}\n| ${lw.map((n) => '-'.repeat(n)).join(' | ')} |\n${logRows.map(lline).join('\n')}\n`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
