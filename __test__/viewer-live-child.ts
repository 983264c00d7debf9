/**
 * A child process that logs `train/loss` slowly, so a spec can watch points arrive live.
 *   tsx viewer-live-child.ts <baseDir> <name> <steps> <delayMs>
 * It prints `RUNDIR <path>` once the run exists, and (captured) `child step N` lines.
 */
import { Board } from '../src/index'

async function main() {
  const [baseDir, name, stepsArg, delayArg] = process.argv.slice(2)
  const board = new Board({ baseDir, project: 'live', name, systemMetrics: false })
  process.stdout.write(`RUNDIR ${board.runDir}\n`)
  for (let i = 0; i < Number(stepsArg); i++) {
    board.log({ 'train/loss': 1 / (1 + i) })
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
