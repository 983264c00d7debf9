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
