/** Writing log-type values as payload records (the slow path of `log()`). */
import { LogWriter, Subkind } from './logWriter'
import { Histogram, KernelDensity, Media, Table, TensorLog } from './types'

export type Loggable = Histogram | Media | Table | TensorLog | KernelDensity

export function isLoggable(v: unknown): v is Loggable {
  return v instanceof Histogram || v instanceof Media || v instanceof Table || v instanceof TensorLog || v instanceof KernelDensity
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
}

export function writePayload(w: LogWriter, name: string, v: Loggable, step: number, gs: number, ts: number): void {
  if (v instanceof Histogram) {
    if (v.values !== null) {
      w.payload(name, Subkind.HistogramValues, { bins: v.bins, range: v.range ?? null }, v.values, step, gs, ts)
    } else {
      const e = v.edges as ArrayLike<number>
      const c = v.counts as ArrayLike<number>
      const all = new Float64Array(e.length + c.length)
      all.set(e, 0)
      all.set(c, e.length)
      w.payload(name, Subkind.HistogramBins, { nan: v.nan, posinf: v.posinf, neginf: v.neginf }, all, step, gs, ts)
    }
  } else if (v instanceof Media) {
    w.payload(name, Subkind.Media, v.describe(), v.bytes, step, gs, ts)
  } else if (v instanceof TensorLog) {
    w.payload(name, Subkind.Tensor, { dtype: v.dtype, shape: v.shape, metadata: v.metadata ?? null }, bytesOf(v.data), step, gs, ts)
  } else if (v instanceof KernelDensity) {
    w.payload(name, Subkind.KernelDensity, { points: v.points, bandwidth: v.bandwidth ?? null }, v.values, step, gs, ts)
  } else {
    // Table: media cells travel as byte ranges of the record's data, referenced as { $media: i }.
    const cells: Record<string, unknown>[] = []
    const chunks: Uint8Array[] = []
    let offset = 0
    const rows = v.rows.map((r) => r.map((c) => {
      if (!(c instanceof Media)) return c
      cells.push({ ...c.describe(), offset, length: c.bytes.byteLength })
      chunks.push(c.bytes)
      offset += c.bytes.byteLength
      return { $media: cells.length - 1 }
    }))
    const data = new Uint8Array(offset)
    let p = 0
    for (const ch of chunks) {
      data.set(ch, p)
      p += ch.byteLength
    }
    w.payload(name, Subkind.Table, { columns: v.columns, types: v.types, rows, cells }, data, step, gs, ts)
  }
}
