/**
 * Sealing: a metric's tail (packed chunk rows in the database) becomes immutable chunk objects
 * in the bucket of `chunkPoints` points each, and their index rows (with a level-of-detail blob
 * for chart overviews) replace the tail rows. The replica that stored a batch seals after it
 * replies; finishing a run seals what is left. A seal writes its objects first, then swaps the
 * rows under the run's row lock (so it never races an ingest or another replica's seal of the
 * same run); a crash in between leaves orphans for ./collect, never a row without its object.
 */
import { decodeChunk, encodeChunk } from './chunk'
import { f8, insertRows } from './db'
import type { Db } from './db'
import { KEYS } from './objects'
import type { Objects } from './objects'
import { concatColumns, sliceColumns, stepRange } from './points'
import { encodeLod } from './lod'

export class Sealer {
  /** Per run: the seal under way on this replica, and whether another pass was asked for meanwhile. */
  private readonly running = new Map<number, { done: Promise<void>; again: boolean }>()

  constructor(
    private readonly db: Db,
    private readonly objects: Objects,
    readonly chunkPoints = 32_768,
  ) {}

  /** Seal the run's full chunks in the background (one pass at a time per run). */
  soon(run: number): void {
    const busy = this.running.get(run)
    if (busy) {
      busy.again = true
      return
    }
    const state = { done: Promise.resolve(), again: false }
    state.done = (async () => {
      do {
        state.again = false
        try {
          await this.sealRun(run, false)
        } catch (e) {
          // The tail stays in the database, readable; the next batch or finish tries again.
          process.stderr.write(`amber serve: sealing run ${run}: ${(e as Error)?.message ?? e}\n`)
          break
        }
      } while (state.again)
    })().finally(() => this.running.delete(run))
    this.running.set(run, state)
  }

  /** Wait for the background seals under way (a shutdown lets them finish). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running.values()].map((s) => s.done))
  }

  /**
   * Seal every metric of the run with a full chunk in its tail; `all` (a finished run): the
   * partial rest too, and the output pieces into one object.
   */
  async sealRun(run: number, all: boolean): Promise<void> {
    const series = await this.db.query<{ id: number }>('SELECT id FROM amber_series WHERE run = $1 AND count - sealed >= $2', [run, all ? 1 : this.chunkPoints])
    for (const { id } of series) await this.sealSeries(run, id, all)
    if (all) await this.sealOutput(run)
  }

  /**
   * The output pieces still in the database, as one object in the bucket: written before the
   * run's lock is taken, swapped for the pieces under it (if they are still the same).
   */
  private async sealOutput(run: number): Promise<void> {
    const pieces = await this.db.query<{ start: number; data: Buffer }>('SELECT start, data FROM amber_output WHERE run = $1 AND data IS NOT NULL ORDER BY start', [run])
    if (!pieces.length) return
    const data = Buffer.concat(pieces.map((p) => p.data))
    const start = pieces[0].start
    const key = KEYS.output(run, start)
    await this.objects.writeMany([[key, data]])
    await this.db.tx(async (c) => {
      await c.query('SELECT 1 FROM amber_runs WHERE id = $1 FOR UPDATE', [run])
      const now = (await c.query<{ n: number; end: number }>('SELECT count(*)::int AS n, max(start + size) AS end FROM amber_output WHERE run = $1 AND data IS NOT NULL AND start >= $2', [run, start])).rows[0]
      // Sealed meanwhile by another replica, or more output arrived: the next pass does it.
      if (now.n !== pieces.length || now.end !== start + data.length) return
      await c.query('DELETE FROM amber_output WHERE run = $1 AND data IS NOT NULL AND start >= $2', [run, start])
      await c.query('INSERT INTO amber_output (run, start, size, object) VALUES ($1, $2, $3, $4)', [run, start, data.length, key])
    })
  }

  /**
   * Seal a metric's tail up to the last full chunk (`all`: to its end). The chunks are made and
   * written without a lock, from the tail as it is; only the swap of rows takes the run's lock,
   * so batches of the run wait for a few statements, not for the encoding and the uploads. If
   * another replica sealed the metric meanwhile, the swap is skipped (the objects written are
   * orphans the collector takes).
   */
  private async sealSeries(run: number, series: number, all: boolean): Promise<void> {
    const head = (await this.db.query<{ count: number; sealed: number }>('SELECT count, sealed FROM amber_series WHERE run = $1 AND id = $2', [run, series]))[0]
    if (!head) return
    const total = head.count - head.sealed
    const chunks = all ? Math.ceil(total / this.chunkPoints) : Math.floor(total / this.chunkPoints)
    if (chunks === 0) return
    const upto = head.sealed + Math.min(total, chunks * this.chunkPoints)
    const rows = await this.db.query<{ start: number; n: number; data: Buffer }>('SELECT start, n, data FROM amber_tail WHERE run = $1 AND series = $2 AND start < $3 ORDER BY start', [run, series, upto])
    if (!rows.length || rows[0].start !== head.sealed) return // sealed meanwhile
    const points = concatColumns(rows.map((r) => decodeChunk(r.data)))
    const last = rows[rows.length - 1]
    if (points.value.length !== last.start + last.n - head.sealed || last.start + last.n < upto) return
    const made: unknown[][] = []
    const objects: Array<[string, Buffer]> = []
    for (let from = head.sealed; from < upto; from += this.chunkPoints) {
      const part = sliceColumns(points, from - head.sealed, Math.min(upto, from + this.chunkPoints) - head.sealed)
      const key = KEYS.chunk(run, series, from, part.value.length)
      const steps = stepRange(part)
      objects.push([key, encodeChunk(part)])
      made.push([run, series, from, part.value.length, f8(steps.min), f8(steps.max), key, encodeLod(part)])
    }
    await this.objects.writeMany(objects)
    await this.db.tx(async (c) => {
      await c.query('SELECT 1 FROM amber_runs WHERE id = $1 FOR UPDATE', [run])
      const now = (await c.query<{ sealed: number }>('SELECT sealed FROM amber_series WHERE run = $1 AND id = $2', [run, series])).rows[0]
      if (now?.sealed !== head.sealed) return
      await insertRows(c, 'amber_chunks', ['run', 'series', 'start', 'n', 'min_step', 'max_step', 'object', 'lod'], made)
      await c.query('DELETE FROM amber_tail WHERE run = $1 AND series = $2 AND start < $3', [run, series, upto])
      // The row the last chunk ends inside keeps its points past the chunk, as a row of its own.
      if (last.start + last.n > upto) {
        const rest = sliceColumns(points, upto - head.sealed, points.value.length)
        const steps = stepRange(rest)
        await c.query('INSERT INTO amber_tail (run, series, start, n, min_step, max_step, data) VALUES ($1, $2, $3, $4, $5, $6, $7)', [run, series, upto, rest.value.length, f8(steps.min), f8(steps.max), encodeChunk(rest, { deflate: false })])
      }
      await c.query('UPDATE amber_series SET sealed = $3 WHERE run = $1 AND id = $2', [run, series, upto])
    })
  }
}
