#!/usr/bin/env node
// npm run bench [-- name ... [--option value ...]]: runs the comparisons in bench/ (bench/<name>.ts),
// each in its own process so peers and ambervault share one run per area. Everything from the first
// argument starting with `--` on (e.g. `board --repeat 3`) is passed to each bench unchanged. Build the release module first
// (npm run build): benchmarks of a debug build say nothing.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const benchDir = path.join(__dirname, '..', 'bench')
const all = fs.readdirSync(benchDir).filter((f) => /^[a-z][\w-]*\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort()
const args = process.argv.slice(2)
const firstOption = args.findIndex((a) => a.startsWith('--'))
const wanted = firstOption < 0 ? args : args.slice(0, firstOption)
const passThrough = firstOption < 0 ? [] : args.slice(firstOption)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`)
  process.exit(2)
}
let failed = 0
for (const name of wanted.length ? wanted : all) {
  console.log(`\n### bench/${name}`)
  const r = spawnSync(process.execPath, ['--expose-gc', '--import=tsx', path.join(benchDir, `${name}.ts`), ...passThrough], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
