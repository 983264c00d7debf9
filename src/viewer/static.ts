/**
 * The built front end (web/dist) served read-only. A request path is decoded once, must stay a
 * plain relative path, and is resolved and checked to lie inside web/dist before any file is read.
 * Every file goes out with PAGE_HEADERS: no framing, and a Content-Security-Policy that lets the
 * bundle load only from its own origin.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import type { ServerResponse } from 'node:http'
import { HttpError, isInside } from './paths'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/**
 * What the viewer's bundle needs, and nothing else: its own script and stylesheet (uPlot sets
 * styles through the CSSOM, which style-src does not govern), the API and live stream on the same
 * origin, media from /api (images, video, audio), the favicon as a data: URL; no plugins, no
 * <base>, forms only to this origin (the team server's login), and no page may frame it.
 */
function pageCsp(mediaOrigins: readonly string[]): string {
  const media = mediaOrigins.map((o) => ` ${o}`).join('')
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob:${media}`,
    `media-src 'self' blob:${media}`,
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/**
 * The headers of every page. `mediaOrigins`: where media may also come from (the bucket a team
 * server redirects media requests to, when it does).
 */
export function pageHeaders(mediaOrigins: readonly string[] = []): Readonly<Record<string, string>> {
  return {
    'content-security-policy': pageCsp(mediaOrigins),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    // Not no-referrer: with it a browser sends `Origin: null` on the login form's POST.
    'referrer-policy': 'same-origin',
  }
}

export const PAGE_HEADERS = pageHeaders()

/** web/dist next to the package root, from src/viewer (tsx) or dist/viewer (built). */
export function findWebDist(): string {
  const candidates = [resolve(__dirname, '..', '..', 'web', 'dist'), resolve(__dirname, '..', '..', '..', 'web', 'dist')]
  return candidates.find((c) => existsSync(join(c, 'index.html'))) ?? candidates[0]
}

export function serveStatic(root: string, urlPath: string, res: ServerResponse, headers = PAGE_HEADERS): void {
  let rel: string
  try {
    rel = decodeURIComponent(urlPath)
  } catch {
    throw new HttpError(400, 'bad path encoding')
  }
  if (rel.includes('\0') || rel.includes('\\')) throw new HttpError(400, 'bad path')
  if (rel === '/' || rel === '') rel = '/index.html'
  const file = resolve(root, '.' + rel)
  if (!isInside(root, file)) throw new HttpError(403, 'outside the web root')
  let isFile = false
  try {
    isFile = statSync(file).isFile()
  } catch {
    isFile = false
  }
  if (!isFile) throw new HttpError(404, `not found: ${rel}`)
  const body = readFileSync(file)
  res.writeHead(200, {
    ...headers,
    'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
  })
  res.end(body)
}
