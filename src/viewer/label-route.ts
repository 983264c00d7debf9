/**
 * `POST /api/runs/:project/:folder/labels` with a JSON label patch (src/board/labels.ts: tags,
 * addTags, removeTags, note, archived): the run's labels after the change. The local viewer takes
 * it from its own pages only; the team server from a write token of the project.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { checkLabelPatch } from '../board/labels'
import { sendJson } from './http'
import { readBody } from './limits'
import { HttpError } from './paths'
import type { RunReads } from './reads'

/** A label patch is a few tags and a note of at most 10,000 characters. */
const LABELS_BODY_LIMIT = 64 << 10

export async function labelRoute(req: IncomingMessage, res: ServerResponse, store: RunReads, project: string, folder: string): Promise<void> {
  const body = await readBody(req, LABELS_BODY_LIMIT)
  let patch: unknown
  try {
    patch = JSON.parse(body.toString('utf8'))
  } catch (e) {
    throw new HttpError(400, `labels: the body is not JSON (${(e as Error).message})`)
  }
  sendJson(res, 200, await store.labelRun(project, folder, checkLabelPatch(patch)))
}
