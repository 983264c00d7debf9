import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { tempDir } from './temp-dirs'

// The README's quick start is examples/quickstart.ts: it must keep running as written.
test('the quick start example runs and prints what the README says', (t) => {
  const dir = tempDir('ambervault-quickstart-')
  const script = path.join(__dirname, '..', 'examples', 'quickstart.ts')
  const r = spawnSync(process.execPath, ['--import=tsx', script, dir], { encoding: 'utf8', timeout: 120_000 })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /name: 'Ada'/)
  t.regex(r.stdout, /^user:1$/m)
  t.regex(r.stdout, /Float64Array\(2\) \[ 20\.7, 21 \]/)
  // maxPoints 50: 24 buckets of two extremes, and the first and last points (here extremes already).
  t.regex(r.stdout, /^48 points after downsampling$/m)
  fs.rmSync(dir, { recursive: true, force: true })
})

// docs/api.md's tfjs section points at examples/tfjs.ts: two fit() calls into one run.
test('the tfjs example trains, logs per batch across both fits and prints the model config', (t) => {
  const dir = tempDir('ambervault-tfjs-example-')
  const script = path.join(__dirname, '..', 'examples', 'tfjs.ts')
  const r = spawnSync(process.execPath, ['--import=tsx', script, dir], { encoding: 'utf8', timeout: 120_000 })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /: train\/acc, train\/loss, val\/acc, val\/loss$/m)
  t.regex(r.stdout, /^train\/loss: 20 points, steps 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20, last /m)
  t.regex(r.stdout, /^val\/acc: 5 points, steps 4 8 12 16 20, last /m)
  t.regex(r.stdout, /^config: Sequential, 2 layers, 33 params; Adam learningRate 0\.01$/m)
  t.notRegex(r.stderr, /Hi, looks like you are running TensorFlow\.js/)
})
