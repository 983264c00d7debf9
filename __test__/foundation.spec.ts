import test from 'ava'
import { createRequire } from 'node:module'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import * as api from '../src/index'
import { toVaultError, native } from '../src/errors'

test('the native module loads and reports its version', (t) => {
  const pkg = createRequire(__filename)('../package.json') as { version: string }
  t.is(api.nativeVersion(), pkg.version)
})

test('native error messages map onto the typed error classes', (t) => {
  const cases: [string, new (...a: any[]) => api.VaultError, api.ErrorCode][] = [
    ['NOT_FOUND: key k', api.NotFoundError, 'NOT_FOUND'],
    ['DATABASE_BUSY: /x.db: database is locked', api.DatabaseBusyError, 'DATABASE_BUSY'],
    ['INVALID_ARGUMENT: bad dtype "q9"', api.InvalidArgumentError, 'INVALID_ARGUMENT'],
    ['IO_ERROR: /nope: permission denied', api.VaultIoError, 'IO_ERROR'],
    ['CORRUPT: /x.db: file is not a database', api.CorruptDataError, 'CORRUPT'],
    ['CLOSED: vault /x.db is closed', api.ClosedError, 'CLOSED'],
  ]
  for (const [message, cls, code] of cases) {
    const e = toVaultError(new Error(message)) as api.VaultError
    t.true(e instanceof cls, message)
    t.true(e instanceof api.VaultError)
    t.true(e instanceof Error)
    t.is(e.code, code)
    t.is(e.message, message.slice(code.length + 2))
    t.is(e.name, cls.name)
  }
  const plain = new Error('something else')
  t.is(toVaultError(plain), plain, 'errors without a code pass through untouched')
  t.throws(() => native(() => { throw new Error('CLOSED: gone') }), { instanceOf: api.ClosedError, message: 'gone' })
})

test('the package entry works from require and import', (t) => {
  const root = path.join(__dirname, '..')
  const cjs = spawnSync(process.execPath, ['-e', "const a = require('ambervault'); if (typeof a.VaultError !== 'function') process.exit(3)"], { cwd: root })
  t.is(cjs.status, 0, cjs.stderr.toString())
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { VaultError, nativeVersion } from 'ambervault'; if (typeof VaultError !== 'function' || !nativeVersion()) process.exit(3)"], { cwd: root })
  t.is(esm.status, 0, esm.stderr.toString())
})
