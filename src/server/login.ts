/**
 * How the team server is given a token. Programs (the sync client, `Board({ remote })`, scripts)
 * send `Authorization: Bearer <token>`; a browser logs in once at `/login`, a form that POSTs the
 * token (never a URL query, which ends up in history, logs and Referer headers) and gets it back
 * as the `amber_token` cookie: HttpOnly, SameSite=Strict, Path=/, and Secure when the client spoke
 * https (TLS, or a trusted proxy's `X-Forwarded-Proto`).
 *
 * What the cookie may do is narrower than a bearer token:
 * - the ingest API (`/api/sync/*`) takes only the bearer token, so a page can never upload with
 *   the browser's cookie;
 * - any other request the cookie authenticates that is not GET/HEAD must come from this origin
 *   (`Origin`'s host equals `Host`) and send `Content-Type: application/json`, which no
 *   cross-site form can; otherwise 403.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody } from '../viewer/limits'
import { HttpError } from '../viewer/paths'
import { sameOrigin } from '../viewer/same-origin'
import { PAGE_HEADERS } from '../viewer/static'
import type { Tokens } from './storage'

export const COOKIE = 'amber_token'

/** A login form is a token and a little padding; anything longer is not one. */
const LOGIN_BODY_LIMIT = 4096

export interface Presented {
  token: string | null
  via: 'bearer' | 'cookie' | null
}

/** The token of a request: the Authorization header when there is one, else the login cookie. */
export function presentedToken(req: IncomingMessage): Presented {
  const auth = req.headers.authorization
  if (auth) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth)
    return { token: m ? m[1] : null, via: 'bearer' }
  }
  const m = new RegExp(`(?:^|;\\s*)${COOKIE}=([^;]+)`).exec(req.headers.cookie ?? '')
  if (!m) return { token: null, via: null }
  try {
    return { token: decodeURIComponent(m[1]), via: 'cookie' }
  } catch {
    return { token: null, via: 'cookie' }
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function loginPage(res: ServerResponse, status: number, message = ''): void {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>amber: log in</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 16 16%22%3E%3Ccircle cx=%228%22 cy=%228%22 r=%227%22 fill=%22%23f2a33a%22/%3E%3C/svg%3E">
<link rel="stylesheet" href="/main.css">
</head>
<body>
<header class="top"><a href="/">amber</a><span class="muted">team server</span></header>
<main id="app">
<form class="login" method="post" action="/login">
<label>Token <input type="password" name="token" autocomplete="off" required autofocus></label>
<button type="submit">Log in</button>
</form>
${message ? `<p class="error">${escapeHtml(message)}</p>` : ''}
</main>
</body>
</html>
`
  res.writeHead(status, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' })
  res.end(html)
}

/**
 * `/login`: GET shows the form; POST (form-encoded `token=…`, from this origin when the browser
 * says where it comes from) sets the cookie and redirects to `/`. A token in the query string is
 * refused, unread.
 */
export async function handleLogin(req: IncomingMessage, res: ServerResponse, url: URL, tokens: Tokens, secure: boolean): Promise<void> {
  if (req.method === 'GET' || req.method === 'HEAD') {
    if (url.searchParams.has('token')) throw new HttpError(400, 'a token never goes in a URL: open /login and submit the form (POST)')
    return loginPage(res, 200)
  }
  if (req.method !== 'POST') {
    res.setHeader('allow', 'GET, HEAD, POST')
    throw new HttpError(405, `${req.method} /login refused`)
  }
  if (url.search) throw new HttpError(400, '/login takes nothing in its URL: POST the form')
  if (req.headers.origin !== undefined && !sameOrigin(req)) throw new HttpError(403, 'log in from this server\'s own login page')
  const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'POST /login takes a form (application/x-www-form-urlencoded) with the field token')
  const token = new URLSearchParams((await readBody(req, LOGIN_BODY_LIMIT)).toString('utf8')).get('token')?.trim() ?? ''
  if (!(await tokens.verify(token))) return loginPage(res, 401, 'Unknown or revoked token.')
  const cookie = `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`
  res.writeHead(303, { location: '/', 'set-cookie': cookie, 'cache-control': 'no-store', 'content-length': 0 })
  res.end()
}
