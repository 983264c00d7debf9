/**
 * Holding a SQLite file's write lock from another process, for the busy-file tests. It must be
 * another process: SQLite's POSIX locks do not separate two SQLite copies (another npm
 * package's) inside one process. Python's stdlib sqlite3 holds it.
 */
import { spawn, type ChildProcess } from 'node:child_process'

const locker = `
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]) / 1000)
open(sys.argv[1] + ".released", "w").close()
db.execute("COMMIT")
`

/** Start a process that holds the file's write lock for `ms` (then writes `<file>.released`
 *  and commits); resolves once it holds the lock. */
export async function lockFor(file: string, ms: number): Promise<ChildProcess> {
  const p = spawn('python3', ['-c', locker, file, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve())
    p.once('error', reject)
    p.once('exit', (code) => reject(new Error(`locker exited early (${code})`)))
  })
  return p
}
