/**
 * The simulated training run behind `amber demo` (and examples/simulated-training.ts): a small
 * "classifier" whose loss falls with noise, evaluated now and then, with weight histograms, sample
 * images, a predictions table, system metrics and printed progress, all logged through Board while
 * the viewer shows it live.
 */
import { Board, Histogram, Media, Table } from '../board'

export interface DemoOptions {
  baseDir: string
  steps?: number
  /** Pause between training steps, so the run is watchable live (default 20 ms). */
  delayMs?: number
  name?: string
  project?: string
  seed?: number
  onStep?: (step: number) => void
}

/** A small deterministic generator so two demos with one seed log the same numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 4294967296
  }
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand())
}

/** A 48x48 RGB "sample": rings whose sharpness grows as the model trains. */
function sampleImage(step: number, total: number, k: number): { data: Uint8Array; width: number; height: number; channels: number } {
  const W = 48
  const data = new Uint8Array(W * W * 3)
  const sharp = 0.2 + (0.8 * step) / Math.max(1, total)
  for (let y = 0; y < W; y++) {
    for (let x = 0; x < W; x++) {
      const r = Math.hypot(x - W / 2, y - W / 2)
      const ring = 0.5 + 0.5 * Math.cos(r * (0.5 + k * 0.15))
      const v = Math.pow(ring, 1 + sharp * 3)
      const i = (y * W + x) * 3
      data[i] = Math.round(255 * v)
      data[i + 1] = Math.round(120 + 100 * Math.sin((k + x / W) * Math.PI) * v)
      data[i + 2] = Math.round(255 * (1 - v) * sharp)
    }
  }
  return { data, width: W, height: W, channels: 3 }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function runDemoTraining(opts: DemoOptions): Promise<{ runDir: string; runId: string }> {
  const steps = opts.steps ?? 300
  const rand = rng(opts.seed ?? 42)
  const config = { model: 'mlp-3x256', optimizer: 'adamw', lr: 3e-3, batchSize: 64, steps, warmup: 20, seed: opts.seed ?? 42 }
  const board = new Board({ name: opts.name ?? 'demo', project: opts.project ?? 'demo', baseDir: opts.baseDir, config, systemMetrics: { intervalMs: 1000 } })
  console.log(`demo: training ${config.model} for ${steps} steps (run ${board.runId})`)
  const evalEvery = Math.max(5, Math.round(steps / 12))
  for (let step = 1; step <= steps; step++) {
    const lr = step < config.warmup ? (config.lr * step) / config.warmup : config.lr * 0.5 * (1 + Math.cos((Math.PI * (step - config.warmup)) / (steps - config.warmup)))
    const progress = step / steps
    const loss = 2.3 * Math.exp(-4 * progress) + 0.08 + 0.12 * gaussian(rand) * Math.exp(-2 * progress)
    const acc = Math.min(0.99, 0.1 + 0.85 * (1 - Math.exp(-5 * progress)) + 0.02 * gaussian(rand))
    board.log({ 'train/loss': loss, 'train/acc': acc, 'train/lr': lr, 'train/grad_norm': Math.abs(1.5 * Math.exp(-3 * progress) + 0.3 * gaussian(rand)) })
    if (step % evalEvery === 0 || step === steps) {
      const weights = Float32Array.from({ length: 2048 }, () => gaussian(rand) * (0.2 + 0.8 * (1 - progress)) + progress * 0.5)
      board.log({
        'val/loss': loss + 0.1 + 0.05 * rand(),
        'val/acc': acc - 0.03,
        'params/layer1': new Histogram(weights),
        samples: new Media(sampleImage(step, steps, 0), { caption: 'sample 0' }),
        'samples/b': new Media(sampleImage(step, steps, 3), { caption: 'sample 1' }),
        predictions: new Table(
          Array.from({ length: 5 }, (_, i) => {
            const truth = Math.floor(rand() * 10)
            const right = rand() < acc
            return { example: i, truth, predicted: right ? truth : (truth + 1 + Math.floor(rand() * 9)) % 10, confidence: Number((right ? 0.6 + 0.4 * rand() : 0.2 + 0.4 * rand()).toFixed(3)) }
          }),
        ),
      })
      console.log(`step ${step}/${steps}  loss ${loss.toFixed(4)}  acc ${acc.toFixed(3)}  lr ${lr.toExponential(2)}`)
    }
    board.step()
    opts.onStep?.(step)
    if (opts.delayMs ?? 20) await sleep(opts.delayMs ?? 20)
  }
  console.log('demo: done')
  const out = { runDir: board.runDir, runId: board.runId }
  await board.finish()
  return out
}
