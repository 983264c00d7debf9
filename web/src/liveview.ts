/**
 * What a histogram, media or table tab tells the run page's live stream: which logs it shows with
 * how many entries each (the server sends only entries after those), and where new entries and
 * newly logged names go.
 */
import type { LogKind } from '../../src/viewer/wire'

export interface LiveLogView {
  kind: LogKind
  /** The names shown and how many entries of each the view has. */
  watches(): { name: string; have: number }[]
  /** Entries `from`.. of a log (from = how many the view had when the stream started). */
  append(name: string, from: number, entries: unknown[]): void
  /** The run's names of this kind now (a live run may have logged a new one). */
  setNames(names: string[]): Promise<void>
}

/** Entries `from`.. of a live event that a view holding `have` lacks (none when there is a gap). */
export function fresh<T>(have: number, from: number, entries: T[]): T[] {
  return from > have ? [] : entries.slice(have - from)
}
