/**
 * bench/board: Board against Python trackers, side by side in one run.
 *
 *   npx tsx bench/board.ts [--quick] [--repeat N]
 *
 * Rows (same workloads for every tracker):
 *   - log() latency of one call with 10 scalars: p50 / p99 over individual calls
 *   - KohakuBoard workload (4,000 calls of 32 scalars, 400 histograms of 10k values, 200 images
 *     224x224 RGB, 200 tensors of 131k f32): time to durable (finish/flush returned) and the
 *     time the training thread spent inside log()
 *   - stress: 10M scalars (1M calls of 10) sustained to durable disk, scalars/s
 *   - many names (ambervault only, printed under the table): 5,000 metric names logged at each of
 *     10 steps, time to durable (one metric file per name)
 * Peers run in a venv this script creates (venv-board in the dev cache, ~/.cache/ambervault-dev or
 * $AMBERVAULT_DEV_CACHE; or $BOARD_BENCH_VENV) with pip:
 * kohakuboard, tensorboardX, mlflow (file store). A peer that cannot install or run is reported,
 * not hidden; BOARD_BENCH_PEERS=0 skips them (quick runs of ours alone). Use a release build (`npm run build`) for meaningful numbers. Every tracker runs
 * `--repeat` times (default 3), alternating, each time in a fresh folder; the table shows medians.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { Board, Histogram, Media, TensorLog, openRun } from '../src/index'
import { devCache } from '../__test__/dev-cache'
import { benchTemp, removeTemp } from './lib/temp'
import { median } from './lib/timing'

const quick = process.argv.includes('--quick')
const STRESS_CALLS = quick ? 100_000 : 1_000_000
const LAT_CALLS = quick ? 20_000 : 200_000
const repeatAt = process.argv.indexOf('--repeat')
const REPEAT = repeatAt > 0 ? Math.max(1, Number(process.argv[repeatAt + 1]) || 1) : 3

type Row = Record<string, number | string | null>

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
}

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32)
}

async function latency(baseDir: string): Promise<Row> {
  const board = new Board({ baseDir, project: 'bench', runId: 'latency', captureOutput: false })
  const vals: Record<string, number> = {}
  for (let k = 0; k < 10; k++) vals[`m${k}`] = 0
  // Warm up (names interned, code optimised).
  for (let i = 0; i < 20_000; i++) board.log(vals)
  const t = new Float64Array(LAT_CALLS)
  for (let i = 0; i < LAT_CALLS; i++) {
    vals.m0 = i
    const a = process.hrtime.bigint()
    board.log(vals)
    t[i] = Number(process.hrtime.bigint() - a)
  }
  // What the two hrtime calls cost on their own, reported so the reader can subtract it.
  const o = new Float64Array(LAT_CALLS)
  for (let i = 0; i < LAT_CALLS; i++) {
    const a = process.hrtime.bigint()
    o[i] = Number(process.hrtime.bigint() - a)
  }
  await board.finish()
  t.sort()
  o.sort()
  return { p50_ns: pct(t, 0.5), p99_ns: pct(t, 0.99), timer_overhead_p50_ns: pct(o, 0.5) }
}

async function workload(baseDir: string): Promise<Row> {
  const r = rng(1)
  const hist = Array.from({ length: 4 }, () => Float32Array.from({ length: 10_000 }, () => r() * 2 - 1))
  const img = Uint8Array.from({ length: 224 * 224 * 3 }, () => Math.floor(r() * 256))
  const ten = Float32Array.from({ length: 131_072 }, () => r())
  const names = Array.from({ length: 32 }, (_, k) => `train/m${k}`)
  const t0 = performance.now()
  let inLog = 0
  const board = new Board({ baseDir, project: 'bench', runId: 'workload', captureOutput: false })
  const vals: Record<string, number> = {}
  for (let i = 0; i < 4000; i++) {
    for (let k = 0; k < 32; k++) vals[names[k]] = i * 0.001 + k
    let a = performance.now()
    board.log(vals)
    if (i % 10 === 0) board.log({ 'grads/h': new Histogram(hist[i % 4]) })
    if (i % 20 === 0) board.log({ samples: new Media({ data: img, width: 224, height: 224, channels: 3 }) })
    if (i % 20 === 10) board.log({ 'acts/t': new TensorLog(ten, [256, 512]) })
    inLog += performance.now() - a
    board.step()
    a = 0
  }
  await board.finish()
  const total = performance.now() - t0
  const run = openRun(board.runDir)
  if (run.scalars('train/m0').value.length !== 4000 || run.media('samples').length !== 200 || run.tensors('acts/t').length !== 200) {
    throw new Error('workload check failed: not everything was stored')
  }
  return { total_ms: total, in_log_ms: inLog }
}

async function stress(baseDir: string): Promise<Row> {
  const board = new Board({ baseDir, project: 'bench', runId: 'stress', captureOutput: false })
  const vals: Record<string, number> = {}
  for (let k = 0; k < 10; k++) vals[`s${k}`] = 0
  const t0 = performance.now()
  for (let i = 0; i < STRESS_CALLS; i++) {
    vals.s0 = i
    board.log(vals)
  }
  const logged = performance.now() - t0
  await board.finish()
  const total = performance.now() - t0
  const n = openRun(board.runDir).scalars('s0').value.length
  if (n !== STRESS_CALLS) throw new Error(`stress: stored ${n} of ${STRESS_CALLS}`)
  return { scalars: STRESS_CALLS * 10, log_ms: logged, total_ms: total, scalars_per_s: (STRESS_CALLS * 10) / (total / 1000) }
}

async function manyNames(baseDir: string): Promise<Row> {
  const names = quick ? 1_000 : 5_000
  const steps = 10
  const t0 = performance.now()
  const board = new Board({ baseDir, project: 'bench', runId: 'names', captureOutput: false })
  const vals: Record<string, number> = {}
  for (let s = 0; s < steps; s++) {
    for (let k = 0; k < names; k++) vals[`layer${k % 50}/m${k}`] = s + k
    board.log(vals)
    board.step()
  }
  await board.finish()
  const total = performance.now() - t0
  const run = openRun(board.runDir)
  if (run.metrics().length !== names || run.scalars(`layer0/m0`).value.length !== steps) {
    throw new Error('many names: not everything was stored')
  }
  return { names, steps, total_ms: total }
}

function venvPython(): string | null {
  const venv = process.env.BOARD_BENCH_VENV ?? devCache('venv-board')
  const py = path.join(venv, 'bin', 'python')
  if (!fs.existsSync(py)) {
    console.error(`creating ${venv} and installing peers with pip...`)
    if (spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status !== 0) return null
  }
  const need = spawnSync(py, ['-c', 'import kohakuboard, tensorboardX, mlflow, numpy'], { stdio: 'ignore' }).status !== 0
  if (need) {
    spawnSync(py, ['-m', 'pip', 'install', '-q', 'kohakuboard', 'tensorboardX', 'mlflow-skinny', 'numpy', 'pillow'], { stdio: 'inherit' })
  }
  return py
}

function peers(baseDir: string): Record<string, Record<string, Row | string>> {
  if (process.env.BOARD_BENCH_PEERS === '0') return {}
  const py = venvPython()
  if (!py) return {}
  const r = spawnSync(py, [path.join(__dirname, 'board_peers.py'), baseDir, String(quick ? 1 : 0)], { encoding: 'utf8', maxBuffer: 1 << 26 })
  if (r.status !== 0) {
    console.error(r.stderr)
    return {}
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}')
}

function fmt(v: unknown, digits = 1): string {
  return typeof v === 'number' ? v.toFixed(digits) : String(v ?? 'n/a')
}

type Results = Record<string, Record<string, Row | string>>

/** Median of every numeric field over the repeats; a row that failed every time keeps its error. */
function medians(reps: Results[]): Results {
  const out: Results = {}
  for (const tracker of Object.keys(reps[0] ?? {})) {
    out[tracker] = {}
    for (const row of Object.keys(reps[0][tracker])) {
      const ok = reps.map((r) => r[tracker]?.[row]).filter((x): x is Row => typeof x === 'object' && x !== null)
      if (ok.length === 0) {
        out[tracker][row] = reps[0][tracker][row]
        continue
      }
      const m: Row = {}
      for (const k of Object.keys(ok[0])) {
        const xs = ok.map((x) => x[k]).filter((x): x is number => typeof x === 'number')
        m[k] = xs.length ? median(xs) : ok[0][k]
      }
      out[tracker][row] = m
    }
  }
  return out
}

async function main(): Promise<void> {
  const baseDir = benchTemp('amber-bench-')
  console.error(`bench dir ${baseDir}${quick ? ' (quick)' : ''}, ${REPEAT} repeat(s)`)
  const reps: Results[] = []
  for (let r = 0; r < REPEAT; r++) {
    const dir = path.join(baseDir, `rep${r}`)
    fs.mkdirSync(dir)
    const ours = { latency: await latency(dir), workload: await workload(dir), stress: await stress(dir), names: await manyNames(dir) }
    console.error(`rep ${r + 1}/${REPEAT}: ambervault ${JSON.stringify(ours)}`)
    const others = peers(dir)
    console.error(`rep ${r + 1}/${REPEAT}: peers ${JSON.stringify(others)}`)
    reps.push({ ambervault: ours, ...others })
    // Each repeat's runs are measured; their files only fill the disk afterwards.
    fs.rmSync(dir, { recursive: true, force: true })
  }
  removeTemp(baseDir)
  const all = medians(reps)
  const ours = all.ambervault as Record<string, Row>
  const lines: string[] = []
  lines.push(`medians of ${REPEAT} run(s)${quick ? ' (quick)' : ''}`, '')
  lines.push('| tracker | log() p50 (10 scalars) | log() p99 | workload to durable | workload in log() | stress scalars/s | vs ambervault (stress) |')
  lines.push('|---|---|---|---|---|---|---|')
  const ourRate = ours.stress.scalars_per_s as number
  for (const [name, res] of Object.entries(all)) {
    const l = res.latency as Row | string
    const w = res.workload as Row | string
    const s = res.stress as Row | string
    const cell = (x: Row | string, k: string, unit: string, scale = 1, d = 1) =>
      typeof x === 'string' || !x ? `n/a (${String(x ?? 'missing').slice(0, 40)})` : x[k] === null || x[k] === undefined ? 'n/a' : `${fmt((x[k] as number) * scale, d)} ${unit}`
    const ratio = typeof s === 'object' && s && typeof s.scalars_per_s === 'number' ? `${fmt(ourRate / s.scalars_per_s, 0)}x` : 'n/a'
    lines.push(`| ${name} | ${cell(l, 'p50_ns', 'µs', 1e-3, 2)} | ${cell(l, 'p99_ns', 'µs', 1e-3, 2)} | ${cell(w, 'total_ms', 's', 1e-3, 2)} | ${cell(w, 'in_log_ms', 's', 1e-3, 2)} | ${cell(s, 'scalars_per_s', '', 1, 0)} | ${name === 'ambervault' ? '1x' : ratio} |`)
  }
  console.log(lines.join('\n'))
  const n = ours.names
  console.log(`\nambervault many names: ${n.names} names x ${n.steps} steps to durable in ${fmt((n.total_ms as number) / 1000, 2)} s`)
  console.log(`ambervault timer overhead (two hrtime calls, included above): ${fmt(ours.latency.timer_overhead_p50_ns, 0)} ns`)
  console.error('raw:', JSON.stringify(reps)) // every repeat, for a closer look; not part of the table
}

void main()
