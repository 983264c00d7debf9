//! A column's bytes as one logical byte stream cut into chunks (docs/format.md, "Chunks"):
//! chunk `k` holds logical bytes `[k*max, (k+1)*max)`, so every chunk but the last is exactly
//! `max` bytes and an address needs no lookup table. Fixed-size columns and the index of
//! variable-size columns both live on this.
//!
//! Writes go through SQLite's incremental BLOB I/O into the chunk's preallocated space, so an
//! append costs the bytes appended, not a rewrite of the chunk; growth is one rewrite at the final
//! size a write needs (see [`put`]). Callers run all of this inside one transaction.

use super::meta::ChunkSpec;
use crate::error::Result;
use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

/// Where a chunk is stored and how many bytes its blob holds.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRow {
    pub rowid: i64,
    pub capacity: u64,
}

impl ChunkRow {
    /// From a row's `rowid` and `octet_length(data)`: the stored value is the truth about
    /// capacity (`actual_size` only mirrors it).
    pub fn new(rowid: i64, blob_len: i64) -> ChunkRow {
        ChunkRow {
            rowid,
            capacity: blob_len.max(0) as u64,
        }
    }
}

/// The chunk's row and capacity. `octet_length`, not `length`: KohakuVault can leave a chunk as
/// TEXT (docs/format.md, "TEXT chunks"), whose `length` counts characters; its bytes are read
/// and written through BLOB I/O like any chunk's. Only the record header is read:
/// `octet_length(data)` comes from the value's serial type, whereas any column stored after
/// `data` (`actual_size`, `bytes_used`, ...) sits behind it and costs a walk of its whole
/// overflow-page chain, one page lookup per page, which made an append's cost grow with the
/// size of the chunk it went into.
pub fn chunk_row(conn: &Connection, col_id: i64, idx: u64) -> Result<Option<ChunkRow>> {
    let mut st = conn.prepare_cached(
        "SELECT rowid, octet_length(data) FROM col_chunks WHERE col_id = ?1 AND chunk_idx = ?2",
    )?;
    let row = st
        .query_row(params![col_id, idx as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(row.map(|(rowid, blob_len)| ChunkRow::new(rowid, blob_len)))
}

/// Write `bytes` at logical byte `pos`, creating or growing chunks as needed.
pub fn write_at(
    conn: &Connection,
    name: &str,
    col_id: i64,
    spec: &ChunkSpec,
    pos: u64,
    bytes: &[u8],
) -> Result<()> {
    write_chunks(conn, col_id, spec, pos, bytes)
        .map_err(|e| e.context(format!("column \"{name}\"")))
}

fn write_chunks(
    conn: &Connection,
    col_id: i64,
    spec: &ChunkSpec,
    pos: u64,
    bytes: &[u8],
) -> Result<()> {
    let mut pos = pos;
    let mut rest = bytes;
    while !rest.is_empty() {
        let idx = pos / spec.max;
        let off = pos % spec.max;
        let take = rest.len().min((spec.max - off) as usize);
        let (part, tail) = rest.split_at(take);
        let row = chunk_row(conn, col_id, idx)?;
        let cap = spec.capacity_for(off + take as u64);
        put(
            conn,
            col_id,
            idx as i64,
            row,
            cap,
            off,
            part,
            Used::FromLength,
        )?;
        pos += take as u64;
        rest = tail;
    }
    Ok(())
}

/// Who knows how many bytes of a chunk are in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// The chunk's `bytes_used`, given as it is now (variable-size data chunks: appends go where
    /// it points, KohakuVault's too, so it must be exact after every commit).
    Tracked(u64),
    /// The column's `length` (fixed-size columns, docs/format.md: "`length` is authoritative").
    /// `bytes_used` is then set whenever the row is written anyway (insert, growth, truncate) but
    /// not by an in-place write: any UPDATE of the row makes SQLite rebuild the whole record,
    /// i.e. copy the entire chunk through memory and write its last page to the WAL again,
    /// which was most of the cost of a single append.
    FromLength,
}

/// Write `part` at byte `off` of chunk `idx` (`row` is its current row, if any), growing it to
/// `cap` bytes first when it is smaller than `off + part.len()`.
///
/// Every byte goes to SQLite once. In place (the common case: the chunk has room) it is one
/// incremental BLOB write. A new chunk is inserted with its final contents (`part` padded to
/// `cap`), not as a zeroblob that a BLOB write then overwrites. A chunk that must grow is
/// rewritten once, at the final size the write needs (`capacity_for(end)`: one jump, however
/// many doublings that is), with `part` spliced in by the same statement. SQLite cannot resize a
/// record in place, so growth necessarily copies the chunk's old bytes; doubling keeps that to
/// at most log2(max/min) copies per chunk, less than one extra byte copied per byte stored.
/// (`substr` counts bytes only on a BLOB, hence the inner CAST: KohakuVault's own growth,
/// `data || zeroblob(n)`, leaves TEXT-typed chunks behind.)
#[allow(clippy::too_many_arguments)]
pub fn put(
    conn: &Connection,
    col_id: i64,
    idx: i64,
    row: Option<ChunkRow>,
    cap: u64,
    off: u64,
    part: &[u8],
    used: Used,
) -> Result<()> {
    let end = off + part.len() as u64;
    match row {
        None => {
            let cap = cap.max(end);
            if off == 0 && cap == end {
                conn.prepare_cached(
                    "INSERT INTO col_chunks (col_id, chunk_idx, data, actual_size, bytes_used) VALUES (?1, ?2, ?3, ?4, ?4)",
                )?
                .execute(params![col_id, idx, part, cap as i64])?;
            } else {
                conn.prepare_cached(
                    "INSERT INTO col_chunks (col_id, chunk_idx, data, actual_size, bytes_used)
                     VALUES (?1, ?2, CAST(zeroblob(?3) || ?4 || zeroblob(?5) AS BLOB), ?6, ?7)",
                )?
                .execute(params![
                    col_id,
                    idx,
                    off as i64,
                    part,
                    (cap - end) as i64,
                    cap as i64,
                    end as i64
                ])?;
            }
        }
        Some(row) if row.capacity < end => {
            let cap = cap.max(end);
            let keep = off.min(row.capacity);
            conn.prepare_cached(
                "UPDATE col_chunks SET
                   data = CAST(substr(CAST(data AS BLOB), 1, ?1) || zeroblob(?2) || ?3 || zeroblob(?4) AS BLOB),
                   actual_size = ?5, bytes_used = max(bytes_used, ?6)
                 WHERE rowid = ?7",
            )?
            .execute(params![
                keep as i64,
                (off - keep) as i64,
                part,
                (cap - end) as i64,
                cap as i64,
                end as i64,
                row.rowid
            ])?;
        }
        Some(row) => {
            if !part.is_empty() {
                blob_write(conn, row.rowid, off, part)?;
            }
            if matches!(used, Used::Tracked(now) if end > now) {
                conn.prepare_cached("UPDATE col_chunks SET bytes_used = ?1 WHERE rowid = ?2")?
                    .execute(params![end as i64, row.rowid])?;
            }
        }
    }
    Ok(())
}

fn blob_write(conn: &Connection, rowid: i64, off: u64, bytes: &[u8]) -> Result<()> {
    let mut blob = conn.blob_open(MAIN_DB, c"col_chunks", c"data", rowid, false)?;
    blob.write_at(bytes, off as usize)?;
    Ok(())
}

/// Forget everything at and beyond logical byte `keep`: chunks wholly past it are deleted (their
/// space is freed, and a later append starts them afresh), the last one is marked as used up to it.
pub fn truncate(conn: &Connection, col_id: i64, spec: &ChunkSpec, keep: u64) -> Result<()> {
    let first_gone = keep.div_ceil(spec.max);
    conn.prepare_cached("DELETE FROM col_chunks WHERE col_id = ?1 AND chunk_idx >= ?2")?
        .execute(params![col_id, first_gone as i64])?;
    if !keep.is_multiple_of(spec.max) {
        conn.prepare_cached(
            "UPDATE col_chunks SET bytes_used = ?1 WHERE col_id = ?2 AND chunk_idx = ?3",
        )?
        .execute(params![
            (keep % spec.max) as i64,
            col_id,
            (keep / spec.max) as i64
        ])?;
    }
    Ok(())
}

pub fn delete_all(conn: &Connection, col_id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM col_chunks WHERE col_id = ?1")?
        .execute([col_id])?;
    Ok(())
}
