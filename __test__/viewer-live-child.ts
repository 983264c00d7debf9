/**
 * A child process that logs `train/loss` slowly, so a spec can watch points arrive live.
 *   tsx viewer-live-child.ts <baseDir> <name> <steps> <delayMs> [logsEvery]
 * It prints `RUNDIR <path>` once the run exists, and (captured) `child step N` lines. With
 * logsEvery > 0 it also logs a histogram `weights/w`, an image `samples` and a table `preds`
 * every logsEvery steps, and from the second half of the run an image under a new name `late`.
 */
import { Board, Histogram, Media, Table } from '../src/index'

/** A 4x4 grey image whose shade changes with the step (so each one is a new blob). */
function image(i: number) {
  return { data: new Uint8Array(4 * 4 * 3).fill((i * 37) % 256), width: 4, height: 4, channels: 3 }
}

async function main() {
  const [baseDir, name, stepsArg, delayArg, logsArg] = process.argv.slice(2)
  const logsEvery = Number(logsArg ?? 0)
  const steps = Number(stepsArg)
  const board = new Board({ baseDir, project: 'live', name, systemMetrics: false })
  process.stdout.write(`RUNDIR ${board.runDir}\n`)
  for (let i = 0; i < steps; i++) {
    board.log({ 'train/loss': 1 / (1 + i) })
    if (logsEvery > 0 && i % logsEvery === 0) {
      board.log({
        'weights/w': new Histogram(Float64Array.from({ length: 200 }, (_, k) => Math.sin(k) * (1 + i / 10))),
        samples: new Media(image(i), { caption: `sample at ${i}` }),
        preds: new Table([{ step: i, loss: 1 / (1 + i) }]),
      })
      if (i >= steps / 2) board.log({ late: new Media(image(i + 1), { caption: `late at ${i}` }) })
    }
    board.step()
    if (i % 5 === 0) console.log(`child step ${i}`)
    await board.flush()
    await new Promise((r) => setTimeout(r, Number(delayArg)))
  }
  await board.finish()
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
