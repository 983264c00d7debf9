/**
 * bench/board-names: runs with many metric names (the run store's workloads), one case per child
 * process so peak RSS and open descriptors belong to that case alone.
 *
 *   npx tsx bench/board-names.ts [--repeat N] [--case NAME]
 *
 * Cases (names x steps): 10,000 x 10 (new Board() to finish(), every name listed and every value
 * checked), 1,000 x 2,000 (first log() to flush(), scalars/s, log() of the 1,000-key object),
 * 10 x 200,000 (scalars/s durable, bytes per point on disk), 1,000 x 20 (bytes on disk after
 * finish()), plus `new Board()` in each. (log() of 10 scalars is in bench/board.) Medians over
 * `--repeat` runs (default 3). Use a release build (`npm run build`).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawnSync } from 'node:child_process'
import { Board, openRun } from '../src/index'
import { benchTemp, removeTemp } from './lib/temp'
import { median } from './lib/timing'

interface Result {
  [k: string]: number | string
}

function diskBytes(dir: string): number {
  let n = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    n += e.isDirectory() ? diskBytes(p) : fs.statSync(p).size
  }
  return n
}

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length
  } catch {
    return NaN
  }
}

/** Peak resident set of this process (Linux), MB. */
function peakRssMb(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    return m ? Number(m[1]) / 1024 : NaN
  } catch {
    return process.memoryUsage().rss / 2 ** 20
  }
}

async function manyNames(names: number, steps: number, baseDir: string): Promise<Result> {
  const fds0 = openFds()
  const keys = Array.from({ length: names }, (_, i) => `layer${Math.floor(i / 10)}/param${i % 10}/grad_norm`)
  const t0 = performance.now()
  const board = new Board({ baseDir, project: 'bench', runId: `n${names}x${steps}`, captureOutput: false })
  const tBoard = performance.now() - t0
  let maxFds = 0
  const logTimes: number[] = []
  const tFirst = performance.now()
  const vals: Record<string, number> = {}
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < names; i++) vals[keys[i]] = s * 0.001 + i
    const a = performance.now()
    board.log(vals)
    logTimes.push(performance.now() - a)
    if (s % Math.max(1, Math.floor(steps / 10)) === 0) maxFds = Math.max(maxFds, openFds() - fds0)
  }
  await board.flush()
  const tFlush = performance.now() - tFirst
  maxFds = Math.max(maxFds, openFds() - fds0)
  await board.finish()
  const tFinish = performance.now() - t0
  // Every name listed, every value exact.
  const run = openRun(board.runDir)
  const listed = new Set(run.metrics())
  let wrong = 0
  for (let i = 0; i < names; i += Math.max(1, Math.floor(names / 200))) {
    if (!listed.has(keys[i])) wrong++
    const v = run.scalars(keys[i]).value
    if (v.length !== steps || v[steps - 1] !== (steps - 1) * 0.001 + i) wrong++
  }
  if (listed.size !== names) wrong++
  run.close()
  const bytes = diskBytes(board.runDir)
  return {
    case: `${names} x ${steps}`,
    newBoardMs: tBoard,
    finishMs: tFinish,
    scalarsPerSec: (names * steps) / (tFlush / 1000),
    logUsP50: median(logTimes) * 1000,
    extraFds: maxFds,
    peakRssMb: peakRssMb(),
    diskMB: bytes / 1e6,
    bytesPerPoint: bytes / (names * steps),
    wrong,
  }
}

const CASES: Record<string, (dir: string) => Promise<Result>> = {
  '10000x10': (d) => manyNames(10_000, 10, d),
  '1000x2000': (d) => manyNames(1_000, 2_000, d),
  '10x200000': (d) => manyNames(10, 200_000, d),
  '1000x20': (d) => manyNames(1_000, 20, d),
}

async function child(name: string): Promise<void> {
  const dir = benchTemp('amber-bench-names-')
  try {
    const r = await CASES[name](dir)
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`)
  } finally {
    removeTemp(dir)
  }
}

function main(): void {
  const at = process.argv.indexOf('--repeat')
  const repeat = at > 0 ? Math.max(1, Number(process.argv[at + 1]) || 1) : 3
  const only = process.argv.indexOf('--case')
  const names = only > 0 ? [process.argv[only + 1]] : Object.keys(CASES)
  process.stdout.write(`medians of ${repeat} run(s), each in a child process of its own\n\n`)
  process.stdout.write(`| ${COLUMNS.map(([, title]) => title).join(' | ')} |\n|${COLUMNS.map(() => '---').join('|')}|\n`)
  for (const name of names) {
    const runs: Result[] = []
    for (let i = 0; i < repeat; i++) {
      const r = spawnSync(process.execPath, ['--import=tsx', __filename, '--child', name], { encoding: 'utf8', maxBuffer: 1 << 24 })
      const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '))
      if (!line) {
        process.stderr.write(`${name}: failed\n${r.stderr}\n`)
        process.exitCode = 1
        break
      }
      runs.push(JSON.parse(line.slice(7)) as Result)
    }
    if (runs.length === 0) continue
    const out: Result = { case: runs[0].case }
    for (const k of Object.keys(runs[0])) {
      if (typeof runs[0][k] === 'number') out[k] = Number(median(runs.map((r) => r[k] as number)).toPrecision(4))
    }
    process.stdout.write(`| ${COLUMNS.map(([k]) => out[k]).join(' | ')} |\n`)
  }
}

/** The table's columns: a Result key and its heading. */
const COLUMNS: [string, string][] = [
  ['case', 'names x steps'],
  ['newBoardMs', 'new Board() ms'],
  ['finishMs', 'new Board() to finish() ms'],
  ['scalarsPerSec', 'scalars/s to flush()'],
  ['logUsP50', 'log() of all names p50 µs'],
  ['extraFds', 'extra fds'],
  ['peakRssMb', 'peak RSS MB'],
  ['diskMB', 'run on disk MB'],
  ['bytesPerPoint', 'B/point on disk'],
  ['wrong', 'wrong values'],
]

const childAt = process.argv.indexOf('--child')
if (childAt > 0) void child(process.argv[childAt + 1])
else main()
