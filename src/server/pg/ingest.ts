/**
 * The sync protocol's write side on PostgreSQL and the bucket. Each batch is one transaction
 * that first locks the run's row (`FOR UPDATE`): batches of one run are applied one at a time
 * across every replica, so a batch resent to two replicas at once is stored once. What a batch
 * stores is decided inside that transaction from the counts it finds (a resent prefix is
 * skipped, a gap is a GapError and rolls back), and the reply is sent after COMMIT.
 *
 * Scalars go to the run's tail as one packed chunk row per metric and batch (never a row per
 * point); ./seal moves full chunks to the bucket afterwards. Media and large record data are
 * written to the bucket before the transaction, so no committed row lacks its object.
 */
import { createHash } from 'node:crypto'
import type { PoolClient } from 'pg'
import { InvalidArgumentError } from '../../errors'
import type { DecodedMetric, MediaBatch, RecordBatch, RecordKind } from '../../sync/protocol'
import { RECORD_KINDS } from '../../sync/protocol'
import { HttpError } from '../../viewer/paths'
import { toPayload } from '../records'
import type { Payload } from '../records'
import { countsObject, mirroredFields } from '../run-metadata'
import { GapError } from '../storage'
import type { Ingest, RunState } from '../storage'
import { encodeChunk } from './chunk'
import type { PointColumns } from './chunk'
import { f8, insertRows } from './db'
import type { Db } from './db'
import { KEYS } from './objects'
import type { Objects } from './objects'
import { concatColumns, sliceColumns, stepRange, valueRange } from './points'
import type { Sealer } from './seal'

/** The channel each commit that stores into a run is announced on (payload `project/folder`). */
export const CHANGES = 'amber_runs'

/** Record data larger than this goes to the bucket instead of a row. */
const INLINE_BYTES = 256 << 10

/** Lock the run's row for the rest of the transaction; a 409 when the run was never PUT. */
async function lockRun(c: PoolClient, project: string, folder: string): Promise<{ id: number; output: number }> {
  const r = await c.query<{ id: number; output_size: number }>('SELECT id, output_size FROM amber_runs WHERE project = $1 AND folder = $2 FOR UPDATE', [project, folder])
  if (!r.rows.length) throw new HttpError(409, `run ${project}/${folder} is not open on the server: PUT it first`)
  return { id: r.rows[0].id, output: r.rows[0].output_size }
}

/** The run changed: its fingerprint moves and every replica's live streams are told at COMMIT. */
async function changed(c: PoolClient, run: number, project: string, folder: string): Promise<void> {
  await c.query('WITH bumped AS (UPDATE amber_runs SET version = version + 1 WHERE id = $1) SELECT pg_notify($2, $3)', [run, CHANGES, `${project}/${folder}`])
}

/** `name -> count` of a run's rows grouped by name (media, or one kind of record). */
async function countsOf(c: PoolClient, sql: string, params: unknown[]): Promise<Map<string, number>> {
  return new Map((await c.query<{ name: string; n: number }>(sql, params)).rows.map((r) => [r.name, Number(r.n)]))
}

function checkHashes(blobs: Map<string, Buffer>): void {
  for (const [key, data] of blobs) {
    if (createHash('sha256').update(data).digest('hex') !== key.slice(0, 64)) throw new InvalidArgumentError(`media file ${key}: content does not match its hash`)
  }
}

/** A table row's media cells as the reader shows them (`{ media_hash, format, ... }`). */
function tableRows(p: Payload): unknown[][] {
  const cells = p.cells ?? []
  return (p.meta.rows as unknown[][]).map((row) =>
    row.map((x) => {
      const i = (x as { $media?: number } | null)?.$media
      if (i === undefined) return x
      const c = cells[i]
      return { media_hash: c.key.slice(0, 64), format: c.key.slice(65), type: c.type, caption: c.caption, width: c.width, height: c.height }
    }),
  )
}

export class PgIngest implements Ingest {
  constructor(
    private readonly db: Db,
    private readonly objects: Objects,
    private readonly sealer: Sealer,
  ) {}

  async open(project: string, folder: string, metadata: Record<string, unknown>): Promise<RunState> {
    const fields = mirroredFields({ ...metadata, project })
    const now = new Date().toISOString()
    const created = { ...fields, folder, status: 'running', createdAt: typeof metadata.createdAt === 'string' ? metadata.createdAt : now, finishedAt: null, exitCode: null, syncedAt: now }
    const again = { ...fields, status: 'running', syncedAt: now }
    return this.db.tx(async (c) => {
      const r = await c.query<{ id: number; output_size: number }>(
        `INSERT INTO amber_runs (project, folder, metadata) VALUES ($1, $2, $3)
         ON CONFLICT (project, folder) DO UPDATE SET metadata = amber_runs.metadata || $4::jsonb, version = amber_runs.version + 1
         RETURNING id, output_size`,
        [project, folder, JSON.stringify(created), JSON.stringify(again)],
      )
      const run = r.rows[0].id
      await c.query('SELECT pg_notify($1, $2)', [CHANGES, `${project}/${folder}`])
      // Every count in one round trip: a client PUTs its run on every pass.
      const rows = (await c.query<{ what: string; name: string; n: number }>(
        `SELECT 'metric' AS what, name, count AS n FROM amber_series WHERE run = $1
         UNION ALL SELECT 'media', name, count(*) FROM amber_media WHERE run = $1 GROUP BY name
         UNION ALL SELECT 'file', key, 0 FROM amber_run_files WHERE run = $1
         UNION ALL SELECT kind, name, count(*) FROM amber_records WHERE run = $1 GROUP BY kind, name`,
        [run],
      )).rows
      const of = (what: string) => countsObject(rows.filter((x) => x.what === what).map((x) => [x.name, Number(x.n)] as const))
      const metrics = of('metric')
      const media = of('media')
      const keys = rows.filter((x) => x.what === 'file').map((x) => x.name)
      const records = Object.fromEntries(RECORD_KINDS.map((kind) => [kind, of(kind)])) as Record<RecordKind, Record<string, number>>
      return { metrics, media, keys, records, output: r.rows[0].output_size }
    })
  }

  async scalars(project: string, folder: string, batch: DecodedMetric[]): Promise<{ stored: number; counts: Record<string, number> }> {
    const out = await this.db.tx(async (c) => {
      type Head = { id: number; count: number; sealed: number; min: number | null; max: number | null }
      // The heads are read by a statement of their own after the lock is held: under READ
      // COMMITTED a statement that waited for the lock re-reads only the locked row, so heads
      // joined into the locking statement could predate the batch another replica just stored.
      const run = (await lockRun(c, project, folder)).id
      const heads = new Map<string, Head>()
      const found = await c.query<Head & { name: string }>('SELECT id, name, count, sealed, min, max FROM amber_series WHERE run = $1 AND name = ANY($2)', [run, [...new Set(batch.map((m) => m.name))]])
      for (const h of found.rows) heads.set(h.name, h)
      // Check the whole batch before storing any of it: a refused batch stores nothing.
      const seen = new Map<string, number>()
      const fresh = new Map<string, PointColumns[]>()
      for (const m of batch) {
        const have = seen.get(m.name) ?? heads.get(m.name)?.count ?? 0
        if (m.from > have) throw new GapError(m.name, have, m.from)
        const skip = Math.min(have - m.from, m.value.length)
        seen.set(m.name, Math.max(have, m.from + m.value.length))
        if (skip < m.value.length) fresh.set(m.name, [...(fresh.get(m.name) ?? []), sliceColumns(m, skip, m.value.length)])
      }
      const added = [...fresh.keys()].filter((n) => !heads.has(n))
      if (added.length) {
        const next = (await c.query<{ m: number }>('SELECT coalesce(max(id), 0) AS m FROM amber_series WHERE run = $1', [run])).rows[0].m + 1
        const ids = added.map((_, i) => next + i)
        await c.query('INSERT INTO amber_series (run, id, name) SELECT $1, * FROM unnest($2::int[], $3::text[])', [run, ids, added])
        added.forEach((name, i) => heads.set(name, { id: ids[i], count: 0, sealed: 0, min: null, max: null }))
      }
      const tail: unknown[][] = []
      const head = { id: [] as number[], count: [] as number[], step: [] as unknown[], gs: [] as unknown[], ts: [] as unknown[], value: [] as unknown[], min: [] as unknown[], max: [] as unknown[] }
      let stored = 0
      const sealable: number[] = []
      for (const [name, parts] of fresh) {
        const h = heads.get(name)!
        const cols = concatColumns(parts)
        const n = cols.value.length
        const last = n - 1
        const steps = stepRange(cols)
        // Not deflated: the seal re-encodes these points for good soon.
        tail.push([run, h.id, h.count, n, f8(steps.min), f8(steps.max), encodeChunk(cols, { deflate: false })])
        const range = valueRange(cols, h.min, h.max)
        head.id.push(h.id)
        head.count.push(h.count + n)
        head.step.push(f8(cols.step[last]))
        head.gs.push(f8(cols.globalStep[last]))
        head.ts.push(f8(cols.timestamp[last]))
        head.value.push(f8(cols.value[last]))
        head.min.push(f8(range.min))
        head.max.push(f8(range.max))
        if (h.count + n - h.sealed >= this.sealer.chunkPoints) sealable.push(h.id)
        stored += n
      }
      if (stored > 0) {
        await insertRows(c, 'amber_tail', ['run', 'series', 'start', 'n', 'min_step', 'max_step', 'data'], tail)
        await c.query(
          `UPDATE amber_series s SET count = u.count, last_step = u.step, last_global_step = u.gs, last_timestamp = u.ts, last_value = u.value, min = u.min, max = u.max
           FROM unnest($2::int[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[]) AS u(id, count, step, gs, ts, value, min, max)
           WHERE s.run = $1 AND s.id = u.id`,
          [run, head.id, head.count, head.step, head.gs, head.ts, head.value, head.min, head.max],
        )
        await changed(c, run, project, folder)
      }
      return { run, stored, sealable, counts: countsObject(seen) }
    })
    if (out.sealable.length) this.sealer.soon(out.run)
    return { stored: out.stored, counts: out.counts }
  }

  async media(project: string, folder: string, batch: MediaBatch): Promise<{ stored: number; media: Record<string, number> }> {
    checkHashes(batch.blobs)
    // Objects before rows: a row never refers to a file the bucket lacks.
    await this.objects.writeMany([...batch.blobs].map(([key, data]) => [KEYS.media(key), data]))
    return this.db.tx(async (c) => {
      const run = (await lockRun(c, project, folder)).id
      const counts = await countsOf(c, 'SELECT name, count(*) AS n FROM amber_media WHERE run = $1 AND name = ANY($2) GROUP BY name', [run, batch.media.map((m) => m.name)])
      const refs = [...new Set(batch.media.flatMap((m) => m.items.map((it) => it.key)))]
      const known = new Set((await c.query<{ key: string }>('SELECT key FROM amber_run_files WHERE run = $1 AND key = ANY($2)', [run, refs])).rows.map((r) => r.key))
      const seen = new Map<string, number>()
      const missing = new Set<string>()
      const rows: Array<{ name: string; idx: number; it: MediaBatch['media'][number]['items'][number] }> = []
      for (const m of batch.media) {
        const have = seen.get(m.name) ?? counts.get(m.name) ?? 0
        if (m.from > have) throw new GapError(m.name, have, m.from)
        const skip = Math.min(have - m.from, m.items.length)
        m.items.slice(skip).forEach((it, i) => {
          if (!batch.blobs.has(it.key) && !known.has(it.key)) missing.add(it.key)
          rows.push({ name: m.name, idx: have + i, it })
        })
        seen.set(m.name, Math.max(have, m.from + m.items.length))
      }
      if (missing.size) throw new GapError(batch.media[0].name, 0, 0, [...missing])
      if (rows.length) {
        await c.query(
          `INSERT INTO amber_media (run, name, idx, step, global_step, timestamp, type, caption, width, height, key)
           SELECT $1, * FROM unnest($2::text[], $3::int[], $4::float8[], $5::float8[], $6::float8[], $7::text[], $8::text[], $9::int[], $10::int[], $11::text[])`,
          [run, rows.map((r) => r.name), rows.map((r) => r.idx), rows.map((r) => r.it.step), rows.map((r) => r.it.globalStep), rows.map((r) => r.it.timestamp),
            rows.map((r) => r.it.type), rows.map((r) => r.it.caption), rows.map((r) => r.it.width ?? null), rows.map((r) => r.it.height ?? null), rows.map((r) => r.it.key)],
        )
        await c.query('INSERT INTO amber_run_files (run, key) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [run, [...new Set(rows.map((r) => r.it.key))]])
        await changed(c, run, project, folder)
      }
      return { stored: rows.length, media: countsObject(seen) }
    })
  }

  async records(project: string, folder: string, batch: RecordBatch): Promise<{ stored: number; counts: Record<string, number> }> {
    checkHashes(batch.blobs)
    // Every item is checked before anything is written (a 400 stores nothing).
    const groups = batch.groups.map((g) => ({ ...g, payloads: g.items.map((it) => toPayload(batch.kind, g.name, it)) }))
    const objects: Array<[string, Buffer]> = [...batch.blobs].map(([key, data]) => [KEYS.media(key), data])
    const big = new Map<Uint8Array, string>()
    for (const g of groups) {
      for (const p of g.payloads) {
        if (p.data.byteLength <= INLINE_BYTES) continue
        const key = KEYS.blob(createHash('sha256').update(p.data).digest('hex'))
        objects.push([key, Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength)])
        big.set(p.data, key)
      }
    }
    await this.objects.writeMany(objects)
    return this.db.tx(async (c) => {
      const run = (await lockRun(c, project, folder)).id
      const counts = await countsOf(c, 'SELECT name, count(*) AS n FROM amber_records WHERE run = $1 AND kind = $2 AND name = ANY($3) GROUP BY name', [run, batch.kind, groups.map((g) => g.name)])
      const refs = [...new Set(groups.flatMap((g) => g.payloads.flatMap((p) => (p.cells ?? []).map((x) => x.key))))]
      const known = new Set((await c.query<{ key: string }>('SELECT key FROM amber_run_files WHERE run = $1 AND key = ANY($2)', [run, refs])).rows.map((r) => r.key))
      const seen = new Map<string, number>()
      const missing = new Set<string>()
      const rows: Array<{ name: string; idx: number; step: number; gs: number; ts: number; meta: string; data: Buffer | null; object: string | null }> = []
      const files = new Set<string>()
      for (const g of groups) {
        const have = seen.get(g.name) ?? counts.get(g.name) ?? 0
        if (g.from > have) throw new GapError(`${batch.kind} ${g.name}`, have, g.from)
        const skip = Math.min(have - g.from, g.items.length)
        for (let i = skip; i < g.items.length; i++) {
          const it = g.items[i]
          const p = g.payloads[i]
          for (const cell of p.cells ?? []) {
            if (!batch.blobs.has(cell.key) && !known.has(cell.key)) missing.add(cell.key)
            files.add(cell.key)
          }
          const meta = batch.kind === 'tables' ? { columns: p.meta.columns, columnTypes: p.meta.types, rows: tableRows(p) } : p.meta
          const object = big.get(p.data) ?? null
          rows.push({ name: g.name, idx: have + i - skip, step: it.step, gs: it.globalStep, ts: it.timestamp, meta: JSON.stringify(meta), data: object ? null : Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength), object })
        }
        seen.set(g.name, Math.max(have, g.from + g.items.length))
      }
      if (missing.size) throw new GapError(`${batch.kind} ${batch.groups[0].name}`, 0, 0, [...missing])
      if (rows.length) {
        await insertRows(c, 'amber_records', ['run', 'kind', 'name', 'idx', 'step', 'global_step', 'timestamp', 'meta', 'data', 'object'], rows.map((r) => [run, batch.kind, r.name, r.idx, r.step, r.gs, r.ts, r.meta, r.data, r.object]))
        if (files.size) await c.query('INSERT INTO amber_run_files (run, key) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [run, [...files]])
        await changed(c, run, project, folder)
      }
      return { stored: rows.length, counts: countsObject(seen) }
    })
  }

  async output(project: string, folder: string, from: number, bytes: Buffer): Promise<{ stored: number; output: number }> {
    return this.db.tx(async (c) => {
      const { id: run, output: have } = await lockRun(c, project, folder)
      if (from > have) throw new GapError('output', have, from)
      const rest = bytes.subarray(Math.min(have - from, bytes.length))
      if (rest.length > 0) {
        await c.query('INSERT INTO amber_output (run, start, size, data) VALUES ($1, $2, $3, $4)', [run, have, rest.length, rest])
        await c.query('UPDATE amber_runs SET output_size = $2 WHERE id = $1', [run, have + rest.length])
        await changed(c, run, project, folder)
      }
      return { stored: rest.length, output: have + rest.length }
    })
  }

  async finish(project: string, folder: string, status: string, exitCode: number | null, finishedAt: string | null): Promise<void> {
    const run = await this.db.tx(async (c) => {
      const { id } = await lockRun(c, project, folder)
      await c.query('UPDATE amber_runs SET metadata = metadata || $2::jsonb WHERE id = $1', [id, JSON.stringify({ status, exitCode, ...(finishedAt ? { finishedAt } : {}) })])
      await changed(c, id, project, folder)
      return id
    })
    // A finished run is at rest: its tails go to the bucket now (a failure leaves them in the
    // database, where they are read as well, for the sealer's next pass).
    await this.sealer.sealRun(run, true).catch((e: unknown) => process.stderr.write(`amber serve: sealing ${project}/${folder}: ${(e as Error)?.message ?? e}\n`))
  }
}
