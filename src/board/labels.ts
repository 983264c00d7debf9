/**
 * What a person adds to a run after the fact, to find and sort runs later: tags, a note, and
 * whether it is archived (hidden from the runs table unless asked for). Kept in the run's
 * metadata (`tags`, `note`, `archived`), so every reader and both team server backends see them;
 * a client's sync never overwrites them (they are not among the fields it mirrors).
 */
import { InvalidArgumentError } from '../errors'
import { patchMetadata } from './metadata'
import type { Metadata } from './metadata'

export interface RunLabels {
  tags: string[]
  note: string | null
  archived: boolean
}

/** A change of labels: `tags` replaces the set; `addTags` / `removeTags` edit it. */
export interface LabelPatch {
  tags?: string[]
  addTags?: string[]
  removeTags?: string[]
  note?: string | null
  archived?: boolean
}

const MAX_TAGS = 64
const MAX_TAG = 100
const MAX_NOTE = 10_000
const KEYS = new Set(['tags', 'addTags', 'removeTags', 'note', 'archived'])

function checkTags(what: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw new InvalidArgumentError(`${what} must be a list of strings`)
  for (const t of v) {
    if (typeof t !== 'string' || t.trim() === '' || t.length > MAX_TAG || /[\u0000-\u001f]/.test(t)) {
      throw new InvalidArgumentError(`${what}: a tag is a non-empty string of at most ${MAX_TAG} characters without control characters (got ${JSON.stringify(t)})`)
    }
  }
  return v.map((t: string) => t.trim())
}

/** A label patch from untrusted input (an HTTP body, CLI flags), or InvalidArgumentError. */
export function checkLabelPatch(x: unknown): LabelPatch {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new InvalidArgumentError('labels must be an object of tags, addTags, removeTags, note, archived')
  const o = x as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new InvalidArgumentError(`unknown label field ${JSON.stringify(k)} (tags, addTags, removeTags, note, archived)`)
  const out: LabelPatch = {}
  if (o.tags !== undefined) out.tags = checkTags('tags', o.tags)
  if (o.addTags !== undefined) out.addTags = checkTags('addTags', o.addTags)
  if (o.removeTags !== undefined) out.removeTags = checkTags('removeTags', o.removeTags)
  if (o.note !== undefined) {
    if (o.note !== null && (typeof o.note !== 'string' || o.note.length > MAX_NOTE)) throw new InvalidArgumentError(`note must be a string of at most ${MAX_NOTE} characters, or null`)
    out.note = o.note === '' ? null : (o.note as string | null)
  }
  if (o.archived !== undefined) {
    if (typeof o.archived !== 'boolean') throw new InvalidArgumentError('archived must be true or false')
    out.archived = o.archived
  }
  return out
}

/** The labels a run's metadata holds (none for a run never labelled). */
export function labelsOf(meta: Metadata): RunLabels {
  const tags = Array.isArray(meta.tags) ? meta.tags.filter((t): t is string => typeof t === 'string') : []
  return { tags, note: typeof meta.note === 'string' ? meta.note : null, archived: meta.archived === true }
}

/** The labels after `patch`, as the metadata fields to merge. */
export function applyLabels(meta: Metadata, patch: LabelPatch): RunLabels {
  const now = labelsOf(meta)
  let tags = patch.tags ?? now.tags
  if (patch.addTags) tags = [...tags, ...patch.addTags]
  if (patch.removeTags) tags = tags.filter((t) => !patch.removeTags!.includes(t))
  tags = [...new Set(tags)]
  if (tags.length > MAX_TAGS) throw new InvalidArgumentError(`a run has at most ${MAX_TAGS} tags`)
  return { tags, note: patch.note !== undefined ? patch.note : now.note, archived: patch.archived ?? now.archived }
}

/** Change the labels of the run folder `runDir`; its labels after the change. */
export function labelRun(runDir: string, patch: LabelPatch): RunLabels {
  const checked = checkLabelPatch(patch)
  let labels: RunLabels = { tags: [], note: null, archived: false }
  patchMetadata(runDir, (current) => {
    labels = applyLabels(current, checked)
    return { ...labels }
  })
  return labels
}
