/**
 * Training a @tensorflow/tfjs model with a Board: `npx tsx examples/tfjs.ts [baseDir]`, then
 * `amber open <baseDir>` to look at the run. In your code the imports are `ambervault` and
 * `ambervault/tfjs` (the tfjs callback is a subpath of the package).
 */
import * as tf from '@tensorflow/tfjs'
import { Board, openRun } from '../src/index'
import { amberCallback } from '../src/tfjs'

// tfjs 4's CPU backend prints a "use tfjs-node" banner on first use; production mode turns its
// console notes off (nothing else: the correctness checks belong to its DEBUG flag).
tf.enableProdMode()

async function main(baseDir: string): Promise<void> {
  // Is a point inside the unit circle? 80 points, a fifth held out for validation.
  const points = Array.from({ length: 80 }, (_, i) => [Math.cos(i * 2.4) * (0.2 + (i % 9) / 8), Math.sin(i * 2.4) * (0.2 + (i % 9) / 8)])
  const xs = tf.tensor2d(points)
  const ys = tf.tensor2d(points.map(([a, b]) => [a * a + b * b < 1 ? 1 : 0]))

  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 8, inputShape: [2], activation: 'relu' }), tf.layers.dense({ units: 1, activation: 'sigmoid' })],
  })
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] })

  const board = new Board({ baseDir, project: 'tfjs', name: 'circle', config: { batchSize: 16 }, captureOutput: false })
  // One callback for both fits: the second continues the steps of the first, in the same run.
  const callbacks = amberCallback(board, { every: 'batch', model })
  await model.fit(xs, ys, { epochs: 3, batchSize: 16, validationSplit: 0.2, verbose: 0, callbacks })
  await model.fit(xs, ys, { epochs: 2, batchSize: 16, validationSplit: 0.2, verbose: 0, callbacks })
  await board.finish()
  tf.dispose([xs, ys])

  const run = openRun(board.runDir)
  console.log(`run ${run.metadata.runId}: ${run.metrics().join(', ')}`)
  for (const name of ['train/loss', 'val/acc']) {
    const { globalStep, value } = run.scalars(name)
    console.log(`${name}: ${value.length} points, steps ${[...globalStep].join(' ')}, last ${value[value.length - 1].toFixed(3)}`)
  }
  const { model: summary, optimizer } = run.metadata.config as { model: { className: string; layers: unknown[]; totalParams: number }; optimizer: { className: string; learningRate: number } }
  console.log(`config: ${summary.className}, ${summary.layers.length} layers, ${summary.totalParams} params; ${optimizer.className} learningRate ${optimizer.learningRate}`)
  run.close()
}

main(process.argv[2] ?? './amberboard').catch((e) => {
  console.error(e)
  process.exit(1)
})
