/**
 * Temp folders for a bench process. Each is `<tmpdir>/<prefix>XXXXXX`; `removeTemp` removes one as
 * soon as its part of the bench is done (call it in a `finally`), and whatever is left is removed
 * when the process exits: at the end, through process.exit (a time cap, an error) or on SIGINT,
 * SIGTERM or SIGHUP (Ctrl-C in a long bench).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { join } from 'node:path'

const made = new Set<string>()
let hooked = false

function remove(dir: string): void {
  made.delete(dir)
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
  } catch (e) {
    process.stderr.write(`could not remove ${dir}: ${(e as Error).message}\n`)
  }
}

function hook(): void {
  hooked = true
  process.on('exit', () => {
    for (const dir of [...made]) remove(dir)
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Leave on the next turn, after this signal's other listeners (ambervault's exit hooks close
    // open boards and flush caches): process.exit runs the 'exit' listener above. The exit code is
    // the one a shell reports for death by that signal.
    process.on(signal, () => setImmediate(() => process.exit(128 + constants.signals[signal])))
  }
}

/** A fresh temp folder, removed by `removeTemp` or when the process exits. */
export function benchTemp(prefix: string): string {
  if (!hooked) hook()
  const dir = mkdtempSync(join(tmpdir(), prefix))
  made.add(dir)
  return dir
}

/** Remove a folder from `benchTemp` now. */
export function removeTemp(dir: string): void {
  remove(dir)
}
