/**
 * `Board`: non-blocking experiment logging (docs/api.md, Board). The owner Board creates the run
 * folder, holds the run's owner lock and runs the native writer thread; `Board.attach(runDir)`
 * gives worker threads and child processes a logger of their own (one log file each) into the
 * same run. `log()` only writes into the memory-mapped log (see logWriter.ts).
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { threadId } from 'node:worker_threads'
import binding from '../native'
import { ClosedError, InvalidArgumentError, native, nativeAsync } from '../errors'
import { FLAG_NO_STEP_ROW, LogWriter, Subkind } from './logWriter'
import { checkName, showName } from './names'
import { patchMetadata } from './metadata'
import { isLoggable, Loggable, writePayload } from './encode'
import { OutputCapture } from './capture'
import { SystemMonitor } from './system'
import { onExit, type ExitReason } from '../exit-hooks'
import { BackgroundSync, checkRemote } from '../sync/background'
import type { BoardRemote } from '../sync/background'

export interface BoardOptions {
  name?: string
  project?: string
  baseDir?: string
  runId?: string
  annotation?: string
  config?: Record<string, unknown>
  captureOutput?: boolean
  systemMetrics?: boolean | { intervalMs?: number }
  /** Stream the run to a team server (`amber serve`) in the background. */
  remote?: BoardRemote
}

export type LogValue = number | Loggable

export interface LogOptions {
  /** Set the global step to this (>= the current one) for this call and after, like W&B's `step=`. */
  step?: number
}

/** How long an attached logger waits for the owner to store its records on flush. */
const ATTACHED_FLUSH_TIMEOUT_MS = 60_000
const SAFE_PART = /^[A-Za-z0-9._-]+$/

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** `v` as JSON would store it (a copy); a function, symbol, BigInt or cycle is an InvalidArgumentError. */
function toJson(v: unknown, what: string): unknown {
  let text: string | undefined
  try {
    text = JSON.stringify(v, (k, x: unknown) => {
      if (typeof x === 'function' || typeof x === 'symbol') throw new TypeError(`${k ? JSON.stringify(k) : 'the value'} is a ${typeof x}`)
      return x
    })
  } catch (e) {
    throw new InvalidArgumentError(`${what} is not JSON-serialisable: ${(e as Error).message}`, { cause: e })
  }
  return JSON.parse(text as string)
}

function checkPart(what: string, v: unknown): string {
  if (typeof v !== 'string' || !SAFE_PART.test(v) || v === '.' || v === '..') {
    throw new InvalidArgumentError(`Board ${what} ${JSON.stringify(v)} must be letters, digits, '.', '_' or '-'`)
  }
  return v
}

function defaultRunId(): string {
  const d = new Date()
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}_${randomBytes(3).toString('hex')}`
}

function writerId(role: string): string {
  return `${role}-${process.pid}-${threadId}-${randomBytes(4).toString('hex')}`
}

export class Board {
  readonly runDir: string
  readonly runId: string
  readonly name: string
  /** @internal */
  private readonly writer: LogWriter
  /** @internal */
  private readonly owner: InstanceType<typeof binding.BoardOwner> | null
  /** @internal */
  private _step = 0
  /** @internal */
  private _globalStep = 0
  /** @internal */
  private closed = false
  /** @internal */
  private capture: OutputCapture | null = null
  /** @internal */
  private monitor: SystemMonitor | null = null
  /** @internal */
  private sync: BackgroundSync | null = null
  /** @internal */
  private unhookExit: () => void = () => {}

  constructor(opts: BoardOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw new InvalidArgumentError('Board options must be an object')
    const project = checkPart('project', opts.project ?? 'default')
    const runId = checkPart('runId', opts.runId ?? defaultRunId())
    const annotation = opts.annotation === undefined ? undefined : checkPart('annotation', opts.annotation)
    if (opts.name !== undefined && typeof opts.name !== 'string') throw new InvalidArgumentError('Board name must be a string')
    if (opts.config !== undefined && (opts.config === null || typeof opts.config !== 'object')) {
      throw new InvalidArgumentError('Board config must be an object')
    }
    const baseDir = path.resolve(opts.baseDir ?? './amberboard')
    if (fs.existsSync(baseDir) && !fs.statSync(baseDir).isDirectory()) {
      throw new InvalidArgumentError(`Board baseDir ${baseDir} is a file, not a folder`)
    }
    const interval = typeof opts.systemMetrics === 'object' ? opts.systemMetrics.intervalMs ?? 10_000 : 10_000
    if (!(Number.isFinite(interval) && interval >= 50)) throw new InvalidArgumentError(`systemMetrics.intervalMs must be >= 50 (got ${interval})`)
    const remote = opts.remote === undefined ? null : checkRemote(opts.remote)
    let config: unknown
    try {
      config = JSON.parse(JSON.stringify(opts.config ?? {}))
    } catch (e) {
      throw new InvalidArgumentError(`Board config is not JSON-serialisable: ${(e as Error).message}`)
    }

    this.runId = runId
    this.name = opts.name ?? runId
    this.runDir = path.join(baseDir, project, annotation ? `${runId}_${annotation}` : runId)
    const metadata = {
      name: this.name, project, runId, annotation: annotation ?? null, config,
      host: os.hostname(), pid: process.pid, argv: process.argv, version: binding.nativeVersion(),
    }
    this.owner = native(() => new binding.BoardOwner(this.runDir, JSON.stringify(metadata)))
    try {
      this.writer = new LogWriter(this.runDir, writerId('main'))
    } catch (e) {
      this.owner.finish('crashed', null)
      throw e
    }
    this.unhookExit = onExit((reason) => this.closeOnExit(reason))
    if (opts.captureOutput ?? true) {
      this.capture = new OutputCapture((stream, text) => this.writeOutput(stream, text))
    }
    if (opts.systemMetrics) {
      this.monitor = new SystemMonitor(interval, (s) => {
        if (!this.closed) this.writer.scalars(s, this._step, this._globalStep, Date.now(), FLAG_NO_STEP_ROW)
      })
    }
    if (remote) this.sync = new BackgroundSync(this.runDir, { ...remote, project: remote.project ?? project })
  }

  /** A logger for an existing, running run, for worker threads and child processes. */
  static attach(runDir: string): Board {
    if (typeof runDir !== 'string' || runDir === '') throw new InvalidArgumentError('Board.attach needs a run folder path')
    const dir = path.resolve(runDir)
    native(() => binding.boardCheckAttachable(dir))
    const b = Object.create(Board.prototype) as Board
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as { runId?: string; name?: string }
    Object.assign(b, {
      runDir: dir, runId: meta.runId ?? path.basename(dir), name: meta.name ?? path.basename(dir),
      owner: null, _step: 0, _globalStep: 0, closed: false, capture: null, monitor: null,
      writer: new LogWriter(dir, writerId('attached')),
    })
    b.unhookExit = onExit((reason) => b.closeOnExit(reason))
    return b
  }

  get globalStep(): number {
    return this._globalStep
  }

  /**
   * Log values under the next step. Returns without touching the disk. `opts.step` sets the
   * global step for this call and after (it never goes back).
   */
  log(values: Record<string, LogValue>, opts?: LogOptions): void {
    if (this.closed) throw new ClosedError(`board ${this.runDir} is finished`)
    if (opts !== undefined) return this.logAt(values, opts)
    const step = this._step
    if (this.writer.tryScalars(values, step, this._globalStep, Date.now(), 0)) {
      this._step = step + 1
      return
    }
    this.logSlow(values, step, this._globalStep)
  }

  /** @internal `log(values, { step })`: the global step changes only once the call is known to log. */
  private logAt(values: Record<string, LogValue>, opts: LogOptions): void {
    const gs = this.explicitStep(opts)
    const step = this._step
    if (this.writer.tryScalars(values, step, gs, Date.now(), 0)) this._step = step + 1
    else this.logSlow(values, step, gs)
    this._globalStep = gs
  }

  /** @internal The global step `opts` asks for (the current one when it gives none). */
  private explicitStep(opts: unknown): number {
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
      const got = opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts === 'number' || typeof opts === 'string' ? JSON.stringify(opts) : typeof opts
      throw new InvalidArgumentError(`log(values, options): options must be an object like { step: n } (got ${got})`)
    }
    for (const k of Object.keys(opts)) {
      if (k !== 'step') throw new InvalidArgumentError(`log(values, options): unknown option ${JSON.stringify(k)} (the only option is step)`)
    }
    const n = (opts as LogOptions).step
    if (n === undefined) return this._globalStep
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new InvalidArgumentError(`log(values, { step }): step must be a non-negative integer (got ${typeof n === 'number' ? n : typeof n})`)
    }
    if (n < this._globalStep) {
      throw new InvalidArgumentError(`log(values, { step: ${n} }): the global step is already ${this._globalStep} and never goes back`)
    }
    return n
  }

  /** @internal Validate everything first (so a bad call logs nothing), then write. */
  private logSlow(values: Record<string, LogValue>, step: number, gs: number): void {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      throw new InvalidArgumentError('log() takes an object of { name: value }')
    }
    const scalars: Array<[string, number]> = []
    const payloads: Array<[string, Loggable]> = []
    for (const k of Object.keys(values)) {
      const v = values[k] as unknown
      if (typeof v === 'number') scalars.push([k, v])
      else if (isLoggable(v)) payloads.push([k, v])
      else {
        const shown = typeof v === 'string' ? JSON.stringify(v).slice(0, 40) : v === null ? 'null' : typeof v
        throw new InvalidArgumentError(`log(): ${showName(k)} is ${shown}; expected a number or a log type`)
      }
      // Every new name of the call is checked before anything of it is written.
      if (!this.writer.knows(k)) checkName(k, 'log(): metric name')
    }
    const ts = Date.now()
    if (scalars.length > 0) this.writer.scalars(scalars, step, gs, ts, 0)
    for (const [k, v] of payloads) writePayload(this.writer, k, v, step, gs, ts)
    this._step = step + 1
  }

  /**
   * Merge `patch` into the run's `config` (top-level keys: a key given replaces the stored
   * value), written to metadata.json atomically before this returns; a `remote` sync carries it.
   */
  updateConfig(patch: Record<string, unknown>): void {
    if (this.closed) throw new ClosedError(`board ${this.runDir} is finished`)
    if (patch === null || typeof patch !== 'object' || Array.isArray(patch) || !isPlainObject(patch)) {
      throw new InvalidArgumentError(`updateConfig(patch): patch must be a plain object (got ${patch === null ? 'null' : Array.isArray(patch) ? 'an array' : typeof patch === 'object' ? (patch as object).constructor?.name ?? 'an object' : typeof patch})`)
    }
    const clean = toJson(patch, 'updateConfig(patch)') as Record<string, unknown>
    patchMetadata(this.runDir, (meta) => {
      const old = meta.config
      const base = old !== null && typeof old === 'object' && !Array.isArray(old) ? old : {}
      return { config: { ...base, ...clean } }
    })
  }

  /** Advance global_step by `n` (default 1); returns the new value. */
  step(n = 1): number {
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`step(n): n must be a non-negative integer (got ${n})`)
    this._globalStep += n
    return this._globalStep
  }

  /** @internal */
  private writeOutput(stream: 'stdout' | 'stderr', text: string): void {
    if (this.closed || text.length === 0) return
    this.writer.payload('', Subkind.Output, { stream }, new TextEncoder().encode(text), this._step, this._globalStep, Date.now())
  }

  /** Resolves once everything this board logged so far is stored in the run's SQLite files. */
  async flush(): Promise<void> {
    if (this.closed) return
    const { seq, offset } = this.writer.position()
    if (this.owner) await nativeAsync(() => this.owner!.flush(this.writer.id, seq, offset))
    else await nativeAsync(() => binding.boardWaitCommitted(this.runDir, this.writer.id, seq, offset, ATTACHED_FLUSH_TIMEOUT_MS))
  }

  /** Flush, mark the run finished (owner) and release everything. Idempotent. */
  async finish(): Promise<void> {
    if (this.closed) return
    await this.flush()
    this.close('finished', null)
    // The last sync pass carries the final status; bounded by remote.finishTimeoutMs.
    if (this.sync) await this.sync.finish()
  }

  /** @internal */
  private close(status: 'finished' | 'crashed' | 'killed', code: number | null): void {
    if (this.closed) return
    this.monitor?.stop()
    this.capture?.stop()
    this.closed = true
    this.unhookExit()
    if (this.owner) {
      native(() => this.owner!.finish(status, code))
    } else {
      const { seq, offset } = this.writer.position()
      native(() => binding.boardWaitCommittedSync(this.runDir, this.writer.id, seq, offset, ATTACHED_FLUSH_TIMEOUT_MS))
    }
    // Everything this writer logged is stored: its log segments are no longer needed.
    native(() => binding.boardReleaseWriter(this.runDir, this.writer.id))
  }

  /** @internal Synchronous final flush and close when the process leaves: a signal means killed. */
  private closeOnExit({ code, signal }: ExitReason): void {
    this.sync?.stop()
    this.close(signal ? 'killed' : code === 0 ? 'finished' : 'crashed', code)
  }
}
