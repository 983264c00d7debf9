//! A column's bytes as one logical byte stream cut into chunks (FORMAT.md): chunk `k` holds
//! logical bytes `[k*max, (k+1)*max)`, so every chunk but the last is exactly `max` bytes and
//! an address needs no lookup table. Fixed-size columns and the index of variable-size columns
//! both live on this.
//!
//! Writes go through SQLite's incremental BLOB I/O into the chunk's preallocated space, so an
//! append costs the bytes appended, not a rewrite of the chunk. Growth (capacity doubling, at most
//! log2(max/min) times per chunk) happens inside SQLite (`data || zeroblob(n)`), without the
//! chunk travelling through our memory. Callers run all of this inside one transaction.

use super::meta::ChunkSpec;
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

/// The storage row of one chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRow {
    pub rowid: i64,
    pub actual_size: u64,
    pub bytes_used: u64,
}

pub fn chunk_row(conn: &Connection, col_id: i64, idx: u64) -> Result<Option<ChunkRow>> {
    let mut st = conn.prepare_cached(
        "SELECT rowid, actual_size, bytes_used, length(data) FROM col_chunks WHERE col_id = ?1 AND chunk_idx = ?2",
    )?;
    let row = st
        .query_row(params![col_id, idx as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(rowid, actual, used, blob_len)| ChunkRow {
        rowid,
        // The blob itself is the truth about capacity; `actual_size` only mirrors it.
        actual_size: actual.min(blob_len).max(0) as u64,
        bytes_used: used.max(0) as u64,
    }))
}

fn corrupt(name: &str, what: String) -> Error {
    Error::corrupt(format!("column \"{name}\": {what}"))
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
        let end = off + take as u64;
        match chunk_row(conn, col_id, idx)? {
            None => {
                let cap = spec.capacity_for(end);
                if off == 0 && cap == end {
                    // A chunk filled in one go: insert the bytes themselves, no zero pass.
                    let mut st = conn.prepare_cached(
                        "INSERT INTO col_chunks (col_id, chunk_idx, data, actual_size, bytes_used) VALUES (?1, ?2, ?3, ?4, ?4)",
                    )?;
                    st.execute(params![col_id, idx as i64, part, cap as i64])?;
                } else {
                    let mut st = conn.prepare_cached(
                        "INSERT INTO col_chunks (col_id, chunk_idx, data, actual_size, bytes_used) VALUES (?1, ?2, zeroblob(?3), ?3, ?4)",
                    )?;
                    st.execute(params![col_id, idx as i64, cap as i64, end as i64])?;
                    let rowid = conn.last_insert_rowid();
                    blob_write(conn, rowid, off, part)?;
                }
            }
            Some(row) => {
                if row.actual_size < end {
                    let cap = spec.capacity_for(end).max(end);
                    let mut st = conn.prepare_cached(
                        "UPDATE col_chunks SET data = CAST(data || zeroblob(?1) AS BLOB), actual_size = ?2 WHERE rowid = ?3",
                    )?;
                    st.execute(params![
                        (cap - row.actual_size) as i64,
                        cap as i64,
                        row.rowid
                    ])?;
                }
                blob_write(conn, row.rowid, off, part)?;
                if end > row.bytes_used {
                    let mut st = conn
                        .prepare_cached("UPDATE col_chunks SET bytes_used = ?1 WHERE rowid = ?2")?;
                    st.execute(params![end as i64, row.rowid])?;
                }
            }
        }
        pos += take as u64;
        rest = tail;
    }
    Ok(())
}

fn blob_write(conn: &Connection, rowid: i64, off: u64, bytes: &[u8]) -> Result<()> {
    let mut blob = conn.blob_open(MAIN_DB, c"col_chunks", c"data", rowid, false)?;
    blob.write_at(bytes, off as usize)?;
    Ok(())
}

/// Fill `out` with the logical bytes starting at `pos`. Every byte must lie below the column's
/// length (callers check); a missing or short chunk there is corruption, reported as such.
pub fn read_at(
    conn: &Connection,
    name: &str,
    col_id: i64,
    spec: &ChunkSpec,
    pos: u64,
    out: &mut [u8],
) -> Result<()> {
    let mut pos = pos;
    let mut done = 0usize;
    let mut blob: Option<rusqlite::blob::Blob<'_>> = None;
    while done < out.len() {
        let idx = pos / spec.max;
        let off = pos % spec.max;
        let take = (out.len() - done).min((spec.max - off) as usize);
        let row = chunk_row(conn, col_id, idx)?
            .ok_or_else(|| corrupt(name, format!("chunk {idx} is missing")))?;
        // One open handle, moved from chunk to chunk (sqlite3_blob_reopen is cheaper than open).
        let b = match blob.as_mut() {
            Some(b) => {
                b.reopen(row.rowid)?;
                b
            }
            None => {
                blob.insert(conn.blob_open(MAIN_DB, c"col_chunks", c"data", row.rowid, true)?)
            }
        };
        if (b.len() as u64) < off + take as u64 {
            return Err(corrupt(
                name,
                format!(
                    "chunk {idx} holds {} bytes, {} needed",
                    b.len(),
                    off + take as u64
                ),
            ));
        }
        b.read_at_exact(&mut out[done..done + take], off as usize)?;
        done += take;
        pos += take as u64;
    }
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
