/**
 * The content types media are served with: from this list only, never one read from the run
 * (no HTML or SVG), whichever backend holds the bytes.
 */
const MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  mp4: 'video/mp4',
  webm: 'video/webm',
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
}

/** Media are served with a type from this list only, never one read from the run (no HTML/SVG). */
export function mimeOf(format: string): string {
  return MIME[String(format).toLowerCase()] ?? 'application/octet-stream'
}

