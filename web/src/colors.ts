/**
 * Stable run colours: a run's colour comes from a hash of its key, so the same run has the same
 * colour on every page and in every overlay; when two overlaid runs collide, the later one (in
 * key order, so still deterministic) moves to the next free palette slot.
 */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#17becf', '#bcbd22', '#a0cbe8']

function hash(s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return h >>> 0
}

export function colorFor(key: string): string {
  return PALETTE[hash(key) % PALETTE.length]
}

export function colorsFor(keys: string[]): Map<string, string> {
  const out = new Map<string, string>()
  const used = new Set<number>()
  for (const key of [...keys].sort()) {
    let i = hash(key) % PALETTE.length
    for (let k = 0; k < PALETTE.length && used.has(i); k++) i = (i + 1) % PALETTE.length
    used.add(i)
    out.set(key, PALETTE[i])
  }
  return out
}
