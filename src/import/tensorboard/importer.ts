/**
 * `amber import tensorboard`: every folder of TensorBoard event files under a logdir becomes a
 * run (docs/api.md, "Importing TensorBoard logs"). This module finds the runs, decides what to
 * import and puts each run in place; run-writer.ts writes one run.
 *
 * - A run is written into a folder of its own under `<baseDir>/.amber-import/` and renamed into
 *   `<baseDir>/<project>/<folder>` once complete, so a failure (a corrupt record, a full disk, a
 *   kill) never leaves half a run where the viewer looks.
 * - Idempotency: the run's metadata records where it came from and the name, size and mtime of
 *   each event file read (`importedFrom`); the folder name is derived from the source folder's
 *   path. Importing again skips a run whose files are unchanged, and imports a changed one again,
 *   whole, replacing the earlier copy (a log still being written is re-read, never half-merged).
 */
import * as fs from 'node:fs'
import * as path from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { CorruptDataError, InvalidArgumentError, NotFoundError, VaultIoError } from '../../errors'
import { patchMetadata, readMetadata } from '../../board/metadata'
import { RecordReader } from './records'
import { decodeEvent } from './proto'
import type { TbEvent } from './proto'
import { RunWriter } from './run-writer'
import type { ImportCounts } from './run-writer'

export type { ImportCounts } from './run-writer'

const SAFE_PART = /^[A-Za-z0-9._-]+$/
/** Folder (under the base dir) holding runs while they are being imported. */
export const IMPORT_TMP = '.amber-import'
const PROGRESS_EVERY_BYTES = 1 << 18
/** Metadata a person adds to a run (its labels): kept when a changed run is imported again. */
const KEPT_ON_REIMPORT = ['tags', 'note', 'archived']

export interface EventFile {
  path: string
  name: string
  size: number
  mtimeMs: number
}

/** A folder of event files: one run. */
export interface EventRun {
  /** The run's name: its path under the logdir (`train`, `runA/eval`), the logdir's own name for files directly in it. */
  name: string
  /** Absolute path of the folder. */
  dir: string
  /** Its event files, in the order TensorBoard reads them (by name). */
  files: EventFile[]
}

export interface ImportedRun {
  name: string
  /** The folder of event files. */
  source: string
  runDir: string
  /** `replaced`: an earlier import of changed files was imported again; `up-to-date`: nothing to do. */
  status: 'imported' | 'replaced' | 'up-to-date' | 'failed'
  /** What was written (imported or replaced runs). */
  counts?: ImportCounts
  /** Why the run was not imported (nothing of it was left in the base dir). */
  error?: Error
}

export interface ImportOptions {
  /** Base dir of the runs (default './amberboard'). */
  baseDir?: string
  /** Project of the imported runs (default 'tensorboard'). */
  project?: string
  /** Told of anything skipped (an incomplete final record, kinds not imported). */
  onWarning?: (message: string) => void
  /** Bytes of event files read so far, of `total` to read (runs already up to date not counted). */
  onProgress?: (done: number, total: number) => void
}

function isEventFile(name: string): boolean {
  // TensorBoard's own test (io_wrapper.IsSummaryEventsFile); '.profile-empty' files are markers
  // the profiler writes, with no summaries.
  return name.includes('tfevents') && !name.endsWith('.profile-empty')
}

/** Every folder under `logdir` (itself included) holding event files, sorted by name. */
export function findEventRuns(logdir: string): EventRun[] {
  const root = path.resolve(logdir)
  let st: fs.Stats
  try {
    st = fs.statSync(root)
  } catch {
    throw new NotFoundError(`no such folder: ${root}`)
  }
  if (!st.isDirectory()) throw new InvalidArgumentError(`${root} is a file; give the folder that holds the event files (the logdir)`)
  const runs: EventRun[] = []
  const walk = (dir: string): void => {
    let entries: fs.Dirent[]
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true })
    } catch (e) {
      throw new VaultIoError(`${dir}: ${(e as Error).message}`, { cause: e })
    }
    const files: EventFile[] = []
    const subdirs: string[] = []
    for (const e of entries) {
      const p = path.join(dir, e.name)
      // Symbolic links to files are read; links to folders are not followed (no cycles).
      if (e.isDirectory()) subdirs.push(p)
      else if ((e.isFile() || e.isSymbolicLink()) && isEventFile(e.name)) {
        try {
          const s = fs.statSync(p)
          if (s.isFile()) files.push({ path: p, name: e.name, size: s.size, mtimeMs: s.mtimeMs })
        } catch {
          // a dangling link: nothing to read
        }
      }
    }
    if (files.length) {
      files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      const rel = path.relative(root, dir).split(path.sep).join('/')
      runs.push({ name: rel || path.basename(root), dir, files })
    }
    for (const d of subdirs.sort()) walk(d)
  }
  walk(root)
  return runs
}

/**
 * The run folder a source folder imports into: its name made folder-safe, plus 8 hex digits of
 * a hash of its absolute path, so `a/train` and `b/train` imported into one project stay apart
 * and importing the same folder again finds the same run.
 */
export function runFolderName(run: EventRun): string {
  const safe = run.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 96).replace(/^\.+$/, '')
  const hash = createHash('sha256').update(run.dir).digest('hex').slice(0, 8)
  return `${safe || 'run'}-${hash}`
}

interface ImportRecord {
  format: 'tensorboard'
  source: string
  files: Array<{ name: string; size: number; mtimeMs: number }>
  counts?: ImportCounts
  importedAt?: string
}

function fileList(run: EventRun): ImportRecord['files'] {
  return run.files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs }))
}

/** What an existing run folder says it was imported from (null: not an import). */
function importedFrom(runDir: string): ImportRecord | null {
  try {
    const rec = readMetadata(runDir).importedFrom as ImportRecord | undefined
    return rec && typeof rec === 'object' && rec.format === 'tensorboard' ? rec : null
  } catch {
    return null
  }
}

function sameFiles(a: ImportRecord['files'], b: ImportRecord['files']): boolean {
  return a.length === b.length && a.every((f, i) => f.name === b[i].name && f.size === b[i].size && f.mtimeMs === b[i].mtimeMs)
}

/** Remove import folders left by processes that are gone (a kill mid-import). */
function removeStale(tmpBase: string): void {
  let names: string[]
  try {
    names = fs.readdirSync(tmpBase)
  } catch {
    return
  }
  for (const n of names) {
    const pid = Number(n.split('-')[0])
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue
    try {
      process.kill(pid, 0)
      continue
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPERM') continue
    }
    fs.rmSync(path.join(tmpBase, n), { recursive: true, force: true })
  }
}

/** Import every run of `logdir`; one run's failure is reported in its result, the others go on. */
export async function importTensorBoard(logdir: string, opts: ImportOptions = {}): Promise<ImportedRun[]> {
  const project = opts.project ?? 'tensorboard'
  if (typeof project !== 'string' || !SAFE_PART.test(project) || project === '.' || project === '..') {
    throw new InvalidArgumentError(`project ${JSON.stringify(project)} must be letters, digits, '.', '_' or '-'`)
  }
  const base = path.resolve(opts.baseDir ?? './amberboard')
  if (fs.existsSync(base) && !fs.statSync(base).isDirectory()) throw new InvalidArgumentError(`base dir ${base} is a file, not a folder`)
  const runs = findEventRuns(logdir)
  if (runs.length === 0) throw new NotFoundError(`no TensorBoard event files (events.out.tfevents.*) under ${path.resolve(logdir)}`)
  const warn = opts.onWarning ?? (() => {})
  const tmpBase = path.join(base, IMPORT_TMP)
  removeStale(tmpBase)

  const plan = runs.map((run) => {
    const runDir = path.join(base, project, runFolderName(run))
    const prior = fs.existsSync(runDir) ? importedFrom(runDir) : null
    const upToDate = prior !== null && prior.source === run.dir && sameFiles(prior.files, fileList(run))
    return { run, runDir, exists: fs.existsSync(runDir), prior, upToDate }
  })
  const total = plan.reduce((n, p) => n + (p.upToDate ? 0 : p.run.files.reduce((m, f) => m + f.size, 0)), 0)
  let done = 0
  const progress = (bytes: number) => {
    done += bytes
    opts.onProgress?.(done, total)
  }

  const results: ImportedRun[] = []
  const tmpRoot = path.join(tmpBase, `${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    for (const p of plan) {
      const r: ImportedRun = { name: p.run.name, source: p.run.dir, runDir: p.runDir, status: 'up-to-date' }
      const tmp = path.join(tmpRoot, path.basename(p.runDir))
      try {
        if (!p.upToDate) {
          if (p.exists && (p.prior === null || p.prior.source !== p.run.dir)) {
            throw new InvalidArgumentError(`${p.runDir} exists and is not an import of ${p.run.dir}; not replacing it`)
          }
          const kept: Record<string, unknown> = {}
          if (p.exists) {
            const old = readMetadata(p.runDir)
            for (const k of KEPT_ON_REIMPORT) if (k in old) kept[k] = old[k]
          }
          r.counts = await writeRun(p.run, tmp, project, kept, warn, progress)
          moveIntoPlace(tmp, p.runDir, tmpRoot)
          r.status = p.exists ? 'replaced' : 'imported'
        }
      } catch (e) {
        // What was written of the run goes; an earlier import of it stays as it was.
        fs.rmSync(tmp, { recursive: true, force: true })
        r.status = 'failed'
        r.error = e as Error
      }
      results.push(r)
    }
  } finally {
    fs.rmSync(tmpRoot, { recursive: true, force: true })
    try {
      fs.rmdirSync(tmpBase)
    } catch {
      // another import is under way, or it was never made
    }
  }
  return results
}

/** Rename the finished run over `runDir`, moving an earlier copy aside first and removing it. */
function moveIntoPlace(from: string, runDir: string, tmpRoot: string): void {
  fs.mkdirSync(path.dirname(runDir), { recursive: true })
  if (fs.existsSync(runDir)) {
    const old = path.join(tmpRoot, `replaced-${randomBytes(4).toString('hex')}`)
    fs.renameSync(runDir, old)
    fs.renameSync(from, runDir)
    fs.rmSync(old, { recursive: true, force: true })
  } else {
    fs.renameSync(from, runDir)
  }
}

/** Read every event file of `run` and write the run into `dir` (a fresh folder). */
async function writeRun(run: EventRun, dir: string, project: string, kept: Record<string, unknown>, warn: (m: string) => void, progress: (bytes: number) => void): Promise<ImportCounts> {
  const w = new RunWriter(dir, run.name, project)
  try {
    for (const file of run.files) {
      const reader = new RecordReader(file.path, file.size)
      let reported = 0
      try {
        for (let rec = reader.next(); rec !== null; rec = reader.next()) {
          let ev: TbEvent
          try {
            ev = decodeEvent(rec.data)
          } catch (e) {
            throw new CorruptDataError(
              rec.offset === 0
                ? `${file.path}: not a TensorBoard event file (its first record is ${(e as Error).message})`
                : `${file.path}: the record at byte ${rec.offset} is ${(e as Error).message}`,
              { cause: e },
            )
          }
          w.event(ev, `${file.path}: record at byte ${rec.offset}`)
          if (reader.position - reported >= PROGRESS_EVERY_BYTES) {
            progress(reader.position - reported)
            reported = reader.position
          }
        }
        if (reader.truncated) {
          const t = reader.truncated
          warn(`${file.path}: the last record (from byte ${t.offset}, ${t.bytes} bytes) is incomplete and was skipped, as TensorBoard does (its writer was still writing or was stopped mid-record)`)
        }
      } finally {
        reader.close()
      }
      progress(file.size - reported)
      await w.flush()
    }
    await w.finish()
  } catch (e) {
    w.abort()
    throw e
  }
  for (const [what, tags] of w.skippedTags) {
    const list = [...tags].slice(0, 5).map((t) => JSON.stringify(t)).join(', ')
    warn(`${run.name}: ${w.counts.skipped[what]} ${what} value(s) not imported (tags ${list}${tags.size > 5 ? ', …' : ''})`)
  }
  const record: ImportRecord = { format: 'tensorboard', source: run.dir, files: fileList(run), counts: w.counts, importedAt: new Date().toISOString() }
  patchMetadata(dir, {
    ...kept,
    importedFrom: record,
    // The run's life is that of its events (the import itself happened at importedAt).
    ...(w.first !== null ? { createdAt: new Date(Math.round(w.first * 1000)).toISOString() } : {}),
    ...(w.last !== null ? { finishedAt: new Date(Math.round(w.last * 1000)).toISOString() } : {}),
  })
  return w.counts
}
