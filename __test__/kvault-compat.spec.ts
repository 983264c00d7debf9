import test from 'ava'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import { KVault, InvalidArgumentError } from '../src/index'
import { PYTHON, pythonTest } from './kohakuvault-python'
import { tempDir } from './temp-dirs'

// The Python kohakuvault 0.8 package, in the venv the interop specs share (kohakuvault-python.ts).
// If pip cannot install it, the test is skipped and says why.
const python = PYTHON
const script = path.join(__dirname, 'fixtures', 'kv_compat.py')
const pyTest = pythonTest('kvault-compat')

function py(mode: 'read' | 'write', file: string): string {
  const r = spawnSync(python, [script, mode, file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`python ${mode} failed: ${r.stderr}`)
  return r.stdout
}

pyTest('Node writes, Python kohakuvault reads the same values', (t) => {
  const file = path.join(tempDir('kvcompat-'), 'kv.db')
  const kv = new KVault(file)
  kv.put('raw', Buffer.from([0, 1, 2, 0xff]))
  kv.put('magic', Buffer.from([0x89, 0x4b, 0x01, 0x06, 0, 0, 0, 0, 0x56, 0x4b, 0x41]))
  kv.put('str', 'héllo ✓')
  kv.put('int', 42)
  kv.put('neg', -7)
  kv.put('big', 2n ** 60n)
  kv.put('float', 1.5)
  kv.put('obj', { a: [1, 2.5, 'x', null, true], b: { c: -3 } })
  kv.put('bool', false)
  kv.put('null', null)
  kv.close()
  const got = JSON.parse(py('read', file))
  t.deepEqual(got, {
    raw: { bytes: '000102ff' },
    magic: { bytes: '894b010600000000564b41' },
    str: 'héllo ✓',
    int: 42,
    neg: -7,
    big: 2 ** 60,
    float: { float: 1.5 },
    obj: { dict: { a: [1, { float: 2.5 }, 'x', null, true], b: { dict: { c: -3 } } } },
    bool: false,
    null: null,
  })
})

pyTest('Python kohakuvault writes, Node reads the same values', (t) => {
  const file = path.join(tempDir('kvcompat-'), 'kv.db')
  py('write', file)
  const kv = new KVault(file)
  t.deepEqual(kv.get('py_bytes'), Buffer.from('000162696e617279ff', 'hex'))
  t.deepEqual(kv.get('py_magic'), Buffer.from([0x89, 0x4b, 0x01, 0x78, 0x79, 0x7a]))
  t.is(kv.get('py_str'), 'héllo ✓')
  t.is(kv.get('py_int'), 42)
  t.is(kv.get('py_neg'), -7)
  t.is(kv.get('py_float'), 1.5)
  t.deepEqual(kv.get('py_dict'), { a: [1, 2.5, 'x', null, true], b: { c: -3 } })
  t.deepEqual(kv.get('py_list'), [1, 'two', [3]])
  t.throws(() => kv.get('py_none'), { instanceOf: InvalidArgumentError, message: /py_none.*01.*pickle/ })
  t.true(kv.getBytes('py_none')!.length > 0, 'the pickle payload is still reachable as bytes')
  // Python reads a file Node has modified afterwards, too.
  kv.put('py_str', 'from node')
  kv.close()
  t.is(JSON.parse(py('read', file)).py_str, 'from node')
})
