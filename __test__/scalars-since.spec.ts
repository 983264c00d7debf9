import test from 'ava'
import { Board, InvalidArgumentError, NotFoundError, openRun } from '../src/index'
import { tempDir } from './temp-dirs'

function tmp(): string {
  return tempDir('amber-since-')
}

test('scalars({ since }) returns only the points logged after a step, while the run grows', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  for (let i = 0; i < 5000; i++) board.log({ m: i * 0.25, other: -i })
  await board.flush()
  const run = openRun(board.runDir)
  const all = run.scalars('m')
  const tail = run.scalars('m', { since: 4989 })
  t.deepEqual([...tail.step], [4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999])
  t.deepEqual([...tail.value], [...all.value.subarray(4990)])
  t.deepEqual([...tail.globalStep], [...all.globalStep.subarray(4990)])
  t.deepEqual([...tail.timestamp], [...all.timestamp.subarray(4990)])
  t.is(run.scalars('m', { since: 4999 }).value.length, 0)
  t.is(run.scalars('m', { since: -1 }).value.length, 5000)
  // A fractional step means the same as its floor.
  t.is(run.scalars('m', { since: 4997.5 }).value.length, 2)
  // New points show up in the next read of the tail, and nothing before them.
  for (let i = 0; i < 3; i++) board.log({ m: 1000 + i })
  await board.flush()
  const more = run.scalars('m', { since: 4999 })
  t.deepEqual([...more.value], [1000, 1001, 1002])
  t.deepEqual([...more.step], [5000, 5001, 5002])
  // With maxPoints the tail is downsampled, still after `since`.
  const ds = run.scalars('m', { since: 1000, maxPoints: 100 })
  t.true(ds.value.length <= 100 && ds.step[0] > 1000)
  await board.finish()
})

test('scalars({ from }) starts at a point index; bad windows are typed errors', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  // A metric logged every other step: index and step differ.
  for (let i = 0; i < 100; i++) board.log(i % 2 === 0 ? { even: i, any: i } : { any: i })
  await board.finish()
  const run = openRun(board.runDir)
  const from = run.scalars('even', { from: 45 })
  t.deepEqual([...from.step], [90, 92, 94, 96, 98])
  t.deepEqual([...from.value], [90, 92, 94, 96, 98])
  t.is(run.scalars('even', { from: 50 }).value.length, 0)
  t.is(run.scalars('even', { from: 10_000 }).value.length, 0)
  t.deepEqual([...run.scalars('even', { since: 95 }).step], [96, 98])
  t.throws(() => run.scalars('even', { from: -1 }), { instanceOf: InvalidArgumentError, message: /even.*from/ })
  t.throws(() => run.scalars('even', { from: 1.5 }), { instanceOf: InvalidArgumentError })
  t.throws(() => run.scalars('even', { since: NaN }), { instanceOf: InvalidArgumentError, message: /even.*since/ })
  t.throws(() => run.scalars('even', { since: 1, from: 1 }), { instanceOf: InvalidArgumentError })
  t.throws(() => run.scalars('missing', { since: 3 }), { instanceOf: NotFoundError, message: /missing/ })
})
