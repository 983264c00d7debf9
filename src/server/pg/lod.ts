/**
 * A chunk's level of detail: what the PostgreSQL index keeps of a sealed chunk so that a chart
 * overview is drawn without reading the chunk (each block's extremes, about 0.3 B a point against
 * the chunk's ~7 in the bucket), and what thins an unsealed tail the same way.
 *
 * Which points survive is the local reader's rule (crates/ambervault-core/src/board/reader.rs,
 * `downsample`), so a chart looks the same from either backend. In each bucket of consecutive
 * points it keeps, in step order and each once:
 * - the point with the smallest finite value and the one with the largest (the first of equals);
 * - the first non-finite point (NaN or ±Infinity: what a user hunts for). A bucket with no finite
 *   value thus keeps its first point only.
 * The first and last points are kept too: a series' by `downsample` (floor((maxPoints - 2) / 2)
 * buckets by index), a chunk's by its lod (fixed blocks of `blockSize` points), so merged lods
 * begin and end where the metric does. Two things to know:
 * - with non-finite values a bucket keeps up to 3 points, so a result can hold more than
 *   maxPoints points: the local reader does the same, and this keeps it so;
 * - the one difference: a downsample of merged lods has its bucket edges elsewhere than one of
 *   the raw points, so the same extremes show (every block's extremes are in its lod) but the
 *   points between them can differ, and merged lods of no more than maxPoints points come back
 *   as they are. To return the very points the local reader returns, a server reads the chunks
 *   when the metric has at most maxPoints points.
 */
import { InvalidArgumentError } from '../../errors'
import { keepExtremes, pickPoints, withEnds } from '../../board/downsample'
import { MAX_CHUNK_POINTS, decodeChunk, encodeChunk, pointCount, type PointColumns } from './chunk'

/** Points per lod block (a downsample bucket at least this wide can be drawn from lods). */
export const LOD_BLOCK = 64

/** The points a lod keeps of `cols`: each block's extremes, and the first and last points. */
export function lodPoints(cols: PointColumns, blockSize = LOD_BLOCK): PointColumns {
  const n = pointCount(cols)
  if (!(Number.isInteger(blockSize) && blockSize >= 1 && blockSize <= MAX_CHUNK_POINTS)) {
    throw new InvalidArgumentError(`blockSize must be an integer in [1, ${MAX_CHUNK_POINTS}] (got ${blockSize})`)
  }
  const keep: number[] = []
  for (let lo = 0; lo < n; lo += blockSize) keepExtremes(cols.value, lo, Math.min(n, lo + blockSize), keep)
  return pickPoints(cols, withEnds(keep, n))
}

/** A chunk's lod as stored in its index row: the lod points as a chunk (./chunk). */
export function encodeLod(cols: PointColumns, blockSize = LOD_BLOCK): Buffer {
  return encodeChunk(lodPoints(cols, blockSize))
}

/** The points of a lod blob; CorruptDataError when it is not one. */
export function decodeLod(buf: Uint8Array): PointColumns {
  return decodeChunk(buf)
}
