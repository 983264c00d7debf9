/**
 * What the PostgreSQL index keeps about a chunk instead of its points: the last point and the
 * value range (what a run listing shows) and a level-of-detail blob (what a chart overview
 * draws), about 0.3 B a point against the chunk's ~7 in the bucket.
 *
 * Which points survive is the local reader's rule (crates/ambervault-core/src/board/reader.rs,
 * `downsample`), so a chart looks the same from either backend. In each bucket of consecutive
 * points it keeps, in step order and each once:
 * - the point with the smallest finite value and the one with the largest (the first of equals);
 * - the first non-finite point (NaN or ±Infinity: what a user hunts for). A bucket with no finite
 *   value thus keeps its first point only.
 * The first and last points of a series are not kept as such. `downsample` splits n points into
 * floor(maxPoints / 2) buckets by index; the lod uses fixed blocks of `blockSize` points.
 * Two things to know:
 * - with non-finite values a bucket keeps up to 3 points, so a result can hold up to
 *   3 · floor(maxPoints / 2) points: the local reader does the same, and this keeps it so;
 * - the one difference: a downsample of merged lods has its bucket edges elsewhere than one of
 *   the raw points, so the same extremes show (every block's extremes are in its lod) but the
 *   points between them can differ, and merged lods of no more than maxPoints points come back
 *   as they are. To return the very points the local reader returns, a server reads the chunks
 *   when the metric has at most maxPoints points.
 */
import { InvalidArgumentError } from '../../errors'
import { keepExtremes, pickPoints } from '../../board/downsample'
import { MAX_CHUNK_POINTS, decodeChunk, encodeChunk, pointCount, type PointColumns } from './chunk'

/**
 * The min/max downsample lives with the local reader's side (../../board/downsample), where the
 * run-folder backend takes it from too; given the concatenated lods of a metric's chunks, in step
 * order, it draws a whole run.
 */
export { downsample } from '../../board/downsample'

export interface ChunkSummary {
  count: number
  /** null for an empty chunk, as are the other first/last fields. */
  firstStep: number | null
  lastStep: number | null
  lastGlobalStep: number | null
  lastTimestamp: number | null
  /** May be NaN (the local reader's summaries say NaN too). */
  lastValue: number | null
  /** The range of the non-NaN values (±Infinity included); null when there is none. */
  min: number | null
  max: number | null
  /** The lod points (see above) as a chunk (./chunk), read back with `decodeLod`. */
  lod: Buffer
}

export function summarize(cols: PointColumns, blockSize = 64): ChunkSummary {
  const n = pointCount(cols)
  if (!(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= MAX_CHUNK_POINTS)) {
    throw new InvalidArgumentError(`blockSize must be an integer in [1, ${MAX_CHUNK_POINTS}] (got ${blockSize})`)
  }
  const v = cols.value
  let min: number | null = null
  let max: number | null = null
  for (let i = 0; i < n; i++) {
    const x = v[i]
    if (x !== x) continue
    if (min === null || x < min) min = x
    if (max === null || x > max) max = x
  }
  const keep: number[] = []
  for (let lo = 0; lo < n; lo += blockSize) keepExtremes(v, lo, Math.min(n, lo + blockSize), keep)
  const last = n - 1
  return {
    count: n,
    firstStep: n ? cols.step[0] : null,
    lastStep: n ? cols.step[last] : null,
    lastGlobalStep: n ? cols.globalStep[last] : null,
    lastTimestamp: n ? cols.timestamp[last] : null,
    lastValue: n ? v[last] : null,
    min,
    max,
    lod: encodeChunk(pickPoints(cols, keep)),
  }
}

/** The points of a lod blob; CorruptDataError when it is not one. */
export function decodeLod(buf: Uint8Array): PointColumns {
  return decodeChunk(buf)
}
