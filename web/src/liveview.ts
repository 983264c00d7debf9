/**
 * What a histogram, media or table tab tells the run page's live stream: which logs it shows with
 * how many entries each (the server sends only entries after those), and where new entries and
 * newly logged names go.
 */
import type { LogKind } from '../../src/viewer/wire'
import { h } from './dom'

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

/** One log's section in a tab: its element and the entries it shows. */
export interface LogSection<T> {
  readonly name: string
  readonly el: HTMLElement
  readonly entries: T[]
  append(from: number, entries: T[]): void
}

/**
 * A tab showing one section per log name (media, tables), kept in name order as a live run logs
 * new names; `open` fetches and builds the section of a name.
 */
export async function sectionedView<T>(
  kind: LogKind, body: HTMLElement, emptyText: string, names: string[], open: (name: string) => Promise<LogSection<T>>,
): Promise<LiveLogView> {
  const sections = new Map<string, LogSection<T>>()
  const empty = h('p', { class: 'empty' }, emptyText)
  body.append(empty)
  const setNames = async (now: string[]) => {
    for (const name of now) {
      if (sections.has(name)) continue
      const section = await open(name)
      sections.set(name, section)
      const next = [...sections.values()].filter((s) => s.name > name).sort((a, b) => (a.name < b.name ? -1 : 1))[0]
      if (next) next.el.before(section.el)
      else body.append(section.el)
    }
    empty.hidden = sections.size > 0
  }
  await setNames(names)
  return {
    kind,
    watches: () => [...sections.values()].map((s) => ({ name: s.name, have: s.entries.length })),
    append: (name, from, entries) => sections.get(name)?.append(from, entries as T[]),
    setNames,
  }
}
