/**
 * Sealing: a metric's tail (packed chunk rows in the database) becomes immutable chunk objects
 * in the bucket of `chunkPoints` points each, and their index rows (with a level-of-detail blob
 * for chart overviews) replace the tail rows. The replica that stored a batch seals after it
 * replies; finishing a run seals what is left. Each seal holds the run's row lock, so it never
 * races an ingest or another replica's seal of the same run, and it writes its objects before
 * the rows that refer to them (a crash in between leaves orphans for ./collect).
 */
import { decodeChunk, encodeChunk } from './chunk'
import { f8 } from './db'
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
    readonly chunkPoints = 8192,
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

  /** The output pieces still in the database, as one object in the bucket. */
  private async sealOutput(run: number): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query('SELECT 1 FROM amber_runs WHERE id = $1 FOR UPDATE', [run])
      const pieces = (await c.query<{ start: number; data: Buffer }>('SELECT start, data FROM amber_output WHERE run = $1 AND data IS NOT NULL ORDER BY start', [run])).rows
      if (!pieces.length) return
      const data = Buffer.concat(pieces.map((p) => p.data))
      const start = pieces[0].start
      const key = KEYS.output(run, start)
      await this.objects.write(key, data)
      await c.query('DELETE FROM amber_output WHERE run = $1 AND data IS NOT NULL', [run])
      await c.query('INSERT INTO amber_output (run, start, size, object) VALUES ($1, $2, $3, $4)', [run, start, data.length, key])
    })
  }

  private async sealSeries(run: number, series: number, all: boolean): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query('SELECT 1 FROM amber_runs WHERE id = $1 FOR UPDATE', [run])
      const head = (await c.query<{ count: number; sealed: number }>('SELECT count, sealed FROM amber_series WHERE run = $1 AND id = $2', [run, series])).rows[0]
      if (!head) return
      const total = head.count - head.sealed
      const chunks = all ? Math.ceil(total / this.chunkPoints) : Math.floor(total / this.chunkPoints)
      if (chunks === 0) return
      const rows = (await c.query<{ start: number; data: Buffer }>('SELECT start, data FROM amber_tail WHERE run = $1 AND series = $2 ORDER BY start', [run, series])).rows
      const points = concatColumns(rows.map((r) => decodeChunk(r.data)))
      const made = { start: [] as number[], n: [] as number[], minStep: [] as unknown[], maxStep: [] as unknown[], object: [] as string[], lod: [] as Buffer[] }
      for (let k = 0; k < chunks; k++) {
        const from = k * this.chunkPoints
        const part = sliceColumns(points, from, Math.min(total, from + this.chunkPoints))
        const start = head.sealed + from
        const key = KEYS.chunk(run, series, start)
        await this.objects.write(key, encodeChunk(part))
        made.start.push(start)
        made.n.push(part.value.length)
        const steps = stepRange(part)
        made.minStep.push(f8(steps.min))
        made.maxStep.push(f8(steps.max))
        made.object.push(key)
        made.lod.push(encodeLod(part))
      }
      const sealed = head.sealed + made.n.reduce((a, b) => a + b, 0)
      await c.query(
        'INSERT INTO amber_chunks (run, series, start, n, min_step, max_step, object, lod) SELECT $1, $2, * FROM unnest($3::bigint[], $4::int[], $5::float8[], $6::float8[], $7::text[], $8::bytea[])',
        [run, series, made.start, made.n, made.minStep, made.maxStep, made.object, made.lod],
      )
      await c.query('DELETE FROM amber_tail WHERE run = $1 AND series = $2', [run, series])
      if (sealed < head.count) {
        const rest = sliceColumns(points, sealed - head.sealed, total)
        const steps = stepRange(rest)
        await c.query('INSERT INTO amber_tail (run, series, start, n, min_step, max_step, data) VALUES ($1, $2, $3, $4, $5, $6, $7)', [run, series, sealed, rest.value.length, f8(steps.min), f8(steps.max), encodeChunk(rest)])
      }
      await c.query('UPDATE amber_series SET sealed = $3 WHERE run = $1 AND id = $2', [run, series, sealed])
    })
  }
}
