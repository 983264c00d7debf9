/**
 * Work to run on every normal way out of the process or worker thread: the end of the script and
 * uncaught exceptions (the 'exit' event), and SIGINT / SIGTERM on the main thread, after which the
 * signal is raised again so the process keeps its usual exit code (128 + signal). Write-back caches
 * flush here and boards close. One set of listeners serves every hook and is installed only while a
 * hook is registered: opening many vaults adds no listeners, and nothing here keeps the process alive.
 */
import { constants } from 'node:os'
import { isMainThread } from 'node:worker_threads'

export interface ExitReason {
  /** The code the process leaves with (128 + the signal's number for a signal). */
  code: number
  /** Set when the process leaves because of SIGINT or SIGTERM. */
  signal?: 'SIGINT' | 'SIGTERM'
}
type Hook = (reason: ExitReason) => void

const hooks = new Set<Hook>()
let installed = false

function runAll(reason: ExitReason): void {
  for (const hook of [...hooks]) {
    try {
      hook(reason)
    } catch (e) {
      // The process is going away: report, and keep running the others.
      process.stderr.write(`ambervault: work at exit failed: ${(e as Error)?.message ?? e}\n`)
    }
  }
}

function onProcessExit(code: number): void {
  runAll({ code })
}

function onSignal(signal: 'SIGINT' | 'SIGTERM'): void {
  // Another listener means the program handles the signal itself: leave the exit to it (asked
  // before the hooks run, since hooks that unregister themselves may uninstall this listener).
  const programHandles = process.listenerCount(signal) > 1
  runAll({ signal, code: 128 + constants.signals[signal] })
  if (programHandles) return
  uninstall()
  process.kill(process.pid, signal)
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', onProcessExit)
  // Signals reach the main thread only; a worker's hooks run on its own 'exit'.
  if (isMainThread) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
}

function uninstall(): void {
  if (!installed) return
  installed = false
  process.off('exit', onProcessExit)
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

/** Run `hook` once the process leaves normally; returns the function that unregisters it. */
export function onExit(hook: Hook): () => void {
  hooks.add(hook)
  install()
  return () => {
    hooks.delete(hook)
    if (hooks.size === 0) uninstall()
  }
}
