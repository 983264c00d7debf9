//! Variable-size columns (docs/format.md, "Variable-size columns"): element bytes in the chunks
//! of `name_data`, and a fixed-size index `name_idx` of 12-byte entries
//! `i32 chunk | i32 start | i32 end` (LE, end exclusive) whose length is the element count.
//!
//! Data chunks are filled in order and never grow past MAX: an element that does not fit in the
//! last chunk starts a new one (an element larger than MAX gets a chunk of exactly its size), so
//! an element never straddles chunks. A batch is laid out first and then written with one BLOB
//! write per chunk touched. Updates that grow an element put the new bytes at the end and leave
//! the old ones as a fragment (the chunk is flagged `has_deleted`); `compact` rebuilds chunks.

use super::chunks::{self, ChunkRow};
use super::fixed;
use super::meta::{self, MetaRow, IDX_ELEM_SIZE};
use super::reads::{self, Reader};
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, MAIN_DB};

/// The two rows of one variable-size column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRows {
    pub name: String,
    pub data: MetaRow,
    pub idx: MetaRow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub chunk: i64,
    pub start: u64,
    pub end: u64,
}

fn encode(e: &Entry, out: &mut Vec<u8>) {
    out.extend_from_slice(&(e.chunk as i32).to_le_bytes());
    out.extend_from_slice(&(e.start as i32).to_le_bytes());
    out.extend_from_slice(&(e.end as i32).to_le_bytes());
}

fn decode(v: &VarRows, b: &[u8]) -> Result<Entry> {
    let f = |k: usize| i32::from_le_bytes(b[k..k + 4].try_into().unwrap());
    let (c, s, e) = (f(0), f(4), f(8));
    if c < 0 || s < 0 || e < s {
        return Err(Error::corrupt(format!(
            "column \"{}\": bad index entry ({c}, {s}, {e})",
            v.name
        )));
    }
    Ok(Entry {
        chunk: c as i64,
        start: s as u64,
        end: e as u64,
    })
}

pub fn length(conn: &Connection, v: &VarRows) -> Result<u64> {
    meta::length(conn, v.idx.col_id, &v.name)
}

/// Index entries `[start, end)` (caller checked the range).
pub fn entries(conn: &Connection, v: &VarRows, start: u64, end: u64) -> Result<Vec<Entry>> {
    let mut raw = vec![0u8; ((end - start) * IDX_ELEM_SIZE) as usize];
    fixed::read(conn, &v.idx, start, &mut raw)?;
    raw.chunks_exact(IDX_ELEM_SIZE as usize)
        .map(|b| decode(v, b))
        .collect()
}

/// The last data chunk: its index, row and `bytes_used`, in one statement (reading
/// `bytes_used` walks the chunk's overflow pages, see `chunks::chunk_row`; appends need it).
fn last_chunk(conn: &Connection, data_id: i64) -> Result<Option<(i64, ChunkRow, u64)>> {
    let row = conn
        .prepare_cached(
            "SELECT chunk_idx, rowid, octet_length(data), bytes_used FROM col_chunks
             WHERE col_id = ?1 ORDER BY chunk_idx DESC LIMIT 1",
        )?
        .query_row([data_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    Ok(row.map(|(idx, rowid, blob_len, used)| {
        (idx, ChunkRow::new(rowid, blob_len), used.max(0) as u64)
    }))
}

/// A data chunk being filled by a batch.
struct Open {
    idx: i64,
    row: Option<ChunkRow>,
    cap: u64,
    used: u64,
    pending_from: u64,
    pending: Vec<u8>,
}

/// Check that `ends` (exclusive element ends) increase and stay within `len` bytes.
pub(crate) fn check_ends(column: &str, len: usize, ends: &[usize]) -> Result<()> {
    let mut prev = 0;
    for &end in ends {
        if end < prev || end > len {
            return Err(Error::invalid(format!(
                "column \"{column}\": element offsets are not increasing within the {len} bytes given"
            )));
        }
        prev = end;
    }
    Ok(())
}

/// Lay out elements (`bytes` cut at `ends`) at the end of the data chunks and write them;
/// returns their index entries. Does not touch the index.
fn place(conn: &Connection, v: &VarRows, bytes: &[u8], ends: &[usize]) -> Result<Vec<Entry>> {
    let spec = v.data.spec;
    let max = spec.max;
    let mut out = Vec::with_capacity(ends.len());
    let mut open: Option<Open> = last_chunk(conn, v.data.col_id)?.map(|(idx, row, used)| Open {
        idx,
        row: Some(row),
        cap: row.capacity,
        used: used.min(row.capacity),
        pending_from: used.min(row.capacity),
        pending: Vec::new(),
    });
    check_ends(&v.name, bytes.len(), ends)?;
    let mut prev = 0usize;
    for &end in ends {
        let elem = &bytes[prev..end];
        prev = end;
        let len = elem.len() as u64;
        let fits = open
            .as_ref()
            .is_some_and(|o| o.used + len <= max.max(o.cap) && (o.cap <= max || len == 0));
        if !fits {
            let next = open.as_ref().map_or(0, |o| o.idx + 1);
            if let Some(o) = open.take() {
                flush(conn, v, o)?;
            }
            let cap = if len > max {
                len
            } else {
                spec.capacity_for(len)
            };
            open = Some(Open {
                idx: next,
                row: None,
                cap,
                used: 0,
                pending_from: 0,
                pending: Vec::new(),
            });
        }
        let o = open.as_mut().expect("a chunk is open");
        if o.used + len > o.cap {
            o.cap = spec.capacity_for(o.used + len).max(o.used + len);
        }
        out.push(Entry {
            chunk: o.idx,
            start: o.used,
            end: o.used + len,
        });
        o.pending.extend_from_slice(elem);
        o.used += len;
    }
    if let Some(o) = open {
        flush(conn, v, o)?;
    }
    Ok(out)
}

/// Write a chunk's pending bytes (see `chunks::put`: new chunks are inserted whole, growth is
/// one rewrite at the final size, otherwise one BLOB write).
fn flush(conn: &Connection, v: &VarRows, o: Open) -> Result<()> {
    chunks::put(
        conn,
        v.data.col_id,
        o.idx,
        o.row,
        o.cap,
        o.pending_from,
        &o.pending,
        chunks::Used::Tracked(o.pending_from),
    )
}

/// Append elements (`bytes` cut at the exclusive `ends`); returns the new length.
pub fn append_many(conn: &Connection, v: &VarRows, bytes: &[u8], ends: &[usize]) -> Result<u64> {
    let placed = place(conn, v, bytes, ends)?;
    let mut idx = Vec::with_capacity(placed.len() * IDX_ELEM_SIZE as usize);
    for e in &placed {
        encode(e, &mut idx);
    }
    fixed::append(conn, &v.idx, &idx)
}

/// Elements `[start, end)` as one buffer plus `n + 1` offsets into it (caller checked the
/// range). A run of elements stored back to back in one chunk is one span read.
pub(crate) fn read_many(
    conn: &Connection,
    r: &mut Reader,
    v: &VarRows,
    start: u64,
    end: u64,
) -> Result<(Vec<u8>, Vec<usize>)> {
    let raw = reads::filled(((end - start) * IDX_ELEM_SIZE) as usize, |o| {
        r.read_stream(conn, &v.idx, start * IDX_ELEM_SIZE, o)
    })?;
    let es = raw
        .chunks_exact(IDX_ELEM_SIZE as usize)
        .map(|b| decode(v, b))
        .collect::<Result<Vec<Entry>>>()?;
    let mut offsets = Vec::with_capacity(es.len() + 1);
    offsets.push(0usize);
    let mut runs = Vec::new();
    let mut total = 0u64;
    let mut k = 0;
    while k < es.len() {
        let first = es[k];
        let mut last = k;
        while last + 1 < es.len()
            && es[last + 1].chunk == first.chunk
            && es[last + 1].start == es[last].end
        {
            last += 1;
        }
        for e in &es[k..=last] {
            total += e.end - e.start;
            offsets.push(total as usize);
        }
        runs.push((first.chunk, first.start, es[last].end - first.start));
        k = last + 1;
    }
    let out = reads::filled(total as usize, |o| {
        let mut at = 0usize;
        for &(chunk, from, len) in &runs {
            if len == 0 {
                continue;
            }
            let s = r.span(conn, &v.data, chunk as u64, from, len)?;
            r.read_span(conn, s, &mut o[at..at + len as usize])?;
            at += len as usize;
        }
        Ok(())
    })?;
    Ok((out, offsets))
}

/// Flag a chunk as holding fragments. Skips chunks already flagged: any UPDATE of a chunk row
/// rebuilds the whole record, blob included.
fn mark_fragment(conn: &Connection, v: &VarRows, chunk: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE col_chunks SET has_deleted = 1 WHERE col_id = ?1 AND chunk_idx = ?2 AND has_deleted = 0",
    )?
    .execute(params![v.data.col_id, chunk])?;
    Ok(())
}

/// Replace element `i`: in place when the new bytes fit where the old ones were, else at the end
/// (the old bytes become a fragment).
pub fn set(conn: &Connection, v: &VarRows, i: u64, bytes: &[u8]) -> Result<()> {
    let old = entries(conn, v, i, i + 1)?[0];
    let len = bytes.len() as u64;
    let new = if len <= old.end - old.start {
        if len > 0 {
            let row =
                chunks::chunk_row(conn, v.data.col_id, old.chunk as u64)?.ok_or_else(|| {
                    Error::corrupt(format!(
                        "column \"{}\": data chunk {} is missing",
                        v.name, old.chunk
                    ))
                })?;
            let mut blob = conn.blob_open(MAIN_DB, c"col_chunks", c"data", row.rowid, false)?;
            blob.write_at(bytes, old.start as usize)?;
        }
        if len < old.end - old.start {
            mark_fragment(conn, v, old.chunk)?;
        }
        Entry {
            chunk: old.chunk,
            start: old.start,
            end: old.start + len,
        }
    } else {
        mark_fragment(conn, v, old.chunk)?;
        place(conn, v, bytes, &[bytes.len()])?[0]
    };
    let mut raw = Vec::with_capacity(12);
    encode(&new, &mut raw);
    fixed::overwrite(conn, &v.idx, i, &raw)
}

/// Insert elements before `at`; returns the new length.
pub fn insert_many(
    conn: &Connection,
    v: &VarRows,
    at: u64,
    bytes: &[u8],
    ends: &[usize],
) -> Result<u64> {
    let placed = place(conn, v, bytes, ends)?;
    let mut raw = Vec::with_capacity(placed.len() * 12);
    for e in &placed {
        encode(e, &mut raw);
    }
    fixed::insert(conn, &v.idx, at, &raw)
}

/// Remove elements `[start, end)`; their bytes become fragments. Returns the new length.
pub fn delete_range(conn: &Connection, v: &VarRows, start: u64, end: u64) -> Result<u64> {
    let len = length(conn, v)?;
    if start > end || end > len {
        return Err(Error::invalid(format!(
            "column \"{}\": delete range {start}..{end} outside 0..{len}",
            v.name
        )));
    }
    let gone = entries(conn, v, start, end)?;
    let mut seen = std::collections::BTreeSet::new();
    for e in gone {
        if seen.insert(e.chunk) {
            mark_fragment(conn, v, e.chunk)?;
        }
    }
    fixed::delete_range(conn, &v.idx, start, end)
}

pub fn clear(conn: &Connection, v: &VarRows) -> Result<()> {
    chunks::delete_all(conn, v.data.col_id)?;
    fixed::clear(conn, &v.idx)
}

/// Rewrite every element into fresh, tightly packed chunks (drops fragments).
pub fn compact(conn: &Connection, v: &VarRows) -> Result<()> {
    let len = length(conn, v)?;
    let (bytes, offsets) = read_many(conn, &mut Reader::transient(), v, 0, len)?;
    clear(conn, v)?;
    append_many(conn, v, &bytes, &offsets[1..])?;
    Ok(())
}
