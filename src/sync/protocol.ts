/**
 * The wire format of a scalar batch, shared by the sync client and the server's ingest route.
 * Binary so every f64 (NaN and ±Infinity included) crosses exactly and parsing costs one copy:
 *
 *   "AMB1" | u32 LE header length H | H bytes of JSON { metrics: [{ name, from, n }] } |
 *   zero padding to a multiple of 8 | per metric, in header order: n f64 steps, n f64 global
 *   steps, n f64 timestamps (ms), n f64 values (all little-endian).
 *
 * `from` is the index of the metric's first point in the run's metric file: a batch is keyed by
 * (run, metric, first index .. first index + n), and the points' own steps travel with them, so
 * the server can tell a resent batch (already stored: skipped) from a gap (refused with 409).
 */
import { InvalidArgumentError } from '../errors'

const MAGIC = 0x31424d41 // "AMB1" read as u32 LE

export interface MetricPoints {
  name: string
  /** Index of the first point in the metric's file. */
  from: number
  step: ArrayLike<number>
  globalStep: ArrayLike<number>
  timestamp: ArrayLike<number>
  value: ArrayLike<number>
}

export interface DecodedMetric {
  name: string
  from: number
  step: Float64Array
  globalStep: Float64Array
  timestamp: Float64Array
  value: Float64Array
}

/** Points of one metric between `start` and `end` (indices into the given series). */
export function slicePoints(name: string, s: { step: ArrayLike<number>; globalStep: ArrayLike<number>; timestamp: ArrayLike<number>; value: ArrayLike<number> }, start: number, end: number): MetricPoints {
  const sub = (a: ArrayLike<number>) => (a as Float64Array).subarray ? (a as Float64Array).subarray(start, end) : Array.prototype.slice.call(a, start, end)
  return { name, from: start, step: sub(s.step), globalStep: sub(s.globalStep), timestamp: sub(s.timestamp), value: sub(s.value) }
}

export function encodeBatch(metrics: MetricPoints[]): Buffer {
  const header = Buffer.from(JSON.stringify({ metrics: metrics.map((m) => ({ name: m.name, from: m.from, n: m.value.length })) }), 'utf8')
  const head = (8 + header.length + 7) & ~7
  const points = metrics.reduce((a, m) => a + m.value.length, 0)
  const out = Buffer.alloc(head + points * 32)
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt32LE(header.length, 4)
  header.copy(out, 8)
  const f64 = new Float64Array(out.buffer, out.byteOffset + head, points * 4)
  let p = 0
  for (const m of metrics) {
    for (const a of [m.step, m.globalStep, m.timestamp, m.value]) {
      f64.set(a, p)
      p += a.length
    }
  }
  return out
}

const bad = (why: string) => new InvalidArgumentError(`scalar batch: ${why}`)

/** Parse and check a batch; every problem is an InvalidArgumentError naming it (the server answers 400). */
export function decodeBatch(body: Buffer): DecodedMetric[] {
  if (body.length < 8 || body.readUInt32LE(0) !== MAGIC) throw bad('does not start with the AMB1 magic')
  const hlen = body.readUInt32LE(4)
  if (8 + hlen > body.length) throw bad(`header of ${hlen} bytes is longer than the body`)
  let header: unknown
  try {
    header = JSON.parse(body.subarray(8, 8 + hlen).toString('utf8'))
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`)
  }
  const list = (header as { metrics?: unknown })?.metrics
  if (!Array.isArray(list)) throw bad('header has no metrics list')
  const head = (8 + hlen + 7) & ~7
  let total = 0
  for (const m of list) {
    const { name, from, n } = (m ?? {}) as { name?: unknown; from?: unknown; n?: unknown }
    if (typeof name !== 'string' || name === '') throw bad(`metric name ${JSON.stringify(name)} is not a non-empty string`)
    if (!Number.isSafeInteger(from) || (from as number) < 0) throw bad(`metric ${name}: from ${JSON.stringify(from)} is not an index`)
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw bad(`metric ${name}: n ${JSON.stringify(n)} is not a count`)
    total += n as number
  }
  if (body.length !== head + total * 32) throw bad(`body is ${body.length} bytes, the header announces ${head + total * 32}`)
  // Copy once so the arrays are aligned whatever the Buffer's offset in its pool.
  const all = new Float64Array(total * 4)
  new Uint8Array(all.buffer).set(body.subarray(head))
  const out: DecodedMetric[] = []
  let p = 0
  for (const m of list as Array<{ name: string; from: number; n: number }>) {
    const take = () => {
      const a = all.subarray(p, p + m.n)
      p += m.n
      return a
    }
    const d = { name: m.name, from: m.from, step: take(), globalStep: take(), timestamp: take(), value: take() }
    for (const a of [d.step, d.globalStep, d.timestamp]) {
      for (let i = 0; i < a.length; i++) {
        if (!Number.isSafeInteger(a[i])) throw bad(`metric ${m.name}: step/global step/timestamp ${a[i]} is not an integer`)
      }
    }
    out.push(d)
  }
  return out
}
