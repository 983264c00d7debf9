/**
 * Writing one imported run: the run store's own owner and log writer over a fresh folder, fed
 * event by event. Points go through the log writer directly, as the team server's ingest writes
 * them, not through `Board.log()`: an import has to give each point its recorded wall time, and
 * a TensorBoard step may go back after a restart, which `Board.log({ step })` refuses. Each event
 * with something to import is one `log()` call's worth: the next `step`, TensorBoard's step as the
 * global step, its wall time (ms) as the timestamp.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import binding from '../../native'
import { native, nativeAsync } from '../../errors'
import { LogWriter, Subkind } from '../../board/logWriter'
import { writePayload } from '../../board/encode'
import { Histogram, Media, Table } from '../../board/types'
import type { TbEvent } from './proto'
import { TagPlugins, classify } from './summaries'

export interface ImportCounts {
  /** Scalar points. */
  scalars: number
  histograms: number
  images: number
  audio: number
  /** Rows of text tables (one row per string). */
  text: number
  /** Values not imported, by what they were (`pr_curves summary`, `histogram (no values)`...). */
  skipped: Record<string, number>
}

/** A stamp of the run store: the ordinal of the event, TensorBoard's step, wall time in ms. */
interface Stamp {
  step: number
  globalStep: number
  ts: number
}

type Owner = InstanceType<typeof binding.BoardOwner>

export class RunWriter {
  readonly counts: ImportCounts = { scalars: 0, histograms: 0, images: 0, audio: 0, text: 0, skipped: {} }
  /** Earliest and latest wall time (s) of any event. */
  first: number | null = null
  last: number | null = null
  /** Per skipped kind, the tags it had (for one warning per kind). */
  readonly skippedTags = new Map<string, Set<string>>()
  private readonly owner: Owner
  private readonly writer: LogWriter
  private readonly plugins = new TagPlugins()
  private readonly texts = new Map<string, { rows: Array<[number, string]>; last: Stamp }>()
  private ordinal = 0
  private readonly ids: number[] = []
  private readonly values: number[] = []

  /** A new run in `dir` (which must not exist) named `name` in `project`. */
  constructor(readonly dir: string, name: string, project: string) {
    const metadata = {
      name, project, runId: path.basename(dir), annotation: null, config: {},
      host: os.hostname(), pid: process.pid, argv: process.argv, version: binding.nativeVersion(),
    }
    fs.mkdirSync(path.dirname(dir), { recursive: true })
    this.owner = native(() => new binding.BoardOwner(dir, JSON.stringify(metadata)))
    try {
      this.writer = new LogWriter(dir, `import-${process.pid}-${randomBytes(4).toString('hex')}`)
    } catch (e) {
      this.owner.finish('crashed', null)
      throw e
    }
  }

  /** Write what `ev` holds; `where` names the record in messages. */
  event(ev: TbEvent, where: string): void {
    if (Number.isFinite(ev.wallTime)) {
      this.first = this.first === null ? ev.wallTime : Math.min(this.first, ev.wallTime)
      this.last = this.last === null ? ev.wallTime : Math.max(this.last, ev.wallTime)
    }
    if (ev.values.length === 0) return
    const s: Stamp = { step: this.ordinal, globalStep: ev.step, ts: Math.round(ev.wallTime * 1000) }
    const { writer, counts, ids, values } = this
    ids.length = 0
    values.length = 0
    let wrote = false
    for (const v of ev.values) {
      const item = classify(v, this.plugins, `${where}, tag ${JSON.stringify(v.tag)}`)
      switch (item.kind) {
        case 'scalar':
          ids.push(writer.nameId(item.tag))
          values.push(item.value)
          counts.scalars++
          break
        case 'histogram':
          writePayload(writer, item.tag, Histogram.fromBins(item.edges, item.counts), s.step, s.globalStep, s.ts)
          counts.histograms++
          wrote = true
          break
        case 'media':
          for (const bytes of item.files) {
            // Media checks the bytes; the size the summary states goes along with them (the
            // store knows the size of encoded images only when told it).
            const m = new Media(bytes, { type: item.type })
            writer.payload(item.tag, Subkind.Media, { ...m.describe(), width: item.width, height: item.height }, m.bytes, s.step, s.globalStep, s.ts)
          }
          counts[item.type === 'image' ? 'images' : 'audio'] += item.files.length
          wrote = true
          break
        case 'text': {
          let t = this.texts.get(item.tag)
          if (!t) this.texts.set(item.tag, (t = { rows: [], last: s }))
          for (const text of item.texts) t.rows.push([s.globalStep, text])
          t.last = s
          counts.text += item.texts.length
          wrote = true
          break
        }
        case 'skipped': {
          const what = item.why ? `${item.what} (${item.why})` : item.what
          counts.skipped[what] = (counts.skipped[what] ?? 0) + 1
          let tags = this.skippedTags.get(what)
          if (!tags) this.skippedTags.set(what, (tags = new Set()))
          tags.add(item.tag)
          break
        }
      }
    }
    // One SCALARS record per event, like one log() call (it also adds the step's row).
    if (ids.length > 0) writer.scalarsById(ids, values, ids.length, s.step, s.globalStep, s.ts, 0)
    if (wrote || ids.length > 0) this.ordinal++
  }

  /** Resolves once everything written so far is stored. */
  async flush(): Promise<void> {
    const { seq, offset } = this.writer.position()
    await nativeAsync(() => this.owner.flush(this.writer.id, seq, offset))
  }

  /** Write the text tables, store everything and mark the run finished. */
  async finish(): Promise<void> {
    // Text: one table per tag, the step and text of every string, stamped with the tag's last event.
    for (const [tag, t] of this.texts) {
      writePayload(this.writer, tag, new Table({ columns: ['step', 'text'], rows: t.rows }), t.last.step, t.last.globalStep, t.last.ts)
    }
    await this.flush()
    native(() => this.owner.finish('finished', null))
    // Everything is stored: the writer's log segments are no longer needed.
    native(() => binding.boardReleaseWriter(this.dir, this.writer.id))
  }

  /** Stop the writer after a failure (the caller removes the folder). */
  abort(): void {
    try {
      this.owner.finish('crashed', null)
    } catch {
      // the folder is removed anyway
    }
  }
}
