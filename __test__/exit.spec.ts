// Write-back caches reach the disk on every normal way out of a process: Ctrl-C and SIGTERM
// included, keeping the usual signal exit, and a program's own signal handler still decides.
import test from 'ava'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { ColumnVault, KVault } from '../src/index'
import { tempDir } from './temp-dirs'

const entry = JSON.stringify(path.join(__dirname, '..', 'src', 'index.ts'))

function tmpDir(): string {
  return tempDir('amber-exit-')
}

/** A child that caches writes (intervals far away), says ready, then idles until signalled. */
function childScript(dir: string, ownHandler: boolean): string {
  return `const { KVault, ColumnVault } = require(${entry});
    const kv = new KVault(${JSON.stringify(path.join(dir, 'kv.db'))}, { cache: { flushIntervalMs: 600000 } });
    for (let i = 0; i < 500; i++) kv.put('k' + i, { i });
    const cv = new ColumnVault(${JSON.stringify(path.join(dir, 'cols.db'))});
    const col = cv.createColumn('x', 'f64');
    cv.enableCache({ flushIntervalMs: 600000 });
    for (let i = 0; i < 1000; i++) col.append(i / 2);
    ${ownHandler ? "process.on('SIGINT', () => { process.stdout.write('handled\\n'); setTimeout(() => process.exit(0), 50) });" : ''}
    setInterval(() => {}, 1000);
    process.stdout.write('ready\\n');`
}

async function runUntilReady(dir: string, ownHandler: boolean, signal: NodeJS.Signals) {
  const child = spawn(process.execPath, ['--import=tsx', '-e', childScript(dir, ownHandler)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, sig) => resolve({ code, signal: sig })),
  )
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('ready')) resolve()
    })
    child.on('exit', () => reject(new Error(`child exited before ready: ${err}`)))
  })
  child.kill(signal)
  const result = await exited
  return { ...result, out, err }
}

function assertFlushed(t: import('ava').ExecutionContext, dir: string): void {
  const kv = new KVault(path.join(dir, 'kv.db'), { readonly: true })
  t.is(kv.size, 500)
  t.deepEqual(kv.get('k499'), { i: 499 })
  kv.close()
  const cv = new ColumnVault(path.join(dir, 'cols.db'))
  const col = cv.column('x')
  t.is(col.length, 1000)
  t.is(col.get(-1), 999 / 2)
  cv.close()
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} flushes cached KVault and column writes and the process still dies by ${signal}`, async (t) => {
    const dir = tmpDir()
    const res = await runUntilReady(dir, false, signal)
    t.is(res.signal, signal, res.err)
    assertFlushed(t, dir)
  })
}

test("a program's own SIGINT handler keeps control of the exit, and the caches are flushed", async (t) => {
  const dir = tmpDir()
  const res = await runUntilReady(dir, true, 'SIGINT')
  t.is(res.code, 0, res.err)
  t.true(res.out.includes('handled'))
  assertFlushed(t, dir)
})
