/** Telling a browser's request from this server's own pages from one another site made it send. */
import type { IncomingMessage } from 'node:http'
import { HttpError } from './paths'

/** True when the request's `Origin` names this server (same host and port as `Host`). */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  const host = req.headers.host
  if (!origin || !host || origin === 'null') return false
  try {
    return new URL(origin).host === new URL(`http://${host}`).host
  } catch {
    return false
  }
}

/**
 * The checks on a state-changing request a browser may make (the team server's login cookie, the
 * local viewer's label edits): it must come from this origin and send JSON, which no cross-site
 * form can, and a cross-site script cannot without a CORS preflight the servers never answer.
 */
export function checkBrowserWrite(req: IncomingMessage): void {
  if (req.method === 'GET' || req.method === 'HEAD') return
  if (!sameOrigin(req)) throw new HttpError(403, `${req.method} from a browser must come from this server's own pages (Origin ${JSON.stringify(req.headers.origin ?? null)} does not match)`)
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/json') throw new HttpError(403, `${req.method} from a browser must send Content-Type: application/json`)
}
