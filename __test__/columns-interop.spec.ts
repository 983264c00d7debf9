/**
 * Files move between ambervault and the Python `kohakuvault` 0.8 package in both directions
 * (docs/format.md). The package is installed here, into a venv in the dev cache (dev-cache.ts);
 * the test is skipped with a message only when that install fails (no network to PyPI).
 */
import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import { ColumnVault } from '../src/index'
import { PYTHON, pythonTest } from './kohakuvault-python'
import { tempDir } from './temp-dirs'

const PY = PYTHON
const SCRIPT = path.join(__dirname, 'fixtures', 'kv_interop.py')
const pyTest = pythonTest('columns-interop')

function py(mode: 'write' | 'read' | 'append', file: string): any {
  const r = spawnSync(PY, [SCRIPT, mode, file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python ${mode} failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

function expected() {
  const n = 300
  const range = Array.from({ length: n }, (_, i) => i)
  return {
    i64: range.map((i) => i * 1_000_000_007 - 5),
    f64: range.map((i) => i * 0.25 - 3.5),
    b8: range.map((i) => Buffer.from([i % 256, 1, 2]).toString('hex')),
    s: range.map((i) => 'x'.repeat(i % 37) + `é${i}`),
    m: range.map((i) => ({ i, tags: ['a', String(i)], f: i / 4 })),
    v: range.map((i) => [i, i + 0.5, -i]),
  }
}

function tmpFile(t: { title: string }): string {
  const dir = tempDir('av-interop-')
  return path.join(dir, `${t.title.replace(/\W+/g, '_')}.db`)
}

pyTest('files written by kohakuvault read back here, multi-chunk columns included', (t) => {
  const file = tmpFile(t)
  py('write', file)
  const exp = expected()
  const cv = new ColumnVault(file)
  t.deepEqual(Array.from(cv.column('i64').slice() as Float64Array), exp.i64)
  t.deepEqual(Array.from(cv.column('f64').slice() as Float64Array), exp.f64)
  t.deepEqual(cv.column('b8').toArray().map((b: Buffer) => b.toString('hex')), exp.b8)
  t.deepEqual(cv.column('s').toArray(), exp.s)
  t.deepEqual(cv.column('m').toArray(), exp.m)
  t.deepEqual(cv.column('v').toArray().map((v: Float32Array) => Array.from(v)), exp.v)
  const listed = Object.fromEntries(cv.listColumns().map((c) => [c.name, c]))
  t.is(listed.s.length, 300)
  t.is(listed.s.dtype, 'str:utf8')
  // and we can keep appending to their columns
  cv.column('s').append('from node')
  cv.column('i64').extend(new BigInt64Array([7n]))
  cv.close()
  const back = py('read', file)
  t.is(back.s.at(-1), 'from node')
  t.is(back.i64.at(-1), 7)
})

pyTest('files written here read back in kohakuvault', (t) => {
  const file = tmpFile(t)
  const exp = expected()
  const cv = new ColumnVault(file, { minChunkBytes: 16, maxChunkBytes: 512 })
  cv.createColumn('i64', 'i64').extend(exp.i64)
  cv.createColumn('f64', 'f64').extend(Float64Array.from(exp.f64))
  cv.createColumn('b8', 'bytes:8').extend(exp.b8.map((h) => Buffer.from(h, 'hex')))
  cv.createColumn('s', 'str:utf8').extend(exp.s)
  cv.createColumn('m', 'msgpack').extend(exp.m)
  cv.createColumn('v', 'vec:f32:3').extend(exp.v.map((v) => Float32Array.from(v)))
  cv.close()
  const got = py('read', file)
  for (const k of ['i64', 'f64', 'b8', 's', 'm', 'v'] as const) t.deepEqual(got[k], exp[k], k)
})

pyTest('kohakuvault appends after our single appends and batches, and both sides read the same values', (t) => {
  // Our in-place appends to fixed-size columns leave `bytes_used` to `length` (docs/format.md:
  // length is authoritative); kohakuvault must still append after them, in small and default-sized
  // chunks.
  for (const [min, max] of [
    [16, 512],
    [131072, 16777216],
  ]) {
    const file = tmpFile(t).replace(/\.db$/, `_${min}.db`)
    const cv = new ColumnVault(file, { minChunkBytes: min, maxChunkBytes: max })
    const i = cv.createColumn('i64', 'i64')
    const s = cv.createColumn('s', 'str:utf8')
    for (let k = 0; k < 37; k++) {
      i.append(k)
      s.append(`n${k}`)
    }
    i.extend(Float64Array.from({ length: 30 }, (_, k) => 100 + k))
    cv.close()
    py('append', file)
    const wantI = [
      ...Array.from({ length: 37 }, (_, k) => k),
      ...Array.from({ length: 30 }, (_, k) => 100 + k),
      ...Array.from({ length: 40 }, (_, k) => 1000 + k),
      ...Array.from({ length: 20 }, (_, k) => 2000 + k),
    ]
    const wantS = [
      ...Array.from({ length: 37 }, (_, k) => `n${k}`),
      ...Array.from({ length: 40 }, (_, k) => `py${k}`),
      ...Array.from({ length: 20 }, (_, k) => `pyb${k}`),
    ]
    const back = py('read', file)
    t.deepEqual(back.i64, wantI, `kohakuvault reads i64 (chunks ${min}..${max})`)
    t.deepEqual(back.s, wantS)
    const again = new ColumnVault(file)
    t.deepEqual(Array.from(again.column('i64').slice() as Float64Array), wantI, 'and so do we')
    t.deepEqual(again.column('s').toArray(), wantS)
    again.close()
  }
})
