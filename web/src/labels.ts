/**
 * A run's labels in the runs table: its tags as chips (a click filters the table to the tag, × takes
 * it off), a "+" to add one, its note (cut short, the whole text on hover) with a button to edit it,
 * and the archive / unarchive action. Editing happens in a small input: Enter saves (a POST to the
 * run's labels), Escape cancels; a failed save shows the server's message next to the input.
 */
import type { LabelPatch, RunRow } from './api'
import { h } from './dom'

export interface LabelEvents {
  /** Save a change of a run's labels (rejects with the server's message). */
  label(key: string, patch: LabelPatch): Promise<void>
  /** Show only the runs with this tag. */
  tag(tag: string): void
}

/** What the labels cell shows: it is built again only when this changes. */
export function labelSig(row: RunRow): string {
  return JSON.stringify([row.tags ?? [], row.note ?? null, row.archived === true])
}

/** Whether an input of the cell is open (a refresh leaves the cell alone meanwhile). */
export function isEditing(cell: HTMLElement): boolean {
  return cell.querySelector('input.label-input') !== null
}

/**
 * An input in place of `shown` until Enter (calls `save` with its text; stays open with the error
 * when that fails) or Escape / leaving it (back to `shown`).
 */
function editor(cell: HTMLElement, shown: HTMLElement, cls: string, value: string, placeholder: string, maxLength: number, save: (text: string) => Promise<void>): void {
  const input = h('input', { type: 'text', class: `label-input ${cls}`, value, placeholder, maxLength, spellcheck: 'false' })
  const error = h('span', { class: 'label-error' })
  error.hidden = true
  let busy = false
  let closed = false
  const close = () => {
    // Removing the focused input fires its blur, which closes again.
    if (closed) return
    closed = true
    input.remove()
    error.remove()
    shown.hidden = false
  }
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault()
      close()
    } else if (ev.key === 'Enter' && !busy) {
      ev.preventDefault()
      busy = true
      input.disabled = true
      save(input.value).then(
        () => close(),
        (e: Error) => {
          busy = false
          input.disabled = false
          error.textContent = e.message
          error.title = e.message
          error.hidden = false
          input.focus()
        },
      )
    }
  })
  input.addEventListener('blur', () => {
    // Leaving an untouched or failed input closes it; a save under way closes it when done.
    if (!busy) close()
  })
  shown.hidden = true
  shown.after(input, error)
  input.focus()
  input.select()
}

function showError(cell: HTMLElement, e: Error): void {
  cell.querySelector('.label-error')?.remove()
  cell.append(h('span', { class: 'label-error', title: e.message }, e.message))
}

/** Fill the labels cell of a run. */
export function fillLabels(cell: HTMLElement, row: RunRow, events: LabelEvents): void {
  const key = row.key
  const tags = row.tags ?? []
  const chips = tags.map((t) =>
    h(
      'span',
      { class: 'tag-chip', 'data-tag': t },
      h('button', { class: 'tag-name', title: `show only runs tagged “${t}”`, onclick: () => events.tag(t) }, t),
      h('button', { class: 'chip-x', title: `remove the tag “${t}”`, onclick: () => void events.label(key, { removeTags: [t] }).catch((e: Error) => showError(cell, e)) }, '×'),
    ),
  )
  const addBtn = h('button', { class: 'tag-add', title: 'add a tag' }, '+ tag')
  addBtn.addEventListener('click', () =>
    editor(cell, addBtn, 'tag-input', '', 'tag', 100, async (text) => {
      const tag = text.trim()
      if (tag) await events.label(key, { addTags: [tag] })
    }),
  )
  const note = h('span', { class: 'run-note', title: row.note ?? '' }, row.note ?? '')
  note.hidden = !row.note
  const noteBtn = h('button', { class: 'note-edit', title: row.note ? 'edit the note' : 'add a note' }, row.note ? '✎' : '✎ note')
  const noteBox = h('span', { class: 'note-box' }, note, noteBtn)
  noteBtn.addEventListener('click', () =>
    editor(cell, noteBox, 'note-input', row.note ?? '', 'note (empty: none)', 10_000, async (text) => {
      await events.label(key, { note: text.trim() === '' ? null : text })
    }),
  )
  cell.replaceChildren(h('span', { class: 'tags' }, chips, addBtn), noteBox)
}

/** The archive / unarchive button of a run. */
export function archiveButton(row: RunRow, events: LabelEvents): HTMLButtonElement {
  const archived = row.archived === true
  const btn = h('button', { class: 'archive-toggle', title: archived ? 'list this run again' : 'hide this run unless archived runs are shown' }, archived ? 'unarchive' : 'archive')
  btn.addEventListener('click', () => {
    btn.disabled = true
    events.label(row.key, { archived: !archived }).catch((e: Error) => {
      btn.disabled = false
      btn.title = e.message
      btn.classList.add('failed')
    })
  })
  return btn
}
