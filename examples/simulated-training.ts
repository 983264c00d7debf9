/**
 * A simulated training run logged with Board: the same run `amber demo` shows.
 *   npx tsx examples/simulated-training.ts [baseDir] [steps]
 * then look at it with `amber open <baseDir>` (or run `amber demo`, which does both).
 * The training loop itself lives in src/cli/demo.ts so the installed `amber` ships it.
 */
import { runDemoTraining } from '../src/cli/demo'

const baseDir = process.argv[2] ?? './amberboard'
const steps = Number(process.argv[3] ?? 300)
runDemoTraining({ baseDir, steps, delayMs: 10 }).then(
  ({ runDir }) => console.log(`logged ${runDir}`),
  (e) => {
    console.error(e)
    process.exit(1)
  },
)
