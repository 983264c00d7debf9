import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { spawn } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { Board, openRun } from '../src/index'
import { LogWriter } from '../src/board/logWriter'
import { tempDir } from './temp-dirs'

const N = 20_000

test('4 worker threads and 2 child processes log into one run: nothing lost, no busy errors', async (t) => {
  const baseDir = tempDir('amber-multi-')
  const board = new Board({ baseDir, runId: 'multi', captureOutput: false })
  const jobs: Promise<void>[] = []
  for (let w = 0; w < 4; w++) {
    // The worker loads the TypeScript fixture through tsx's CommonJS hook.
    const file = JSON.stringify(path.join(__dirname, 'fixtures', 'board-worker.ts'))
    const worker = new Worker(`require('tsx/cjs'); require(${file})`, {
      eval: true,
      workerData: { runDir: board.runDir, tag: `worker${w}`, n: N },
    })
    jobs.push(new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    }).then(() => worker.terminate().then(() => undefined)))
  }
  for (let c = 0; c < 2; c++) {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'board-child.ts'), 'attach', board.runDir, `child${c}`, String(N)],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    jobs.push(new Promise<void>((resolve, reject) => p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child ${c}: ${code} ${err}`))))))
  }
  for (let i = 0; i < N; i++) board.log({ 'main/v': i })
  await Promise.all(jobs)
  await board.finish()
  const run = openRun(board.runDir)
  const tags = ['main', 'worker0', 'worker1', 'worker2', 'worker3', 'child0', 'child1']
  t.deepEqual(run.metrics().sort(), tags.map((x) => `${x}/v`).sort())
  for (const tag of tags) {
    const v = run.scalars(`${tag}/v`).value
    t.is(v.length, N, tag)
    t.true(v.every((x, i) => x === i), tag)
  }
  const diag = path.join(board.runDir, 'logs/writer.log')
  t.false(fs.existsSync(diag) && /busy|failed/i.test(fs.readFileSync(diag, 'utf8')))
})

test('a corrupt record is set aside and counted: its writer and every other writer keep being stored', async (t) => {
  const baseDir = tempDir('amber-corrupt-')
  const board = new Board({ baseDir, runId: 'corrupt', captureOutput: false })
  board.log({ 'main/v': 0 })
  await board.flush()
  // A second writer's log, written in a scratch folder: a good record, one whose bytes on disk
  // are overwritten (record kind 0xffffffff), another good one, moved into the run in one rename.
  const scratch = tempDir('amber-corrupt-scratch-')
  const bad = new LogWriter(scratch, 'bad-writer')
  bad.scalars([['bad/v', 1]], 0, 0, Date.now(), 0)
  const before = bad.position()
  bad.scalars([['bad/v', 2]], 1, 0, Date.now(), 0)
  const segment = path.join(scratch, 'wal', 'bad-writer', '00000000.log')
  const fd = fs.openSync(segment, 'r+')
  fs.writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, before.offset + 4)
  fs.closeSync(fd)
  bad.scalars([['bad/v', 3]], 2, 0, Date.now(), 0)
  fs.renameSync(path.join(scratch, 'wal', 'bad-writer'), path.join(board.runDir, 'wal', 'bad-writer'))

  for (let i = 1; i <= 1000; i++) board.log({ 'main/v': i })
  await board.flush()
  const run = openRun(board.runDir)
  t.is(run.scalars('main/v').value.length, 1001)
  // The corrupt record is set aside (in the run, reported and counted); the rest is stored.
  t.deepEqual([...run.scalars('bad/v').value], [1, 3])
  const log = fs.readFileSync(path.join(board.runDir, 'logs', 'writer.log'), 'utf8')
  t.regex(log, /set aside a record of writer bad-writer \(undecodable.*unknown log record kind/)
  t.is(run.metadata.writerErrors, 1)
  board.log({ 'main/v': 1001 })
  await board.finish()
  t.is(openRun(board.runDir).scalars('main/v').value.length, 1002)
})

test('a worker killed by terminate() has its log adopted and deleted by the owner before finish', async (t) => {
  const baseDir = tempDir('amber-terminate-')
  const board = new Board({ baseDir, runId: 'terminate', captureOutput: false })
  const file = JSON.stringify(path.join(__dirname, 'fixtures', 'board-worker-idle.ts'))
  const worker = new Worker(`require('tsx/cjs'); require(${file})`, {
    eval: true,
    workerData: { runDir: board.runDir, tag: 'w', n: 5000 },
  })
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  const wal = path.join(board.runDir, 'wal')
  const attached = () => fs.readdirSync(wal).filter((d) => d.startsWith('attached-'))
  t.is(attached().length, 1)
  await worker.terminate()
  // The owner's writer sees the worker's lock gone and deletes its fully stored log.
  const deadline = Date.now() + 20_000
  while (attached().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.deepEqual(attached(), [])
  t.regex(fs.readFileSync(path.join(board.runDir, 'logs', 'writer.log'), 'utf8'), /writer attached-.* is gone and fully stored/)
  t.is(openRun(board.runDir).scalars('w/v').value.length, 5000)
  await board.finish()
})
