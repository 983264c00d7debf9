/**
 * The database's tables, as numbered migrations applied at start. Replicas starting together
 * take a session advisory lock first, so one applies the missing steps while the others wait
 * and then find nothing to do. A database newer than this code is refused rather than misread.
 *
 * What is where (docs/server-storage.md): PostgreSQL holds the index (tokens, runs, per-metric
 * heads, the unsealed tail of each metric as packed chunk rows, the index of sealed chunks with
 * their summaries, records, output); the bucket holds the bulk (media by content hash, sealed
 * chunks). Never one row per point.
 */
import type { Pool, PoolClient } from 'pg'
import { VaultIoError } from '../../errors'

/** Arbitrary constant keys of the advisory locks the replicas share. */
export const LOCKS = { migrate: 0x616d6201, collect: 0x616d6202 } as const

const MIGRATIONS: string[] = [
  // 1: the first schema.
  `
  CREATE TABLE amber_tokens (
    id text PRIMARY KEY,
    name text NOT NULL,
    hash text NOT NULL UNIQUE,
    projects jsonb NOT NULL,
    read_only boolean NOT NULL,
    created_at text NOT NULL
  );
  CREATE TABLE amber_runs (
    id bigserial PRIMARY KEY,
    project text NOT NULL,
    folder text NOT NULL,
    metadata jsonb NOT NULL,
    -- Bumped by every commit that stores into the run: the live streams' fingerprint.
    version bigint NOT NULL DEFAULT 0,
    output_size bigint NOT NULL DEFAULT 0,
    UNIQUE (project, folder)
  );
  -- One row per (run, scalar metric): its head, what the run list and live streams read.
  CREATE TABLE amber_series (
    run bigint NOT NULL REFERENCES amber_runs ON DELETE CASCADE,
    id integer NOT NULL,
    name text NOT NULL,
    count bigint NOT NULL DEFAULT 0,
    sealed bigint NOT NULL DEFAULT 0,
    last_step float8, last_global_step float8, last_timestamp float8, last_value float8,
    min float8, max float8,
    PRIMARY KEY (run, id),
    UNIQUE (run, name)
  );
  -- Points not sealed yet: one packed chunk per stored batch and metric (src/server/pg/chunk.ts).
  CREATE TABLE amber_tail (
    run bigint NOT NULL,
    series integer NOT NULL,
    start bigint NOT NULL,
    n integer NOT NULL,
    -- The chunk's step range: how a live read finds the points after a step, a zoom its chunks.
    min_step float8 NOT NULL,
    max_step float8 NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (run, series, start),
    FOREIGN KEY (run, series) REFERENCES amber_series ON DELETE CASCADE
  );
  -- Sealed chunks: the points are an immutable object in the bucket; the row keeps its summary
  -- and a level-of-detail blob (per block of points, the min and max points) for overviews.
  CREATE TABLE amber_chunks (
    run bigint NOT NULL,
    series integer NOT NULL,
    start bigint NOT NULL,
    n integer NOT NULL,
    min_step float8 NOT NULL,
    max_step float8 NOT NULL,
    object text NOT NULL,
    lod bytea NOT NULL,
    PRIMARY KEY (run, series, start),
    FOREIGN KEY (run, series) REFERENCES amber_series ON DELETE CASCADE
  );
  -- Histograms, tables, tensors and kernel densities: one row per occurrence.
  CREATE TABLE amber_records (
    run bigint NOT NULL REFERENCES amber_runs ON DELETE CASCADE,
    kind text NOT NULL,
    name text NOT NULL,
    idx integer NOT NULL,
    step float8 NOT NULL, global_step float8 NOT NULL, timestamp float8 NOT NULL,
    meta jsonb NOT NULL,
    data bytea,
    -- A large data part is an object in the bucket instead.
    object text,
    PRIMARY KEY (run, kind, name, idx)
  );
  CREATE TABLE amber_media (
    run bigint NOT NULL REFERENCES amber_runs ON DELETE CASCADE,
    name text NOT NULL,
    idx integer NOT NULL,
    step float8 NOT NULL, global_step float8 NOT NULL, timestamp float8 NOT NULL,
    type text NOT NULL,
    caption text,
    width integer, height integer,
    key text NOT NULL,
    PRIMARY KEY (run, name, idx)
  );
  -- Media files (<sha256>.<format>, objects media/<key>) a run refers to, alone or in table cells.
  CREATE TABLE amber_run_files (
    run bigint NOT NULL REFERENCES amber_runs ON DELETE CASCADE,
    key text NOT NULL,
    PRIMARY KEY (run, key)
  );
  CREATE INDEX amber_run_files_key ON amber_run_files (key);
  -- Captured output in the pieces it was uploaded in; a finished run's pieces are sealed into
  -- one object in the bucket (then data is null).
  CREATE TABLE amber_output (
    run bigint NOT NULL REFERENCES amber_runs ON DELETE CASCADE,
    start bigint NOT NULL,
    size bigint NOT NULL,
    data bytea,
    object text,
    PRIMARY KEY (run, start)
  );
  CREATE INDEX amber_output_object ON amber_output (object) WHERE object IS NOT NULL;
  -- Objects written to the bucket, by key, with when: what the collector compares rows against.
  CREATE INDEX amber_chunks_object ON amber_chunks (object);
  CREATE INDEX amber_records_object ON amber_records (object) WHERE object IS NOT NULL;
  CREATE TABLE amber_objects (
    key text PRIMARY KEY,
    written_at timestamptz NOT NULL DEFAULT now()
  );
  `,
]

export const SCHEMA_VERSION = MIGRATIONS.length

/** Apply the missing migrations (one replica at a time); returns the version now in force. */
export async function migrate(pool: Pool): Promise<number> {
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCKS.migrate])
    try {
      await client.query('CREATE TABLE IF NOT EXISTS amber_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())')
      const have = await current(client)
      if (have > SCHEMA_VERSION) throw new VaultIoError(`the database's amber schema is version ${have}, newer than this amber (${SCHEMA_VERSION}): upgrade amber`)
      for (let v = have + 1; v <= SCHEMA_VERSION; v++) {
        await client.query('BEGIN')
        try {
          await client.query(MIGRATIONS[v - 1])
          await client.query('INSERT INTO amber_schema (version) VALUES ($1)', [v])
          await client.query('COMMIT')
        } catch (e) {
          await client.query('ROLLBACK')
          throw e
        }
      }
      return SCHEMA_VERSION
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCKS.migrate])
    }
  } finally {
    client.release()
  }
}

async function current(client: PoolClient): Promise<number> {
  const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM amber_schema')
  return r.rows[0].v ?? 0
}
