/**
 * The README's quick start, runnable: `npx tsx examples/quickstart.ts [dir]`.
 * A KVault, a ColumnVault of sensor readings, and a Board logging a short run, all in `dir`.
 */
import path from 'node:path'
import { KVault, ColumnVault, Board, Histogram, openRun } from '../src/index'

async function main(dir: string): Promise<void> {
  // KVault: a Map-like blob store
  const kv = new KVault(path.join(dir, 'store.db'))
  kv.set('user:1', { name: 'Ada', langs: ['en', 'fr'] })
  kv.set('avatar:1', Buffer.from([0x89, 0x50, 0x4e, 0x47]))
  console.log(kv.get('user:1'))
  for (const key of kv.keys({ prefix: 'user:', asString: true })) console.log(key)
  kv.close()

  // ColumnVault: typed, chunked columns
  const cv = new ColumnVault(path.join(dir, 'series.db'))
  const temp = cv.ensure('temperature', 'f64')
  temp.extend(new Float64Array([20.5, 20.7, 21.0]))
  console.log(temp.slice(-2))
  cv.close()

  // Board: non-blocking experiment logging
  const board = new Board({ baseDir: path.join(dir, 'runs'), project: 'vision', name: 'resnet', config: { lr: 1e-3 }, captureOutput: false })
  for (let step = 0; step < 100; step++) {
    board.step()
    board.log({ 'train/loss': Math.exp(-step / 30), 'train/lr': 1e-3 })
  }
  board.log({ 'weights/hist': new Histogram(new Float64Array(1000).map(Math.random)) })
  await board.finish()

  const run = openRun(board.runDir)
  console.log(run.scalars('train/loss', { maxPoints: 50 }).value.length, 'points after downsampling')
  run.close()
}

main(process.argv[2] ?? 'quickstart-data').catch((e) => {
  console.error(e)
  process.exit(1)
})
