import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn, ChildProcess } from 'node:child_process'
import { Board, listRuns, openRun } from '../src/index'
import { tempDir } from './temp-dirs'

const CHILD = path.join(__dirname, 'fixtures', 'board-child.ts')

function tmp(): string {
  return tempDir('amber-crash-')
}

function child(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })))
}

function waitFor(p: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const on = (d: Buffer) => {
      buf += d.toString()
      const m = re.exec(buf)
      if (m) {
        p.stdout!.off('data', on)
        resolve(m[0])
      }
    }
    p.stdout!.on('data', on)
    p.once('exit', () => reject(new Error(`child exited before ${re}: ${buf.slice(-200)}`)))
  })
}

/**
 * Start a logging child (`args`), let it log a random while (at least one "done N"), kill -9 it,
 * and return how many log() calls it had seen return.
 */
async function logThenKill(args: string[], maxWaitMs: number): Promise<number> {
  const p = child(args)
  let lastDone = 0
  p.stdout!.on('data', (d: Buffer) => {
    for (const m of d.toString().matchAll(/done (\d+)/g)) lastDone = Number(m[1])
  })
  await waitFor(p, /done [1-9]\d*/)
  await new Promise((r) => setTimeout(r, 300 + Math.random() * maxWaitMs))
  const acknowledged = lastDone
  p.kill('SIGKILL')
  await exited(p)
  return acknowledged
}

test('kill -9 mid-logging: the logged prefix is intact and complete after reopening', async (t) => {
  const baseDir = tmp()
  const acknowledged = await logThenKill(['kill', baseDir, 'k'], 1500)
  t.true(acknowledged > 0)

  const runDir = path.join(baseDir, 'default', 'k')
  const run = openRun(runDir)
  t.is(run.metadata.status, 'killed')
  const x = run.scalars('seq/x')
  const y = run.scalars('seq/y')
  const n = x.value.length
  t.true(n >= acknowledged, `stored ${n} < acknowledged ${acknowledged}`)
  t.is(y.value.length, n)
  for (let i = 0; i < n; i++) {
    if (x.value[i] !== i || x.step[i] !== i || y.value[i] !== 2 * i) {
      t.fail(`entry ${i}: x=${x.value[i]} step=${x.step[i]} y=${y.value[i]}`)
      return
    }
  }
  // Reopening again changes nothing (replay is exactly once).
  t.is(openRun(runDir).scalars('seq/x').value.length, n)
  t.is(listRuns(baseDir)[0].status, 'killed')
})

test('kill -9 while logging 1,000 metrics: every metric holds an exact prefix, at least what log() returned', async (t) => {
  const baseDir = tmp()
  const acknowledged = await logThenKill(['kill-wide', baseDir, 'wide'], 1000)

  const run = openRun(path.join(baseDir, 'default', 'wide'))
  t.is(run.metadata.status, 'killed')
  const names = run.metrics()
  t.is(names.length, 1000)
  const counts = new Map(run.summaries().map((s) => [s.name, s.count]))
  for (let k = 0; k < 1000; k++) {
    const s = run.scalars(`m/${k}`)
    const n = s.value.length
    t.true(n >= acknowledged, `m/${k}: stored ${n} < acknowledged ${acknowledged}`)
    t.is(counts.get(`m/${k}`), n)
    for (let i = 0; i < n; i++) {
      if (s.value[i] !== i * 1000 + k || s.step[i] !== i) return void t.fail(`m/${k} point ${i}: ${s.value[i]} at step ${s.step[i]}`)
    }
  }
  fs.rmSync(baseDir, { recursive: true, force: true })
})

test('a new Board on a killed run replays it, then continues it', async (t) => {
  const baseDir = tmp()
  const p = child(['kill', baseDir, 'again'])
  await waitFor(p, /done [1-9]\d*/)
  p.kill('SIGKILL')
  await exited(p)
  const board = new Board({ baseDir, runId: 'again', captureOutput: false })
  const before = openRun(board.runDir).scalars('seq/x').value.length
  t.true(before > 0)
  board.log({ 'seq/x': -1 })
  await board.finish()
  const x = openRun(board.runDir).scalars('seq/x').value
  t.is(x.length, before + 1)
  t.is(x[before], -1)
  t.is(openRun(board.runDir).metadata.status, 'finished')
})

// [how, process exit, status, exitCode in metadata.json (null when finish() ran before exit)]
const exits: Array<[string, { code: number | null; signal: NodeJS.Signals | null }, string, number | null]> = [
  ['end', { code: 0, signal: null }, 'finished', 0],
  ['finish', { code: 0, signal: null }, 'finished', null],
  ['throw', { code: 1, signal: null }, 'crashed', 1],
  ['sigterm', { code: null, signal: 'SIGTERM' }, 'killed', 143],
  ['sigint', { code: null, signal: 'SIGINT' }, 'killed', 130],
]

for (const [how, expected, status, exitCode] of exits) {
  test(`exit by ${how}: flushed, closed, status ${status}, usual exit code`, async (t) => {
    const baseDir = tmp()
    const p = child(['exit', baseDir, 'e', how])
    let out = ''
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    if (how === 'sigterm' || how === 'sigint') {
      await waitFor(p, /ready/)
      p.kill(how === 'sigterm' ? 'SIGTERM' : 'SIGINT')
    }
    const r = await exited(p)
    t.deepEqual(r, expected)
    // The terminal (here: the pipe) still saw the output.
    t.true(out.includes('progress 100%'))
    const run = openRun(path.join(baseDir, 'default', 'e'))
    t.is(run.metadata.status as string, status)
    t.is(run.metadata.exitCode, exitCode)
    t.deepEqual([...run.scalars('v').value], Array.from({ length: 100 }, (_, i) => i))
    const log = run.output()
    t.true(log.includes('progress 100%\n'), log)
    t.false(log.includes('progress 50%'), log)
    t.true(log.includes('[stderr] a warning\n'), log)
  })
}
