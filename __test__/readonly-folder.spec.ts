/**
 * `new KVault(path, { readonly: true })` on a file in a folder that cannot be written
 * (docs/format.md, "Connection settings"): on a read-only mount the file reads as it is; in a
 * folder only this user cannot write, the error says what to do; a writer's live file reads
 * either way. CI runs as root, for whom permissions bind nothing, so the mount is a read-only
 * bind mount made here (unmounted at the end) and the other user is `nobody` via runuser. When
 * either is impossible here, its test is skipped and says why.
 */
import test from 'ava'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'

import { KVault, VaultIoError } from '../src/index'

const ROOT = path.join(__dirname, '..')
const READER = path.join(__dirname, 'fixtures', 'readonly-reader.ts')

function run(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.error) return `${cmd}: ${r.error.message}`
  return r.status === 0 ? null : `${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`
}

/** A read-only bind mount of `src` at `dst`, or why there cannot be one. */
function mountReadonly(src: string, dst: string): string | null {
  if (process.platform !== 'linux') return 'bind mounts need Linux'
  if (process.getuid?.() !== 0) return 'mounting needs root'
  const why = run('mount', ['--bind', src, dst])
  if (why) return why
  const ro = run('mount', ['-o', 'remount,ro,bind', dst])
  if (ro) {
    run('umount', [dst])
    return ro
  }
  return null
}

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'av-ro-'))
fs.chmodSync(base, 0o755)
const src = path.join(base, 'src')
const mnt = path.join(base, 'mnt')
fs.mkdirSync(src, { mode: 0o755 })
fs.mkdirSync(mnt)
const mountWhy = mountReadonly(src, mnt)
if (mountWhy) console.warn(`readonly-folder: read-only mount test skipped: ${mountWhy}`)
let mounted = mountWhy === null

test.after.always(() => {
  if (mounted) run('umount', [mnt])
  mounted = false
  fs.rmSync(base, { recursive: true, force: true })
})

/** Why the reader cannot run as `nobody` here, or null. */
function asNobodyWhy(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'running as another user needs root on Linux'
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--import=tsx', READER, path.join(base, 'none.db')], { cwd: ROOT, encoding: 'utf8' })
  if (probe.error) return `runuser: ${probe.error.message}`
  try {
    if (JSON.parse(probe.stdout).error) return null
  } catch {}
  return `nobody cannot run the reader from ${ROOT}: ${probe.stderr.trim().split('\n')[0] ?? `exit ${probe.status}`}`
}
const nobodyWhy = asNobodyWhy()
if (nobodyWhy) console.warn(`readonly-folder: other-user test skipped: ${nobodyWhy}`)

function asNobody(file: string): any {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '--import=tsx', READER, file], { cwd: ROOT, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`reader failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}

;(mounted ? test.serial : test.serial.skip)('a read-only mount reads: closed files as they are, live ones through their -shm; an unmerged -wal is a clear error', (t) => {
  const w = new KVault(path.join(src, 'kv.db'))
  w.set('a', 1)
  w.set('o', { z: -0, s: 'é' })
  w.close()
  t.throws(() => fs.writeFileSync(path.join(mnt, 'probe'), 'x'), { code: 'EROFS' })

  const kv = new KVault(path.join(mnt, 'kv.db'), { readonly: true })
  t.is(kv.get('a'), 1)
  t.deepEqual(kv.get('o'), { z: -0, s: 'é' })
  t.deepEqual([...kv.keys()].map(String), ['a', 'o'])
  t.throws(() => kv.set('a', 2), { message: /readonly/ })
  kv.close()
  t.deepEqual(fs.readdirSync(mnt).sort(), ['kv.db'], 'nothing created beside it')

  // A file its writer has open: its -shm exists, and the reader sees later commits too.
  const live = new KVault(path.join(src, 'live.db'))
  live.set('n', 1)
  const r = new KVault(path.join(mnt, 'live.db'), { readonly: true })
  t.is(r.get('n'), 1)
  live.set('n', 2)
  t.is(r.get('n'), 2)
  // A copy of its -wal without a -shm: changes the file does not hold yet, unreadable here.
  fs.copyFileSync(path.join(src, 'live.db'), path.join(src, 'copy.db'))
  fs.copyFileSync(path.join(src, 'live.db-wal'), path.join(src, 'copy.db-wal'))
  r.close()
  live.close()
  const e = t.throws(() => new KVault(path.join(mnt, 'copy.db'), { readonly: true }), { instanceOf: VaultIoError })
  t.regex(e!.message, /copy\.db-wal holds \d+ bytes of changes.*Open the file once where it can be written/)
})

;(nobodyWhy === null ? test.serial : test.serial.skip)('in a folder another user cannot write, the error says what to do; a live file reads', (t) => {
  const dir = path.join(base, 'owned')
  fs.mkdirSync(dir, { mode: 0o755 })
  const file = path.join(dir, 'kv.db')
  const w = new KVault(file)
  w.set('a', 1)
  w.close()
  fs.chmodSync(file, 0o644)
  const got = asNobody(file)
  t.is(got.error, 'VaultIoError')
  t.regex(got.message, /cannot be read in place: it is a WAL file.*cannot write the folder\. Make the folder writable/)
  // While its writer has it open, the -shm exists and the other user reads it.
  const live = new KVault(file)
  live.set('b', 2)
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644)
  t.deepEqual(asNobody(file), { values: { a: 1, b: 2 } })
  live.close()
})
