// Run inside a fresh project where ambervault was installed from its tarballs (pack-smoke.js).
'use strict'
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { KVault, ColumnVault, Board, openRun } = require('ambervault')

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ambervault-smoke-'))
  const kv = new KVault(path.join(dir, 'kv.db'))
  kv.set('greeting', { hello: 'world', n: 3 })
  assert.deepEqual(kv.get('greeting'), { hello: 'world', n: 3 })
  kv.close()

  const cv = new ColumnVault(path.join(dir, 'cols.db'))
  const col = cv.createColumn('x', 'f64')
  col.extend(new Float64Array([1.5, 2.5, 3.5]))
  assert.equal(col.length, 3)
  assert.deepEqual(Array.from(col.slice()), [1.5, 2.5, 3.5])
  cv.close()

  const board = new Board({ baseDir: dir, name: 'smoke', captureOutput: false })
  for (let i = 0; i < 10; i++) board.log({ 'train/loss': 1 / (i + 1) })
  await board.finish()
  const run = openRun(board.runDir)
  assert.equal(run.scalars('train/loss').value.length, 10)
  run.close()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log('smoke (require): KVault, ColumnVault and Board work')
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
