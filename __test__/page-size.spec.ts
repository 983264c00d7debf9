import test from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import { ColumnVault, KVault, InvalidArgumentError, type VarSizeColumn } from '../src/index'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('av-pages-')

/** The page size a SQLite file header records (bytes 16-17, big-endian; 1 means 65536). */
function pageSizeOf(file: string): number {
  const n = fs.readFileSync(file).readUInt16BE(16)
  return n === 1 ? 65536 : n
}

test('new files get the page size KohakuVault gives them by default and the pageSize asked for otherwise', (t) => {
  const dir = tempDir()
  const kv = new KVault(path.join(dir, 'default.db'))
  kv.put('a', 1)
  kv.close()
  t.is(pageSizeOf(path.join(dir, 'default.db')), 32768)
  const cols = new ColumnVault(path.join(dir, 'default-cols.db'))
  cols.createColumn('x', 'f64').append(1)
  cols.close()
  t.is(pageSizeOf(path.join(dir, 'default-cols.db')), 4096)

  const small = new KVault(path.join(dir, 'kv.db'), { pageSize: 4096 })
  small.put('a', { x: 1 })
  small.close()
  t.is(pageSizeOf(path.join(dir, 'kv.db')), 4096)

  const cv = new ColumnVault(path.join(dir, 'cols.db'), { pageSize: 65536 })
  cv.createColumn('x', 'f64').extend(new Float64Array([1, 2, 3]))
  cv.createColumn('s', 'str:utf8').extend(['a', 'bé'])
  cv.checkpoint()
  cv.close()
  t.is(pageSizeOf(path.join(dir, 'cols.db')), 65536)
  const again = new ColumnVault(path.join(dir, 'cols.db'))
  t.deepEqual(Array.from(again.column('x').slice() as Float64Array), [1, 2, 3])
  t.deepEqual((again.column('s') as unknown as VarSizeColumn).slice(), ['a', 'bé'])
  again.close()
})

test('an existing file keeps its page size whatever is asked for', (t) => {
  const file = path.join(tempDir(), 'kv.db')
  const kv = new KVault(file, { pageSize: 4096 })
  kv.put('a', 'one')
  kv.close()
  const reopened = new KVault(file, { pageSize: 16384 })
  t.is(reopened.get('a'), 'one')
  reopened.put('b', 'two')
  reopened.close()
  t.is(pageSizeOf(file), 4096)
})

test('a page size SQLite would ignore is an InvalidArgumentError and creates no file', (t) => {
  const dir = tempDir()
  for (const bad of [0, 256, 1000, 4096.5, -4096, 131072, Number.NaN, 2 ** 40]) {
    const file = path.join(dir, `bad-${String(bad)}.db`)
    const e1 = t.throws(() => new KVault(file, { pageSize: bad }), { instanceOf: InvalidArgumentError })
    t.regex(e1!.message, /page size .* power of two from 512 to 65536/)
    t.throws(() => new ColumnVault(file, { pageSize: bad }), { instanceOf: InvalidArgumentError })
    t.false(fs.existsSync(file), `no file for ${bad}`)
  }
  t.throws(() => new KVault(path.join(dir, 'str.db'), { pageSize: '4096' as unknown as number }), { instanceOf: InvalidArgumentError })
})
