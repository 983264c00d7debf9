/**
 * The background sync behind `new Board({ remote })`: a worker thread that repeatedly syncs the
 * run folder (src/sync/sync.ts), reading only what the Board's writer has committed. `log()`
 * never sees it: the worker has its own event loop, its own SQLite read handles and its own
 * connections, and it never keeps the process alive. `finish()` asks it for a last pass that
 * carries the final status and waits for it (bounded); a run left behind by an exit without
 * `finish()` is completed later by `amber sync`, which resumes from the server's counts.
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { InvalidArgumentError } from '../errors'

export interface BoardRemote {
  url: string
  token: string
  /** Project on the server (default: the Board's project). */
  project?: string
  /** Pause between passes (default 1000 ms). */
  intervalMs?: number
  /** How long `finish()` waits for the last pass (default 30 s). */
  finishTimeoutMs?: number
}

export interface WorkerData {
  runDir: string
  remote: BoardRemote
}

/** The worker's entry file next to this one (.ts under tsx, .js when built). */
function workerFile(): { file: string; eval: boolean } {
  const ts = path.join(__dirname, 'worker.ts')
  if (__filename.endsWith('.ts') && fs.existsSync(ts)) return { file: `require('tsx/cjs'); require(${JSON.stringify(ts)})`, eval: true }
  return { file: path.join(__dirname, 'worker.js'), eval: false }
}

export function checkRemote(remote: unknown): BoardRemote {
  const r = remote as BoardRemote
  if (r === null || typeof r !== 'object') throw new InvalidArgumentError('Board remote must be { url, token }')
  if (typeof r.url !== 'string' || !/^https?:\/\//.test(r.url)) throw new InvalidArgumentError(`Board remote.url ${JSON.stringify(r.url)} must be an http(s) URL`)
  if (typeof r.token !== 'string' || r.token === '') throw new InvalidArgumentError(`Board remote.token for ${r.url} must be a non-empty string`)
  if (r.intervalMs !== undefined && !(Number.isFinite(r.intervalMs) && r.intervalMs >= 10)) throw new InvalidArgumentError(`Board remote.intervalMs must be >= 10 (got ${r.intervalMs})`)
  return { url: r.url, token: r.token, project: r.project, intervalMs: r.intervalMs, finishTimeoutMs: r.finishTimeoutMs }
}

export class BackgroundSync {
  private readonly worker: Worker
  private done: Promise<boolean> | null = null

  constructor(runDir: string, private readonly remote: BoardRemote) {
    const w = workerFile()
    const data: WorkerData = { runDir, remote }
    this.worker = new Worker(w.file, { eval: w.eval, workerData: data, stdout: false, stderr: false })
    this.worker.unref()
    this.worker.on('error', () => undefined)
  }

  /** Last pass with the final status; resolves true once the server has everything. */
  finish(): Promise<boolean> {
    if (this.done) return this.done
    const timeout = (this.remote.finishTimeoutMs ?? 30_000) + 1000
    this.done = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout)
      this.worker.once('message', (m: { type: string; ok: boolean }) => {
        clearTimeout(timer)
        resolve(m.type === 'finished' && m.ok)
      })
      this.worker.once('exit', () => {
        clearTimeout(timer)
        resolve(false)
      })
      this.worker.ref()
      this.worker.postMessage({ type: 'finish' })
    }).then(async (ok) => {
      await this.worker.terminate()
      return ok
    })
    return this.done
  }

  /** Stop at once (process exit): what is not synced yet waits for `amber sync`. */
  stop(): void {
    void this.worker.terminate()
  }
}
