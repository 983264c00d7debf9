/**
 * KohakuVault 0.8.6 can leave a variable-size data chunk stored as SQLite TEXT (its growth is
 * `data || zeroblob(n)`), where `length(data)` counts characters. The real Python package
 * writes such a column; we read it, append and update, and Python reads the result
 * (docs/format.md, "Chunks").
 */
import path from 'node:path'
import Database from 'better-sqlite3'

import { ColumnVault } from '../src/index'
import { py, pythonTest } from './kohakuvault-python'
import { tempDirs } from './temp-dirs'

const tempDir = tempDirs('av-text-chunks-')
const pyTest = pythonTest('text-chunks')

/** What values_interop.py writes: non-ASCII strings, so characters and bytes differ. */
function words(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i} ` + 'héllo wörld ✓ 日本語 '.repeat(i % 7))
}

function chunks(file: string): { type: string; chars: number; bytes: number }[] {
  const db = new Database(file, { readonly: true })
  try {
    return db
      .prepare('SELECT typeof(data) AS type, length(data) AS chars, octet_length(data) AS bytes FROM col_chunks ORDER BY col_id, chunk_idx')
      .all() as { type: string; chars: number; bytes: number }[]
  } finally {
    db.close()
  }
}

pyTest('a str column kohakuvault left in TEXT chunks reads, appends and updates here, and reads back in Python', (t) => {
  const file = path.join(tempDir(), 'text.db')
  const written = py('text-write', file)
  t.true(written.types.text >= 1, `kohakuvault left a TEXT chunk (${JSON.stringify(written.types)})`)
  const text = chunks(file).find((c) => c.type === 'text')!
  t.true(text.chars < text.bytes, 'length(data) of that chunk is not its size in bytes')

  let want = [...words('a', 60), ...words('b', 30)]
  const cv = new ColumnVault(file)
  const s = cv.column('s')
  t.is(s.length, 90)
  t.deepEqual(s.toArray(), want)
  t.deepEqual(s.slice(55, 65), want.slice(55, 65))
  t.is(s.get(-1), want[89])
  // Appends (one, a batch), an update in place (shorter) and one that moves (longer).
  s.append('from node ✓')
  s.extend(['ñ'.repeat(40), 'z'])
  s.set(1, 'x')
  s.set(2, 'ü'.repeat(300))
  want.push('from node ✓', 'ñ'.repeat(40), 'z')
  want[1] = 'x'
  want[2] = 'ü'.repeat(300)
  t.deepEqual(s.toArray(), want)
  cv.close()

  const back = py('col-read', file, 's')
  t.deepEqual(back.s, want, 'kohakuvault reads what we wrote into its TEXT chunks')
  py('text-append', file)
  want = [...want, ...words('c', 10), ...words('d', 10)]
  const again = new ColumnVault(file)
  t.deepEqual(again.column('s').toArray(), want, 'and we read what it appended afterwards')
  again.close()
})
