//! The `col_meta` / `col_chunks` tables (docs/format.md, "Column tables"; the KohakuVault 0.8
//! layout) and the rows that describe one stored column.

use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// KohakuVault's defaults, and what a NULL in `col_meta` means: chunks start at 128 KiB and never
/// exceed 16 MiB. Columns created here cap theirs lower (`NEW_COLUMN_MAX_CHUNK_BYTES`).
pub const DEFAULT_MIN_CHUNK_BYTES: u64 = 131_072;
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 16_777_216;
/// Below this a chunk is mostly row overhead; the tests' stress sizes (16 B) still fit.
pub const SMALLEST_CHUNK_BYTES: u64 = 16;
/// Entries of a variable-size column's index: `i32 chunk | i32 start | i32 end`.
pub const IDX_ELEM_SIZE: u64 = 12;
pub const IDX_DTYPE: &str = "adaptive_idx";

/// The same DDL as the Python package (including its name index and cascade), so a file
/// created by either side looks identical to both.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kohakuvault_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS col_meta (
    col_id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    dtype TEXT NOT NULL,
    elem_size INTEGER NOT NULL,
    length INTEGER NOT NULL,
    chunk_bytes INTEGER NOT NULL,
    min_chunk_bytes INTEGER DEFAULT 131072,
    max_chunk_bytes INTEGER DEFAULT 16777216
);
CREATE INDEX IF NOT EXISTS col_meta_name_idx ON col_meta(name);
CREATE TABLE IF NOT EXISTS col_chunks (
    col_id INTEGER NOT NULL,
    chunk_idx INTEGER NOT NULL,
    data BLOB NOT NULL,
    actual_size INTEGER NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0,
    has_deleted INTEGER NOT NULL DEFAULT 0,
    start_elem_idx INTEGER DEFAULT 0,
    end_elem_idx INTEGER DEFAULT 0,
    PRIMARY KEY (col_id, chunk_idx),
    FOREIGN KEY (col_id) REFERENCES col_meta(col_id) ON DELETE CASCADE
);
INSERT OR IGNORE INTO kohakuvault_meta (key, value) VALUES ('schema_version', '2');
";

/// Create the column tables if missing (idempotent; safe on files made by KohakuVault).
pub fn ensure_schema(conn: &Connection) -> Result<()> {
    let present: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('col_meta', 'col_chunks', 'kohakuvault_meta')",
        [],
        |r| r.get(0),
    )?;
    if present == 3 {
        let v: Option<String> = conn
            .query_row(
                "SELECT value FROM kohakuvault_meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if v.is_some() {
            return Ok(());
        }
    }
    super::tx::write_tx(conn, |c| Ok(c.execute_batch(SCHEMA)?))
}

/// Chunk sizing of a stored column: `min`/`max` already aligned to the element size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSpec {
    pub elem_size: u64,
    pub min: u64,
    pub max: u64,
}

impl ChunkSpec {
    /// Align `min` up and `max` down to the element size (docs/format.md, "Chunks"), rejecting
    /// sizes that leave no room for one element. When both fall between the same two multiples
    /// (min = max = 64 KiB for the 12-byte entries of a variable-size index), the chunks are
    /// simply `max` aligned down.
    pub fn aligned(name: &str, elem_size: u64, min: u64, max: u64) -> Result<ChunkSpec> {
        if min < SMALLEST_CHUNK_BYTES || max < min {
            return Err(Error::invalid(format!(
                "column \"{name}\": chunk sizes must satisfy {SMALLEST_CHUNK_BYTES} <= minChunkBytes ({min}) <= maxChunkBytes ({max})"
            )));
        }
        if max > i32::MAX as u64 {
            return Err(Error::invalid(format!(
                "column \"{name}\": maxChunkBytes {max} is above the 2 GiB a chunk can address"
            )));
        }
        let amax = (max / elem_size) * elem_size;
        let amin = (min.div_ceil(elem_size) * elem_size).min(amax);
        if amax == 0 {
            return Err(Error::invalid(format!(
                "column \"{name}\": elements of {elem_size} bytes do not fit chunks of {min}..{max} bytes; raise maxChunkBytes"
            )));
        }
        Ok(ChunkSpec {
            elem_size,
            min: amin,
            max: amax,
        })
    }

    /// Capacity for a chunk that must hold `needed` bytes: the smallest `min * 2^j` that fits,
    /// capped at `max`.
    pub fn capacity_for(&self, needed: u64) -> u64 {
        let mut size = self.min;
        while size < needed && size < self.max {
            size = size.saturating_mul(2);
        }
        size.min(self.max)
    }
}

/// One `col_meta` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRow {
    pub col_id: i64,
    pub name: String,
    pub dtype: String,
    pub length: u64,
    pub spec: ChunkSpec,
}

fn row_to_meta(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, i64, i64, i64, i64)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get::<_, Option<i64>>(5)?
            .unwrap_or(DEFAULT_MIN_CHUNK_BYTES as i64),
        r.get::<_, Option<i64>>(6)?
            .unwrap_or(DEFAULT_MAX_CHUNK_BYTES as i64),
    ))
}

fn checked(
    (col_id, name, dtype, elem_size, length, min, max): (i64, String, String, i64, i64, i64, i64),
) -> Result<MetaRow> {
    if elem_size <= 0 || length < 0 || min <= 0 || max < elem_size || max < min {
        return Err(Error::corrupt(format!(
            "column \"{name}\": impossible col_meta row (elem_size {elem_size}, length {length}, chunks {min}..{max})"
        )));
    }
    Ok(MetaRow {
        col_id,
        name,
        dtype,
        length: length as u64,
        spec: ChunkSpec {
            elem_size: elem_size as u64,
            min: min as u64,
            max: max as u64,
        },
    })
}

const SELECT: &str =
    "SELECT col_id, name, dtype, elem_size, length, min_chunk_bytes, max_chunk_bytes FROM col_meta";

pub fn by_name(conn: &Connection, name: &str) -> Result<Option<MetaRow>> {
    let mut st = conn.prepare_cached(&format!("{SELECT} WHERE name = ?1"))?;
    let row = st.query_row([name], row_to_meta).optional()?;
    row.map(checked).transpose()
}

pub fn all(conn: &Connection) -> Result<Vec<MetaRow>> {
    let mut st = conn.prepare_cached(&format!("{SELECT} ORDER BY col_id"))?;
    let rows = st
        .query_map([], row_to_meta)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(checked).collect()
}

/// The stored length, the authority on how many elements exist.
pub fn length(conn: &Connection, col_id: i64, name: &str) -> Result<u64> {
    let mut st = conn.prepare_cached("SELECT length FROM col_meta WHERE col_id = ?1")?;
    let n: Option<i64> = st.query_row([col_id], |r| r.get(0)).optional()?;
    match n {
        Some(n) if n >= 0 => Ok(n as u64),
        Some(n) => Err(Error::corrupt(format!(
            "column \"{name}\": negative length {n}"
        ))),
        None => Err(Error::not_found(format!(
            "column \"{name}\" no longer exists (deleted by another handle)"
        ))),
    }
}

pub fn set_length(conn: &Connection, col_id: i64, length: u64) -> Result<()> {
    let mut st = conn.prepare_cached("UPDATE col_meta SET length = ?1 WHERE col_id = ?2")?;
    st.execute(params![length as i64, col_id])?;
    Ok(())
}

/// Insert a `col_meta` row. Chunks left behind under the new id (a reused rowid after a crash
/// or after an old file's delete that did not cascade) are removed first: a new column never
/// inherits orphaned chunks.
pub fn insert(conn: &Connection, name: &str, dtype: &str, spec: ChunkSpec) -> Result<MetaRow> {
    conn.execute(
        "INSERT INTO col_meta (name, dtype, elem_size, length, chunk_bytes, min_chunk_bytes, max_chunk_bytes)
         VALUES (?1, ?2, ?3, 0, ?4, ?4, ?5)",
        params![name, dtype, spec.elem_size as i64, spec.min as i64, spec.max as i64],
    )?;
    let col_id = conn.last_insert_rowid();
    conn.execute("DELETE FROM col_chunks WHERE col_id = ?1", [col_id])?;
    Ok(MetaRow {
        col_id,
        name: name.to_string(),
        dtype: dtype.to_string(),
        length: 0,
        spec,
    })
}

/// Remove a column row and every chunk it owns.
pub fn remove(conn: &Connection, col_id: i64) -> Result<()> {
    conn.execute("DELETE FROM col_chunks WHERE col_id = ?1", [col_id])?;
    conn.execute("DELETE FROM col_meta WHERE col_id = ?1", [col_id])?;
    Ok(())
}
