/**
 * `ambervault/tfjs`: a training callback for `@tensorflow/tfjs` (docs/api.md, Board, tfjs).
 *
 *   await model.fit(xs, ys, { epochs: 3, callbacks: amberCallback(board, { every: 'batch', model }) })
 *
 * A package subpath of its own, so the main entry's types never mention tfjs.
 *
 * The callback is tfjs's plain callback-config object (`CustomCallbackArgs`), not a subclass of
 * `tf.Callback`: a subclass would need tfjs at run time, and tfjs tells its callbacks apart with
 * `instanceof`, so a second copy of tfjs in node_modules (a tfjs-node install beside
 * @tensorflow/tfjs, a bundle) would turn such a subclass into a config object silently. The
 * plain form works with any copy and version, and this module imports nothing of tfjs. Its cost:
 * tfjs never hands the model to a config-object callback (`BaseCallback.setModel` is a no-op),
 * so the model whose summary goes into the run's config is passed as the `model` option.
 *
 * Logging must never stop training: a problem (a finished board, an explicit step of the
 * user's that went past ours, a config that cannot be written) is caught and reported once per
 * callback as a process warning; the training loop never sees it.
 */
import type { Board } from './board'
import { InvalidArgumentError } from './errors'

/** The values tfjs passes to callbacks: loss, compiled metrics, `val_*` (and `batch`, `size`). */
export type TfjsLogs = { [key: string]: number }

/** What the callback reads of a tfjs layer (a structural type: tfjs's `Layer` is one). */
export interface TfjsLayerLike {
  readonly name: string
  getClassName(): string
  readonly outputShape: unknown
  countParams(): number
  trainable: boolean
}

/** What the callback reads of a tfjs `LayersModel` (`tf.sequential()`, `tf.model()`). */
export interface TfjsModelLike {
  readonly name: string
  getClassName(): string
  readonly layers: readonly TfjsLayerLike[]
  countParams(): number
  readonly trainableWeights: ReadonlyArray<{ readonly shape: ReadonlyArray<number | null> }>
  readonly optimizer?: { getClassName(): string; getConfig(): object } | null
  readonly loss?: unknown
}

export interface AmberCallbackOptions {
  /** Log the training loss and metrics after every batch or after every epoch (default). */
  every?: 'batch' | 'epoch'
  /** The model being trained: its layer summary and optimizer go into the run's config. */
  model?: TfjsModelLike
}

/**
 * The callback-config object `model.fit` / `model.fitDataset` take as `callbacks` (tfjs's
 * `CustomCallbackArgs`). `onBatchEnd` is there only with `every: 'batch'`: tfjs reads each
 * batch's loss off the backend for a callback that has one.
 */
export interface AmberCallback {
  onTrainBegin(logs?: TfjsLogs): Promise<void>
  onBatchEnd?(batch: number, logs?: TfjsLogs): Promise<void>
  onEpochEnd(epoch: number, logs?: TfjsLogs): Promise<void>
  onTrainEnd(logs?: TfjsLogs): Promise<void>
}

/** The parts of a Board the callback uses (an attached logger has them too). */
type BoardLike = Pick<Board, 'log' | 'updateConfig' | 'flush' | 'globalStep'>

const OPTION_KEYS = new Set(['every', 'model'])
/** Keys of tfjs's batch logs that are not measurements. */
const NOT_METRICS = new Set(['batch', 'size'])

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object'
  return typeof v
}

function checkBoard(board: unknown): BoardLike {
  const b = board as Partial<BoardLike> | null
  if (b === null || typeof b !== 'object' || typeof b.log !== 'function' || typeof b.updateConfig !== 'function' ||
      typeof b.flush !== 'function' || typeof b.globalStep !== 'number') {
    throw new InvalidArgumentError(`amberCallback(board, options): board must be a Board (got ${describe(board)})`)
  }
  return b as BoardLike
}

function checkOptions(options: unknown): { every: 'batch' | 'epoch'; model: TfjsModelLike | null } {
  if (options === undefined) return { every: 'epoch', model: null }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`amberCallback(board, options): options must be an object like { every: 'batch' } (got ${describe(options)})`)
  }
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.has(k)) throw new InvalidArgumentError(`amberCallback(board, options): unknown option ${JSON.stringify(k)} (the options are every and model)`)
  }
  const o = options as AmberCallbackOptions
  const every = o.every ?? 'epoch'
  if (every !== 'batch' && every !== 'epoch') {
    throw new InvalidArgumentError(`amberCallback(board, options): every must be 'batch' or 'epoch' (got ${describe(every)})`)
  }
  const m = o.model as Partial<TfjsModelLike> | null | undefined
  if (m !== undefined && (m === null || typeof m !== 'object' || !Array.isArray(m.layers) || typeof m.countParams !== 'function')) {
    throw new InvalidArgumentError(`amberCallback(board, options): model must be a tfjs LayersModel (got ${describe(m)})`)
  }
  return { every, model: (m as TfjsModelLike | undefined) ?? null }
}

/** `f()`, or `fallback` when it throws (a layer's `outputShape` throws when it has no single one). */
function attempt<T>(f: () => T, fallback: T): T {
  try {
    return f()
  } catch {
    return fallback
  }
}

/** A JSON copy that drops what JSON cannot hold instead of failing the whole config on it. */
function jsonSafe(v: unknown): unknown {
  const text = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'function' || typeof x === 'symbol' ? undefined : typeof x === 'bigint' ? String(x) : x))
  return text === undefined ? null : JSON.parse(text)
}

/** A loss as the config shows it: its name (`'meanSquaredError'`), per output when several. */
function lossName(loss: unknown): unknown {
  if (typeof loss === 'string') return loss
  if (typeof loss === 'function') return loss.name || 'custom'
  if (Array.isArray(loss)) return loss.map(lossName)
  if (loss !== null && typeof loss === 'object') return Object.fromEntries(Object.entries(loss).map(([k, v]) => [k, lossName(v)]))
  return null
}

/** The config patch for a model: what tfjs's `model.summary()` prints, and the optimizer's settings. */
function modelConfig(model: TfjsModelLike): { model: Record<string, unknown>; optimizer: Record<string, unknown> | null } {
  const layers = model.layers.map((l) => ({
    name: l.name,
    className: attempt(() => l.getClassName(), null),
    outputShape: attempt(() => jsonSafe(l.outputShape), null),
    params: attempt(() => l.countParams(), null),
    trainable: l.trainable,
  }))
  const trainableParams = model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce<number>((n, d) => n * (d ?? 0), 1), 0)
  const opt = model.optimizer
  return {
    model: {
      name: model.name,
      className: attempt(() => model.getClassName(), null),
      layers,
      totalParams: model.countParams(),
      trainableParams,
      loss: lossName(model.loss),
    },
    // Flat (`optimizer.learningRate`), so the runs table can show each setting as a column.
    optimizer: opt ? { className: opt.getClassName(), ...(jsonSafe(opt.getConfig()) as Record<string, unknown>) } : null,
  }
}

/**
 * A tfjs callback that logs into `board`: the loss and compiled metrics per batch
 * (`every: 'batch'`) or per epoch (`'epoch'`, the default) as `train/<name>`, the validation
 * metrics per epoch as `val/<name>`, at an explicit global step: the number of batches (or
 * epochs) trained, counted across epochs and across `fit()` calls and starting from the board's
 * global step. With `model`, each `fit()` puts the model's layer summary and optimizer into the
 * run's config. It never finishes the board: a second `fit()` continues the same run.
 */
export function amberCallback(board: Board, options?: AmberCallbackOptions): AmberCallback {
  const b = checkBoard(board)
  const { every, model } = checkOptions(options)
  let step = 0
  let warned = false

  const problem = (what: string, e: unknown): void => {
    if (warned) return
    warned = true
    process.emitWarning(
      `ambervault/tfjs: could not ${what} (${e instanceof Error ? e.message : String(e)}); training goes on, ` +
        'and further problems of this callback are not reported',
      { type: 'AmbervaultWarning', code: 'AMBERVAULT_TFJS_LOGGING' },
    )
  }

  /** Log the numeric entries of `logs` that `pick` maps to a metric name, at the current step. */
  const logAt = (logs: TfjsLogs | undefined, pick: (key: string) => string | null): void => {
    const values: Record<string, number> = {}
    let any = false
    for (const key of Object.keys(logs ?? {})) {
      const v = (logs as TfjsLogs)[key]
      const name = typeof v === 'number' ? pick(key) : null
      if (name !== null) {
        values[name] = v
        any = true
      }
    }
    // An empty log() call would still take a step of the board, and adds no point.
    if (!any) return
    try {
      b.log(values, { step })
    } catch (e) {
      problem(`log step ${step}`, e)
    }
  }
  const train = (key: string): string | null => (key.startsWith('val_') || NOT_METRICS.has(key) ? null : `train/${key}`)
  const val = (key: string): string | null => (key.startsWith('val_') ? `val/${key.slice(4)}` : null)

  const callback: AmberCallback = {
    async onTrainBegin() {
      try {
        // Continue from where the board is, so another callback, or logging of the user's own
        // that moved the global step, never makes a step go back.
        step = Math.max(step, b.globalStep)
        if (model) b.updateConfig(modelConfig(model))
      } catch (e) {
        problem('write the model summary into the run config', e)
      }
    },
    async onEpochEnd(_epoch, logs) {
      if (every === 'epoch') {
        step += 1
        logAt(logs, (key) => val(key) ?? train(key))
      } else {
        // The epoch's validation at the step of its last batch (its training loss was logged per batch).
        logAt(logs, val)
      }
    },
    async onTrainEnd() {
      // So that what fit() logged is in the run's files when fit() resolves.
      try {
        await b.flush()
      } catch (e) {
        problem('flush the board', e)
      }
    },
  }
  if (every === 'batch') {
    callback.onBatchEnd = async (_batch, logs) => {
      step += 1
      logAt(logs, train)
    }
  }
  return callback
}
