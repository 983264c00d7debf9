/**
 * What one TensorBoard summary value becomes in a run: a scalar, a histogram's bins, images,
 * audio clips, text, or nothing (a kind the import does not carry, counted so the user hears of
 * it). Both encodings writers use are read:
 * - legacy fields (`simple_value`, `histo`, `image`, `audio`), written by torch.utils.tensorboard,
 *   tensorboardX and TF1;
 * - TF2 tensor summaries (`tensor` plus `metadata.plugin_data.plugin_name`), written by
 *   `tf.summary` and the tensorboard package. A writer sends a tag's metadata with its first
 *   value only, so the plugin of a tag is remembered from its first metadata on (as TensorBoard's
 *   EventAccumulator does, across the files of a run).
 */
import { nameProblem } from '../../board/names'
import type { SummaryValue } from './proto'
import { tensorNumbers, tensorShape, tensorStrings } from './proto'

export type Item =
  | { kind: 'scalar'; tag: string; value: number }
  | { kind: 'histogram'; tag: string; edges: Float64Array; counts: Float64Array }
  /** `width`/`height`: what the summary says of its images (null when it does not say). */
  | { kind: 'media'; tag: string; type: 'image' | 'audio'; files: Uint8Array[]; width: number | null; height: number | null }
  | { kind: 'text'; tag: string; texts: string[] }
  | { kind: 'skipped'; tag: string; what: string; why?: string }

const utf8 = new TextDecoder('utf-8')

/** An image size as a summary states it; unknown (0, not a number) as null. */
function size(width: number, height: number): { width: number | null; height: number | null } {
  const ok = (n: number) => Number.isSafeInteger(n) && n > 0
  return ok(width) && ok(height) ? { width, height } : { width: null, height: null }
}

/** Tag → plugin name, from the first value of the tag that had metadata. */
export class TagPlugins {
  private readonly plugins = new Map<string, string>()

  note(tag: string, v: SummaryValue): void {
    if (v.metadata && !this.plugins.has(tag)) this.plugins.set(tag, v.metadata.pluginData?.pluginName ?? '')
  }

  of(tag: string): string {
    return this.plugins.get(tag) ?? ''
  }
}

/**
 * Buckets as TensorBoard draws a legacy HistogramProto (its data_compat migration): empty
 * buckets at both ends dropped, so the outermost limits (often ±DBL_MAX) give way to the data's
 * min and max; `bucket_limit[i]` is the right edge of bucket i.
 */
function legacyHistogram(h: NonNullable<SummaryValue['histo']>): { edges: Float64Array; counts: Float64Array } | string {
  const counts = h.bucket
  if (h.bucketLimit.length !== counts.length) return `${h.bucketLimit.length} bucket limits for ${counts.length} buckets`
  let start = 0
  while (start < counts.length && !(counts[start] > 0)) start++
  let end = counts.length - 1
  while (end >= 0 && !(counts[end] > 0)) end--
  if (start > end) return 'no values'
  const inner = h.bucketLimit.slice(start, end)
  return { edges: Float64Array.from([h.min, ...inner, h.max]), counts: Float64Array.from(counts.slice(start, end + 1)) }
}

/** A TF2 histogram tensor: k rows of (left edge, right edge, count). */
function tensorHistogram(v: SummaryValue, where: string): { edges: Float64Array; counts: Float64Array } | string {
  const t = v.tensor!
  const shape = tensorShape(t)
  if (shape.length !== 2 || shape[1] !== 3) return `a histogram tensor of shape [${shape.join(', ')}] (expected [k, 3])`
  const k = shape[0]
  if (k === 0) return 'no buckets'
  const x = tensorNumbers(t, where)
  if (!x) return `a histogram tensor of dtype ${t.dtype}`
  const edges = new Float64Array(k + 1)
  const counts = new Float64Array(k)
  for (let i = 0; i < k; i++) {
    edges[i] = x[3 * i]
    counts[i] = x[3 * i + 2]
  }
  edges[k] = x[3 * (k - 1) + 1]
  return { edges, counts }
}

/** What `v` (a value of an event; `where` names it in errors) becomes. */
export function classify(v: SummaryValue, plugins: TagPlugins, where: string): Item {
  // Tensor summaries from the days of plugin assets may carry their name in node_name only.
  const tag = v.kind === 'tensor' && !v.tag ? v.nodeName : v.tag
  plugins.note(tag, v)
  const bad = nameProblem(tag)
  if (bad) return { kind: 'skipped', tag, what: v.kind ?? 'value', why: `its tag cannot be a metric name: ${bad}` }
  switch (v.kind) {
    case 'simpleValue':
      return { kind: 'scalar', tag, value: v.simpleValue }
    case 'histo': {
      const h = legacyHistogram(v.histo!)
      return typeof h === 'string' ? { kind: 'skipped', tag, what: 'histogram', why: h } : { kind: 'histogram', tag, ...h }
    }
    case 'image': {
      const { encodedImageString: bytes, width, height } = v.image!
      return bytes.length ? { kind: 'media', tag, type: 'image', files: [bytes], ...size(width, height) } : { kind: 'skipped', tag, what: 'image', why: 'no bytes' }
    }
    case 'audio': {
      const bytes = v.audio!.encodedAudioString
      return bytes.length ? { kind: 'media', tag, type: 'audio', files: [bytes], width: null, height: null } : { kind: 'skipped', tag, what: 'audio', why: 'no bytes' }
    }
    case 'tensor':
      return classifyTensor(v, tag, plugins.of(tag), where)
    default:
      return { kind: 'skipped', tag, what: 'value of an unknown kind' }
  }
}

function classifyTensor(v: SummaryValue, tag: string, plugin: string, where: string): Item {
  const t = v.tensor!
  switch (plugin) {
    case 'scalars': {
      const x = tensorNumbers(t, where)
      if (!x || x.length !== 1) return { kind: 'skipped', tag, what: 'scalar', why: x ? `${x.length} elements` : `dtype ${t.dtype}` }
      return { kind: 'scalar', tag, value: x[0] }
    }
    case 'histograms': {
      const h = tensorHistogram(v, where)
      return typeof h === 'string' ? { kind: 'skipped', tag, what: 'histogram', why: h } : { kind: 'histogram', tag, ...h }
    }
    case 'images': {
      // [width, height, image, image, ...] as strings (the images plugin's tensor layout).
      const s = tensorStrings(t, where)
      if (!s || s.length < 2) return { kind: 'skipped', tag, what: 'image', why: 'not a tensor of [width, height, images...]' }
      const files = s.slice(2).filter((b) => b.length > 0)
      const dims = size(Number(utf8.decode(s[0])), Number(utf8.decode(s[1])))
      return files.length ? { kind: 'media', tag, type: 'image', files, ...dims } : { kind: 'skipped', tag, what: 'image', why: 'no images' }
    }
    case 'audio': {
      // k rows of (encoded clip, label).
      const s = tensorStrings(t, where)
      const shape = tensorShape(t)
      if (!s || shape.length !== 2 || shape[1] !== 2) return { kind: 'skipped', tag, what: 'audio', why: 'not a tensor of [k, 2] strings' }
      const files = s.filter((_, i) => i % 2 === 0 && s[i].length > 0)
      return files.length ? { kind: 'media', tag, type: 'audio', files, width: null, height: null } : { kind: 'skipped', tag, what: 'audio', why: 'no clips' }
    }
    case 'text': {
      const s = tensorStrings(t, where)
      if (!s) return { kind: 'skipped', tag, what: 'text', why: `dtype ${t.dtype}` }
      return { kind: 'text', tag, texts: s.map((b) => utf8.decode(b)) }
    }
    default:
      return { kind: 'skipped', tag, what: plugin ? `${plugin} summary` : 'tensor summary without a plugin' }
  }
}
