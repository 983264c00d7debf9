#!/usr/bin/env node
// npm run bench [-- name ... [--option value ...]]: runs the comparisons in bench/ (bench/<name>.ts),
// each in its own process so peers and ambervault share one run per area. Everything from the first
// argument starting with `--` on (e.g. `board --repeat 3`) is passed to each bench unchanged, except
// `--no-docs`. Build the release module first (npm run build): benchmarks of a debug build say nothing.
//
// Each bench prints its tables (markdown) on stdout and its progress on stderr. The tables of every
// bench that succeeds on a release build replace that bench's section of docs/performance.md, so
// the figures there are always the output of this script, never typed by hand.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const benchDir = path.join(root, 'bench')
const docFile = path.join(root, 'docs', 'performance.md')
const all = fs.readdirSync(benchDir).filter((f) => /^[a-z][\w-]*\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort()
const args = process.argv.slice(2)
const writeDocs = !args.includes('--no-docs')
const rest = args.filter((a) => a !== '--no-docs')
const firstOption = rest.findIndex((a) => a.startsWith('--'))
const wanted = firstOption < 0 ? rest : rest.slice(0, firstOption)
const passThrough = firstOption < 0 ? [] : rest.slice(firstOption)
const unknown = wanted.filter((w) => !all.includes(w))
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`)
  process.exit(2)
}

const release = !require(path.join(root, 'index.js')).NATIVE_DEBUG_BUILD
if (!release) console.error('bench: the native module is a debug build (npm run build makes the release one); docs/performance.md is left as it is')

/** Replace (or add, in bench-name order) the section of `name` in docs/performance.md. */
function recordSection(name, tables) {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU'
  const stamp = `_\`npm run bench ${name}${passThrough.length ? ` -- ${passThrough.join(' ')}` : ''}\`, ${new Date().toISOString().slice(0, 10)}: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}._`
  // The bench's own headings go one level down, under this section's.
  const body = `<!-- bench:${name} -->\n## bench/${name}\n\n${stamp}\n\n${tables.trim().replace(/^#(#+) /gm, '#$1# ')}\n<!-- /bench:${name} -->`
  let doc = fs.readFileSync(docFile, 'utf8')
  const re = new RegExp(`<!-- bench:${name} -->[\\s\\S]*?<!-- /bench:${name} -->`)
  if (re.test(doc)) doc = doc.replace(re, () => body)
  else {
    const later = [...doc.matchAll(/<!-- bench:([\w-]+) -->/g)].find((m) => m[1] > name)
    doc = later ? `${doc.slice(0, later.index)}${body}\n\n${doc.slice(later.index)}` : `${doc.trimEnd()}\n\n${body}\n`
  }
  fs.writeFileSync(docFile, doc)
}

let failed = 0
for (const name of wanted.length ? wanted : all) {
  console.log(`\n### bench/${name}`)
  const r = spawnSync(process.execPath, ['--expose-gc', '--import=tsx', path.join(benchDir, `${name}.ts`), ...passThrough], {
    stdio: ['inherit', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  })
  process.stdout.write(r.stdout ?? '')
  if (r.status !== 0) failed++
  else if (writeDocs && release && (r.stdout ?? '').trim()) recordSection(name, r.stdout)
}
process.exit(failed ? 1 : 0)
