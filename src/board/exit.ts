/**
 * Closing boards on every normal way out of the process: end of script and uncaught exceptions
 * (the 'exit' event), SIGINT and SIGTERM (finish, then re-raise so the exit code stays the usual
 * 128 + signal). Only installed while a board is open; nothing here keeps the process alive.
 */
import { isMainThread } from 'node:worker_threads'

export interface Closable {
  /** Synchronous final flush and close; `code` is the process exit code. */
  closeOnExit(status: 'finished' | 'crashed' | 'killed', code: number): void
}

const open = new Set<Closable>()
let installed = false

function closeAll(status: 'finished' | 'crashed' | 'killed', code: number): void {
  for (const b of [...open]) {
    try {
      b.closeOnExit(status, code)
    } catch {
      // Exit must go on; the run's logs stay on disk and are replayed on the next open.
    }
  }
  open.clear()
}

function onExit(code: number): void {
  closeAll(code === 0 ? 'finished' : 'crashed', code)
}

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (signal === 'SIGINT' ? 2 : 15)
  closeAll('killed', code)
  uninstall()
  // Another listener means the program handles the signal itself: leave the exit to it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function install(): void {
  if (installed) return
  installed = true
  process.on('exit', onExit)
  // Signals reach the main thread only; a worker's boards close on its own 'exit'.
  if (isMainThread) {
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  }
}

function uninstall(): void {
  if (!installed) return
  installed = false
  process.off('exit', onExit)
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
}

export function registerExit(b: Closable): void {
  open.add(b)
  install()
}

export function unregisterExit(b: Closable): void {
  open.delete(b)
  if (open.size === 0) uninstall()
}
