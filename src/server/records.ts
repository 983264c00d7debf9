/**
 * The kinds of log records the sync carries besides scalars and media (histograms, tables,
 * tensors, kernel densities): the checks the server applies to each item before storing anything,
 * and the payload record each becomes for the server's log writer, so the server's copy is
 * stored by the same native writer, in the same files, as the local run.
 */
import { InvalidArgumentError } from '../errors'
import { Subkind } from '../board/logWriter'
import type { RecordItem, RecordKind } from '../sync/protocol'

/** The metadata.db table that holds each kind's rows (histograms have their own files). */
export const ROW_TABLE: Record<Exclude<RecordKind, 'histograms'>, string> = {
  tables: 'tables',
  tensors: 'tensors',
  kernelDensity: 'kernel_density',
}

/** Bytes per element of each .npy dtype (a Map: the dtype comes from the client). */
const ITEM_SIZE = new Map<string, number>([
  ['<f4', 4], ['<f8', 8], ['|i1', 1], ['|u1', 1], ['<i2', 2], ['<u2', 2], ['<i4', 4], ['<u4', 4], ['<i8', 8], ['<u8', 8],
])

const nonNegInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0

/** A table cell that refers to a media file: `{ key, type, caption, width, height }`. */
export interface TableCell {
  key: string
  type: string
  caption: string | null
  width: number | null
  height: number | null
}

/** What the writer gets for one item: subkind, record metadata, data bytes. */
export interface Payload {
  subkind: Subkind
  meta: Record<string, unknown>
  data: Uint8Array
  /** Media files (keys) the data is made of, in order (tables only). */
  cells?: TableCell[]
}

/** Check an item of `kind` named `name`; every problem is an InvalidArgumentError (400). */
export function toPayload(kind: RecordKind, name: string, it: RecordItem): Payload {
  const bad = (why: string) => new InvalidArgumentError(`${kind} ${name} step ${it.step}: ${why}`)
  const m = it.meta
  switch (kind) {
    case 'histograms': {
      if (![m.nan, m.posinf, m.neginf].every(nonNegInt)) throw bad('nan/posinf/neginf must be counts')
      const n = it.data.byteLength / 8
      const bins = (n - 1) / 2
      if (!Number.isInteger(bins) || bins < 1) throw bad(`${it.data.byteLength} data bytes are not edges and counts of >= 1 bin`)
      const f = new Float64Array(n)
      new Uint8Array(f.buffer).set(it.data)
      for (let i = bins + 1; i < n; i++) if (!nonNegInt(f[i])) throw bad(`count ${f[i]} is not a non-negative integer`)
      return { subkind: Subkind.HistogramBins, meta: { nan: m.nan, posinf: m.posinf, neginf: m.neginf }, data: it.data }
    }
    case 'tables': {
      if (!Array.isArray(m.columns) || !m.columns.every((c) => typeof c === 'string')) throw bad('columns must be strings')
      if (!Array.isArray(m.columnTypes) || !m.columnTypes.every((c) => typeof c === 'string')) throw bad('columnTypes must be strings')
      if (!Array.isArray(m.rows) || !m.rows.every(Array.isArray)) throw bad('rows must be arrays')
      if (!Array.isArray(m.cells)) throw bad('cells must be a list')
      const cells = m.cells as TableCell[]
      for (const c of cells) {
        if (typeof c?.key !== 'string' || !/^[0-9a-f]{64}\.[a-z0-9]{1,8}$/.test(c.key)) throw bad(`media cell key ${JSON.stringify(c?.key)} is not <sha256>.<format>`)
        if (!['image', 'video', 'audio'].includes(c.type)) throw bad(`media cell type ${JSON.stringify(c.type)}`)
        if (c.caption !== null && typeof c.caption !== 'string') throw bad('media cell caption must be a string or null')
        if (![c.width, c.height].every((d) => d === null || nonNegInt(d))) throw bad('media cell width/height must be integers or null')
      }
      for (const r of m.rows as unknown[][]) {
        for (const x of r) {
          const i = (x as { $media?: unknown } | null)?.$media
          if (i !== undefined && !(nonNegInt(i) && i < cells.length)) throw bad(`media cell ${JSON.stringify(i)} refers to no cell`)
        }
      }
      if (it.data.byteLength !== 0) throw bad('a table item carries no data bytes (its media travel as blobs)')
      return { subkind: Subkind.Table, meta: { columns: m.columns, types: m.columnTypes, rows: m.rows }, data: it.data, cells }
    }
    case 'tensors': {
      const size = typeof m.dtype === 'string' ? ITEM_SIZE.get(m.dtype) : undefined
      if (size === undefined) throw bad(`dtype ${JSON.stringify(m.dtype)} is not one of ${[...ITEM_SIZE.keys()].join(' ')}`)
      if (!Array.isArray(m.shape) || !m.shape.every(nonNegInt)) throw bad('shape must be a list of sizes')
      const elems = (m.shape as number[]).reduce((a, b) => a * b, 1)
      if (elems * size !== it.data.byteLength) throw bad(`${it.data.byteLength} data bytes for shape [${(m.shape as number[]).join(', ')}] of ${m.dtype}`)
      return { subkind: Subkind.Tensor, meta: { dtype: m.dtype, shape: m.shape, metadata: m.metadata ?? null }, data: it.data }
    }
    case 'kernelDensity': {
      if (!(Number.isSafeInteger(m.points) && (m.points as number) >= 2)) throw bad('points must be an integer >= 2')
      if (!(typeof m.bandwidth === 'number' && Number.isFinite(m.bandwidth) && m.bandwidth > 0)) throw bad('bandwidth must be a positive number')
      if (!nonNegInt(m.count)) throw bad('count must be a count')
      if (it.data.byteLength !== 16 * (m.points as number)) throw bad(`${it.data.byteLength} data bytes for a grid and density of ${m.points} points`)
      // The grid and density travel as computed: the values they came from stay local.
      return { subkind: Subkind.KernelDensity, meta: { points: m.points, bandwidth: m.bandwidth, count: m.count, precomputed: true }, data: it.data }
    }
  }
}
