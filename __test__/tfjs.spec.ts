import test from 'ava'
import * as tf from '@tensorflow/tfjs'
import { Board, openRun, InvalidArgumentError } from '../src/index'
import { amberCallback } from '../src/tfjs'
import { tempDirs } from './temp-dirs'

const tmp = tempDirs('amber-tfjs-')

// tfjs's CPU backend prints a "use tfjs-node" banner through its console logger on first use;
// in tfjs 4 production mode only turns that logger off (the correctness checks follow DEBUG).
tf.enableProdMode()

// One tfjs engine per process: the fits of this file run one after the other.
const serial = test.serial

/** `n` samples of a linear function of 3 inputs: something a dense layer learns, so the losses are ordinary numbers. */
function data(n = 64): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const x = Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(i * 0.7), (i % 7) / 7])
  const y = x.map(([a, b, c]) => [0.5 * a - 0.3 * b + 2 * c + 0.1])
  return { xs: tf.tensor2d(x), ys: tf.tensor2d(y) }
}

function tinyModel(): tf.Sequential {
  const model = tf.sequential({
    name: 'tiny',
    layers: [
      tf.layers.dense({ units: 4, inputShape: [3], activation: 'relu', name: 'hidden' }),
      tf.layers.dense({ units: 1, name: 'out' }),
    ],
  })
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError', metrics: ['mae'] })
  return model
}

const steps = (s: { globalStep: Float64Array }) => [...s.globalStep]
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

serial('every batch: one point per batch per metric at a global batch step, validation once per epoch, config from the model', async (t) => {
  const board = new Board({ baseDir: tmp(), config: { seed: 7 }, captureOutput: false })
  const model = tinyModel()
  const { xs, ys } = data()
  // The callback type is tfjs's own: this line is what a user writes.
  const cb: tf.CustomCallbackArgs = amberCallback(board, { every: 'batch', model })
  const seen: number[] = []
  const track: tf.CustomCallbackArgs = { onBatchEnd: async (_batch, logs) => void seen.push(logs!.loss) }
  const fitArgs = (epochs: number): tf.ModelFitArgs => ({
    epochs, batchSize: 16, validationSplit: 0.25, verbose: 0,
    callbacks: [cb, track],
  })
  // 48 training samples (a quarter is held out) in batches of 16: 3 batches per epoch.
  const history = await model.fit(xs, ys, fitArgs(3))

  const run = openRun(board.runDir)
  t.deepEqual(run.metrics(), ['train/loss', 'train/mae', 'val/loss', 'val/mae'])
  t.deepEqual(steps(run.scalars('train/loss')), range(1, 9))
  t.deepEqual(steps(run.scalars('train/mae')), range(1, 9))
  t.deepEqual([...run.scalars('train/loss').value], seen)
  // Validation at the step of each epoch's last batch.
  t.deepEqual(steps(run.scalars('val/loss')), [3, 6, 9])
  t.deepEqual(steps(run.scalars('val/mae')), [3, 6, 9])
  t.deepEqual([...run.scalars('val/loss').value], history.history.val_loss as number[])

  const config = run.metadata.config as Record<string, any>
  t.is(config.seed, 7, "the constructor's config stays")
  t.deepEqual(config.model, {
    name: 'tiny',
    className: 'Sequential',
    layers: [
      { name: 'hidden', className: 'Dense', outputShape: [null, 4], params: 16, trainable: true },
      { name: 'out', className: 'Dense', outputShape: [null, 1], params: 5, trainable: true },
    ],
    totalParams: 21,
    trainableParams: 21,
    loss: 'meanSquaredError',
  })
  t.deepEqual(config.optimizer, { className: 'Adam', learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 })
  run.close()

  // A second fit continues the same run and the same step count.
  t.is(board.globalStep, 9)
  await model.fit(xs, ys, fitArgs(2))
  const again = openRun(board.runDir)
  t.is(again.metadata.status, 'running', 'the callback never finishes the board')
  t.deepEqual(steps(again.scalars('train/loss')), range(1, 15))
  t.deepEqual(steps(again.scalars('val/mae')), [3, 6, 9, 12, 15])
  t.deepEqual([...again.scalars('train/loss').value], seen)
  again.close()
  await board.finish()
  tf.dispose([xs, ys])
})

serial('every epoch: one point per epoch per metric, numbered across fits, values as tfjs reports them', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const model = tinyModel()
  const { xs, ys } = data()
  const first = await model.fit(xs, ys, { epochs: 3, batchSize: 16, validationSplit: 0.25, verbose: 0, callbacks: amberCallback(board, { model }) })
  // A new callback for the second fit starts from the board's global step.
  const second = await model.fit(xs, ys, { epochs: 3, batchSize: 16, validationSplit: 0.25, verbose: 0, callbacks: amberCallback(board, { every: 'epoch' }) })
  const run = openRun(board.runDir)
  t.deepEqual(run.metrics(), ['train/loss', 'train/mae', 'val/loss', 'val/mae'])
  for (const [name, key] of [['train/loss', 'loss'], ['train/mae', 'mae'], ['val/loss', 'val_loss'], ['val/mae', 'val_mae']]) {
    const s = run.scalars(name)
    t.deepEqual(steps(s), range(1, 6), name)
    t.deepEqual([...s.value], [...first.history[key], ...second.history[key]] as number[], name)
  }
  t.is((run.metadata.config as Record<string, any>).model.totalParams, 21)
  run.close()
  await board.finish()
  tf.dispose([xs, ys])
})

serial('fitDataset: batch steps run on across epochs; no validation, no val/ metrics', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const model = tinyModel()
  const { xs, ys } = data(32)
  const dataset = tf.data.zip({ xs: tf.data.array(tf.unstack(xs)), ys: tf.data.array(tf.unstack(ys)) }).batch(8)
  await model.fitDataset(dataset, { epochs: 2, verbose: 0, callbacks: amberCallback(board, { every: 'batch', model }) })
  const run = openRun(board.runDir)
  t.deepEqual(run.metrics(), ['train/loss', 'train/mae'])
  t.deepEqual(steps(run.scalars('train/loss')), range(1, 8))
  t.is((run.metadata.config as Record<string, any>).optimizer.className, 'Adam')
  run.close()
  await board.finish()
  tf.dispose([xs, ys])
})

serial('a board whose global step is already ahead: the first point comes after it', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  board.log({ 'data/prepared': 1 }, { step: 100 })
  const model = tinyModel()
  const { xs, ys } = data()
  await model.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0, callbacks: amberCallback(board, { every: 'batch' }) })
  const run = openRun(board.runDir)
  t.deepEqual(steps(run.scalars('train/loss')), [101, 102])
  t.is((run.metadata.config as Record<string, unknown>).model, undefined, 'no model given, no summary')
  run.close()
  await board.finish()
  tf.dispose([xs, ys])
})

serial('a logging problem never reaches the training loop: fit() completes and one warning says why', async (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const cb = amberCallback(board, { every: 'batch', model: tinyModel() })
  await board.finish()
  const warnings: Error[] = []
  const onWarning = (w: Error) => {
    if ((w as Error & { code?: string }).code === 'AMBERVAULT_TFJS_LOGGING') warnings.push(w)
  }
  process.on('warning', onWarning)
  try {
    const model = tinyModel()
    const { xs, ys } = data()
    const history = await model.fit(xs, ys, { epochs: 2, batchSize: 16, verbose: 0, callbacks: cb })
    t.is(history.epoch.length, 2, 'training ran to the end')
    tf.dispose([xs, ys])
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', onWarning)
  }
  t.is(warnings.length, 1)
  t.regex(warnings[0].message, /ambervault\/tfjs: could not write the model summary into the run config \(board .* is finished\); training goes on/)
})

test('bad arguments are InvalidArgumentError, at once', (t) => {
  const board = new Board({ baseDir: tmp(), captureOutput: false })
  const bad: Array<[unknown, unknown, RegExp]> = [
    [board, { every: 'step' }, /every must be 'batch' or 'epoch' \(got "step"\)/],
    [board, { every: 'batch', lr: 1 }, /unknown option "lr"/],
    [board, null, /options must be an object/],
    [board, 'batch', /options must be an object/],
    [board, { model: {} }, /model must be a tfjs LayersModel/],
    [{ log() {} }, undefined, /board must be a Board/],
    [undefined, { every: 'batch' }, /board must be a Board \(got undefined\)/],
  ]
  for (const [b, o, message] of bad) {
    t.throws(() => amberCallback(b as Board, o as never), { instanceOf: InvalidArgumentError, message }, String(message))
  }
  // In epoch mode there is no per-batch hook, so tfjs does not read each batch's loss for it.
  t.is(amberCallback(board).onBatchEnd, undefined)
  t.is(typeof amberCallback(board, { every: 'batch' }).onBatchEnd, 'function')
  return board.finish()
})
