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
import { nameProblem, showName } from '../board/names'

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
/** `base`: the metric index of the series' first element (a series read from an index on). */
export function slicePoints(name: string, s: { step: ArrayLike<number>; globalStep: ArrayLike<number>; timestamp: ArrayLike<number>; value: ArrayLike<number> }, start: number, end: number, base = 0): MetricPoints {
  const sub = (a: ArrayLike<number>) => (a as Float64Array).subarray ? (a as Float64Array).subarray(start - base, end - base) : Array.prototype.slice.call(a, start - base, end - base)
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

/** A name the Board would refuse at log() (names.ts) is refused here too: the server answers 400. */
function checkBatchName(batch: string, what: string, name: unknown): asserts name is string {
  const problem = nameProblem(name)
  if (problem !== null) throw new InvalidArgumentError(`${batch} batch: ${what} name ${showName(name)} ${problem}`)
}

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
    checkBatchName('scalar', 'metric', name)
    if (!Number.isSafeInteger(from) || (from as number) < 0) throw bad(`metric ${name}: from ${JSON.stringify(from)} is not an index`)
    if (!Number.isSafeInteger(n) || (n as number) < 0) throw bad(`metric ${name}: n ${JSON.stringify(n)} is not a count`)
    total += n as number
  }
  if (body.length !== head + total * 32) throw bad(`body is ${body.length} bytes, the header announces ${head + total * 32}`)
  // The points as f64 arrays over the body itself when it is 8-byte aligned (readBody's buffer of
  // a declared length is); otherwise copied once to be aligned.
  let all: Float64Array
  if ((body.byteOffset + head) % 8 === 0) {
    all = new Float64Array(body.buffer, body.byteOffset + head, total * 4)
  } else {
    all = new Float64Array(total * 4)
    new Uint8Array(all.buffer).set(body.subarray(head))
  }
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

/**
 * A media batch: "AMM1" | u32 LE header length H | H bytes of JSON
 * `{ media: [{ name, from, items: [{ step, globalStep, timestamp, key, type, caption }] }],
 *    blobs: [{ key, length }] }` | the blobs' bytes, concatenated in header order.
 * Items refer to their file by key (`<sha256>.<format>`); a blob travels only when the server
 * does not hold that key yet, so each content hash is uploaded once per run.
 */
const MEDIA_MAGIC = 0x314d4d41 // "AMM1"

export interface MediaItem {
  step: number
  globalStep: number
  timestamp: number
  key: string
  type: string
  caption: string | null
  /** Pixel size, when the run knows it (images logged as raw pixels). */
  width?: number | null
  height?: number | null
}

export interface MediaBatch {
  media: Array<{ name: string; from: number; items: MediaItem[] }>
  blobs: Map<string, Buffer>
}

const KEY = /^[0-9a-f]{64}\.[a-z0-9]{1,8}$/

export function encodeMediaBatch(b: MediaBatch): Buffer {
  const blobs = [...b.blobs]
  const header = Buffer.from(JSON.stringify({ media: b.media, blobs: blobs.map(([key, d]) => ({ key, length: d.length })) }), 'utf8')
  const head = Buffer.alloc(8)
  head.writeUInt32LE(MEDIA_MAGIC, 0)
  head.writeUInt32LE(header.length, 4)
  return Buffer.concat([head, header, ...blobs.map(([, d]) => d)])
}

export function decodeMediaBatch(body: Buffer): MediaBatch {
  if (body.length < 8 || body.readUInt32LE(0) !== MEDIA_MAGIC) throw bad('media batch does not start with the AMM1 magic')
  const hlen = body.readUInt32LE(4)
  if (8 + hlen > body.length) throw bad(`media header of ${hlen} bytes is longer than the body`)
  let h: { media?: unknown; blobs?: unknown }
  try {
    h = JSON.parse(body.subarray(8, 8 + hlen).toString('utf8'))
  } catch (e) {
    throw bad(`media header is not JSON (${(e as Error).message})`)
  }
  if (!Array.isArray(h?.media) || !Array.isArray(h.blobs)) throw bad('media header needs media and blobs lists')
  const blobs = new Map<string, Buffer>()
  let p = 8 + hlen
  for (const x of h.blobs as Array<{ key?: unknown; length?: unknown }>) {
    if (typeof x?.key !== 'string' || !KEY.test(x.key)) throw bad(`blob key ${JSON.stringify(x?.key)} is not <sha256>.<format>`)
    if (!Number.isSafeInteger(x.length) || (x.length as number) < 1) throw bad(`blob ${x.key}: bad length`)
    blobs.set(x.key, body.subarray(p, p + (x.length as number)))
    p += x.length as number
  }
  if (p !== body.length) throw bad(`media body is ${body.length} bytes, the header announces ${p}`)
  for (const m of h.media as Array<{ name?: unknown; from?: unknown; items?: unknown }>) {
    checkBatchName('media', 'media', m?.name)
    if (!Number.isSafeInteger(m.from) || (m.from as number) < 0) throw bad(`media ${m.name}: from is not an index`)
    if (!Array.isArray(m.items)) throw bad(`media ${m.name}: items is not a list`)
    for (const it of m.items as MediaItem[]) {
      if (![it?.step, it?.globalStep, it?.timestamp].every(Number.isSafeInteger)) throw bad(`media ${m.name}: step/global step/timestamp must be integers`)
      if (typeof it.key !== 'string' || !KEY.test(it.key)) throw bad(`media ${m.name}: key ${JSON.stringify(it.key)} is not <sha256>.<format>`)
      if (!['image', 'video', 'audio'].includes(it.type)) throw bad(`media ${m.name}: type ${JSON.stringify(it.type)}`)
      if (it.caption !== null && typeof it.caption !== 'string') throw bad(`media ${m.name}: caption must be a string or null`)
      if (![it.width, it.height].every((d) => d === undefined || d === null || (Number.isSafeInteger(d) && d >= 0))) throw bad(`media ${m.name}: width/height must be integers or null`)
    }
  }
  return { media: h.media as MediaBatch['media'], blobs }
}

/**
 * A batch of heavier log records of one kind: "AMR1" | u32 LE header length H | H bytes of JSON
 * `{ kind, groups: [{ name, from, items: [{ step, globalStep, timestamp, meta, length }] }],
 *    blobs: [{ key, length }] }` | the blobs' bytes | each item's data bytes, in header order.
 * Keyed like media: (run, kind, name, first occurrence index). What `meta` and the data hold
 * depends on the kind (see src/server/records.ts, which checks them); `blobs` carries media
 * files that table cells refer to, sent only when the server lacks them.
 */
const RECORDS_MAGIC = 0x31524d41 // "AMR1"

export const RECORD_KINDS = ['histograms', 'tables', 'tensors', 'kernelDensity'] as const
export type RecordKind = (typeof RECORD_KINDS)[number]

export interface RecordItem {
  step: number
  globalStep: number
  timestamp: number
  meta: Record<string, unknown>
  data: Uint8Array
}

export interface RecordBatch {
  kind: RecordKind
  groups: Array<{ name: string; from: number; items: RecordItem[] }>
  blobs: Map<string, Buffer>
}

export function encodeRecordBatch(b: RecordBatch): Buffer {
  const blobs = [...b.blobs]
  const groups = b.groups.map((g) => ({
    name: g.name, from: g.from,
    items: g.items.map((it) => ({ step: it.step, globalStep: it.globalStep, timestamp: it.timestamp, meta: it.meta, length: it.data.byteLength })),
  }))
  const header = Buffer.from(JSON.stringify({ kind: b.kind, groups, blobs: blobs.map(([key, d]) => ({ key, length: d.length })) }), 'utf8')
  const head = Buffer.alloc(8)
  head.writeUInt32LE(RECORDS_MAGIC, 0)
  head.writeUInt32LE(header.length, 4)
  const data = b.groups.flatMap((g) => g.items.map((it) => it.data))
  return Buffer.concat([head, header, ...blobs.map(([, d]) => d), ...data])
}

/** Parse the framing of a record batch (the kind-specific checks are the server's). */
export function decodeRecordBatch(body: Buffer): RecordBatch {
  if (body.length < 8 || body.readUInt32LE(0) !== RECORDS_MAGIC) throw bad('record batch does not start with the AMR1 magic')
  const hlen = body.readUInt32LE(4)
  if (8 + hlen > body.length) throw bad(`record header of ${hlen} bytes is longer than the body`)
  let h: { kind?: unknown; groups?: unknown; blobs?: unknown }
  try {
    h = JSON.parse(body.subarray(8, 8 + hlen).toString('utf8'))
  } catch (e) {
    throw bad(`record header is not JSON (${(e as Error).message})`)
  }
  if (!RECORD_KINDS.includes(h?.kind as RecordKind)) throw bad(`record kind ${JSON.stringify(h?.kind)} is not one of ${RECORD_KINDS.join(', ')}`)
  if (!Array.isArray(h.groups) || !Array.isArray(h.blobs)) throw bad('record header needs groups and blobs lists')
  let p = 8 + hlen
  const take = (len: unknown, what: string): Buffer => {
    if (!Number.isSafeInteger(len) || (len as number) < 0) throw bad(`${what}: bad length ${JSON.stringify(len)}`)
    if (p + (len as number) > body.length) throw bad(`${what}: ${len} bytes past the end of the body`)
    const out = body.subarray(p, p + (len as number))
    p += len as number
    return out
  }
  const blobs = new Map<string, Buffer>()
  for (const x of h.blobs as Array<{ key?: unknown; length?: unknown }>) {
    if (typeof x?.key !== 'string' || !KEY.test(x.key)) throw bad(`blob key ${JSON.stringify(x?.key)} is not <sha256>.<format>`)
    if (x.length === 0) throw bad(`blob ${x.key}: empty`)
    blobs.set(x.key, take(x.length, `blob ${x.key}`))
  }
  const groups: RecordBatch['groups'] = []
  for (const g of h.groups as Array<{ name?: unknown; from?: unknown; items?: unknown }>) {
    checkBatchName('record', h.kind as string, g?.name)
    if (!Number.isSafeInteger(g.from) || (g.from as number) < 0) throw bad(`${h.kind} ${g.name}: from is not an index`)
    if (!Array.isArray(g.items)) throw bad(`${h.kind} ${g.name}: items is not a list`)
    const items: RecordItem[] = []
    for (const it of g.items as Array<Record<string, unknown>>) {
      if (![it?.step, it?.globalStep, it?.timestamp].every(Number.isSafeInteger)) throw bad(`${h.kind} ${g.name}: step/global step/timestamp must be integers`)
      if (it.meta === null || typeof it.meta !== 'object' || Array.isArray(it.meta)) throw bad(`${h.kind} ${g.name}: meta must be an object`)
      items.push({ step: it.step as number, globalStep: it.globalStep as number, timestamp: it.timestamp as number, meta: it.meta as Record<string, unknown>, data: take(it.length, `${h.kind} ${g.name} item data`) })
    }
    groups.push({ name: g.name as string, from: g.from as number, items })
  }
  if (p !== body.length) throw bad(`record body is ${body.length} bytes, the header announces ${p}`)
  return { kind: h.kind as RecordKind, groups, blobs }
}
