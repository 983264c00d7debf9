//! Fixed-size columns: element `i` is logical bytes `[i*size, (i+1)*size)` of the chunk stream.
//! Every function here runs inside the caller's transaction (see `tx.rs`) and reads the stored
//! length itself, so several handles or processes appending to one file stay consistent.

use super::chunks;
use super::meta::{self, MetaRow};
use super::reads::Reader;
use crate::error::{Error, Result};
use rusqlite::Connection;

fn check_whole(m: &MetaRow, bytes: &[u8]) -> Result<u64> {
    let es = m.spec.elem_size;
    if !(bytes.len() as u64).is_multiple_of(es) {
        return Err(Error::invalid(format!(
            "column \"{}\" ({}): {} bytes is not a whole number of {es}-byte elements",
            m.name,
            m.dtype,
            bytes.len()
        )));
    }
    Ok(bytes.len() as u64 / es)
}

/// Append whole elements; returns the new length.
pub fn append(conn: &Connection, m: &MetaRow, bytes: &[u8]) -> Result<u64> {
    let n = check_whole(m, bytes)?;
    let len = meta::length(conn, m.col_id, &m.name)?;
    if n == 0 {
        return Ok(len);
    }
    chunks::write_at(
        conn,
        &m.name,
        m.col_id,
        &m.spec,
        len * m.spec.elem_size,
        bytes,
    )?;
    meta::set_length(conn, m.col_id, len + n)?;
    Ok(len + n)
}

/// Read elements `[start, start + out.len()/size)`; the caller has checked them against the length.
pub fn read(conn: &Connection, m: &MetaRow, start: u64, out: &mut [u8]) -> Result<()> {
    // SAFETY: the span reads only store initialised bytes into the slice.
    let out = unsafe { &mut *(out as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
    Reader::transient().read_stream(conn, m, start * m.spec.elem_size, out)
}

/// Overwrite elements from `start`; they must exist.
pub fn overwrite(conn: &Connection, m: &MetaRow, start: u64, bytes: &[u8]) -> Result<()> {
    let n = check_whole(m, bytes)?;
    let len = meta::length(conn, m.col_id, &m.name)?;
    if start.checked_add(n).is_none_or(|end| end > len) {
        return Err(Error::invalid(format!(
            "column \"{}\": writing {n} elements at {start} runs past the length {len}",
            m.name
        )));
    }
    chunks::write_at(
        conn,
        &m.name,
        m.col_id,
        &m.spec,
        start * m.spec.elem_size,
        bytes,
    )
}

/// Remove elements `[start, end)`, shifting the tail down; returns the new length.
pub fn delete_range(conn: &Connection, m: &MetaRow, start: u64, end: u64) -> Result<u64> {
    let len = meta::length(conn, m.col_id, &m.name)?;
    if start > end || end > len {
        return Err(Error::invalid(format!(
            "column \"{}\": delete range {start}..{end} outside 0..{len}",
            m.name
        )));
    }
    let es = m.spec.elem_size;
    let tail_len = ((len - end) * es) as usize;
    if tail_len > 0 {
        let mut tail = vec![0u8; tail_len];
        read(conn, m, end, &mut tail)?;
        chunks::write_at(conn, &m.name, m.col_id, &m.spec, start * es, &tail)?;
    }
    let new_len = len - (end - start);
    chunks::truncate(conn, m.col_id, &m.spec, new_len * es)?;
    meta::set_length(conn, m.col_id, new_len)?;
    Ok(new_len)
}

/// Insert whole elements before index `at` (`at == length` appends); returns the new length.
pub fn insert(conn: &Connection, m: &MetaRow, at: u64, bytes: &[u8]) -> Result<u64> {
    let n = check_whole(m, bytes)?;
    let len = meta::length(conn, m.col_id, &m.name)?;
    if at > len {
        return Err(Error::invalid(format!(
            "column \"{}\": insert position {at} outside 0..={len}",
            m.name
        )));
    }
    let es = m.spec.elem_size;
    let mut moved = Vec::with_capacity(bytes.len() + ((len - at) * es) as usize);
    moved.extend_from_slice(bytes);
    moved.resize(moved.capacity(), 0);
    read(conn, m, at, &mut moved[bytes.len()..])?;
    chunks::write_at(conn, &m.name, m.col_id, &m.spec, at * es, &moved)?;
    meta::set_length(conn, m.col_id, len + n)?;
    Ok(len + n)
}

/// Drop every element and free the chunks.
pub fn clear(conn: &Connection, m: &MetaRow) -> Result<()> {
    chunks::delete_all(conn, m.col_id)?;
    meta::set_length(conn, m.col_id, 0)
}
