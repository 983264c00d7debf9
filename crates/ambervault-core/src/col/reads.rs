//! Reads that keep state between calls: a held read snapshot, each column's layout (length and
//! chunk rowids) read once under it, and one open BLOB handle moved from chunk to chunk.
//!
//! Why: a `get` used to begin and end a read transaction (two `-shm` lock system calls), look up
//! the length and the chunk row with two SELECTs and open a BLOB handle (`sqlite3_blob_open`
//! compiles a statement every time), all to copy a few bytes. Under a held snapshot none of that
//! changes, so it is done once: an element is then a [`Span`] resolved from the cached layout
//! and one `sqlite3_blob_read` straight into the caller's (uninitialised) output. Several handles
//! are kept (most recently used first), so reads of a variable-size column (its index chunk,
//! then a data chunk) and random reads across a column's chunks do not move one handle back and
//! forth.
//!
//! Coherence: the snapshot is the KV store's (`kv/snapshot.rs`): each read first checks the
//! file's WAL index, and when anyone committed since the snapshot began, everything cached here
//! is dropped and a fresh snapshot begins. Writes on this connection end it first (the vault
//! calls [`Reader::release`]), and the bindings release it when JS goes idle, so it never holds
//! back checkpoints. A connection shared with other stores never holds one: they run their own
//! transactions on it.

use super::meta::{self, MetaRow};
use crate::error::{Error, Result};
use crate::kv::snapshot::ReadSnapshot;
use rusqlite::{ffi, params, Connection};
use rustc_hash::FxHashMap;
use std::mem::MaybeUninit;
use std::ptr::NonNull;

/// Where some bytes of a column live: `len` bytes at `offset` in the chunk row `rowid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub rowid: i64,
    pub offset: u64,
    pub len: u64,
}

/// A stored chunk: its rowid and the size of its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ChunkRef {
    rowid: i64,
    size: u64,
}

/// What a snapshot says about one `col_meta` row: its length and its chunks by `chunk_idx`.
#[derive(Debug, Default)]
struct Layout {
    len: u64,
    chunks: Vec<Option<ChunkRef>>,
}

/// A `sqlite3_blob` on `col_chunks.data`, read-only, kept open between reads.
struct RawBlob {
    ptr: NonNull<ffi::sqlite3_blob>,
    rowid: i64,
}

// SAFETY: the handle is only used while the vault's connection lock is held (the Reader lives
// behind a mutex taken after it) and is closed before that connection is.
unsafe impl Send for RawBlob {}

impl Drop for RawBlob {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from sqlite3_blob_open and is closed exactly once, here.
        unsafe { ffi::sqlite3_blob_close(self.ptr.as_ptr()) };
    }
}

fn sqlite_err(rc: std::os::raw::c_int) -> Error {
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None).into()
}

pub(crate) struct Reader {
    /// None for a connection shared with other stores: never hold a snapshot on it.
    snap: Option<ReadSnapshot>,
    /// By `col_id`; FxHash, as SipHash's DoS resistance buys nothing for our own row ids and
    /// hashing was a visible part of a single-element read.
    layouts: FxHashMap<i64, Layout>,
    /// Open BLOB handles, most recently used first (at most [`BLOB_HANDLES`]).
    blobs: Vec<RawBlob>,
}

/// Enough for random reads over 16 MiB of 256 KiB chunks (index and data chunks of a
/// variable-size column share them) without moving a handle: moving one seeks the new row and
/// forgets where its overflow pages are, so the next read walks the chunk's page chain again.
/// A handle is one small open read cursor (opening one costs about half a microsecond); the
/// list is searched linearly.
const BLOB_HANDLES: usize = 64;

impl Reader {
    pub(crate) fn new(conn: &Connection, owned: bool) -> Result<Reader> {
        Ok(Reader {
            snap: if owned {
                Some(ReadSnapshot::new(conn)?)
            } else {
                None
            },
            layouts: FxHashMap::default(),
            blobs: Vec::new(),
        })
    }

    /// A reader for one call inside a transaction someone else controls (writes that read
    /// before they write): nothing survives it.
    pub(crate) fn transient() -> Reader {
        Reader {
            snap: None,
            layouts: FxHashMap::default(),
            blobs: Vec::new(),
        }
    }

    /// Make the reads that follow see every commit made before this call. True when they run
    /// under a held snapshot (the cache stays valid until the next `begin`); false when they
    /// must run in a transaction of their own, after which the caller calls `forget`.
    pub(crate) fn begin(&mut self, conn: &Connection) -> Result<bool> {
        match &self.snap {
            Some(s) if s.is_current() => Ok(true),
            Some(s) => {
                self.blobs.clear();
                self.layouts.clear();
                Ok(s.refresh(conn)?)
            }
            None => {
                self.forget();
                Ok(false)
            }
        }
    }

    /// Drop what was read under the current snapshot (the BLOB handle included).
    pub(crate) fn forget(&mut self) {
        self.blobs.clear();
        self.layouts.clear();
    }

    /// End the held snapshot, if any: before a write on this connection, and when idle.
    pub(crate) fn release(&mut self, conn: &Connection) -> Result<()> {
        // The BLOB handle is a statement of the read transaction: close it first.
        self.forget();
        if let Some(s) = &self.snap {
            s.end(conn)?;
        }
        Ok(())
    }

    pub(crate) fn is_held(&self) -> bool {
        self.snap.as_ref().is_some_and(|s| s.is_held())
    }

    fn layout(&mut self, conn: &Connection, m: &MetaRow) -> Result<&Layout> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.layouts.entry(m.col_id) {
            let len = meta::length(conn, m.col_id, &m.name)?;
            let mut st = conn.prepare_cached(
                "SELECT chunk_idx, rowid, octet_length(data) FROM col_chunks WHERE col_id = ?1 ORDER BY chunk_idx",
            )?;
            let rows = st
                .query_map(params![m.col_id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut chunks = Vec::with_capacity(rows.len());
            for (idx, rowid, size) in rows {
                // Chunk indices are dense from 0; a wild one is a damaged row, not a reason to
                // allocate a table of billions of entries.
                if idx < 0 || idx as usize > chunks.len() + (1 << 20) {
                    return Err(Error::corrupt(format!(
                        "column \"{}\": chunk index {idx} is out of line",
                        m.name
                    )));
                }
                chunks.resize(chunks.len().max(idx as usize + 1), None);
                chunks[idx as usize] = Some(ChunkRef {
                    rowid,
                    size: size.max(0) as u64,
                });
            }
            slot.insert(Layout { len, chunks });
        }
        Ok(&self.layouts[&m.col_id])
    }

    /// The stored length of a column row under this snapshot.
    pub(crate) fn length(&mut self, conn: &Connection, m: &MetaRow) -> Result<u64> {
        Ok(self.layout(conn, m)?.len)
    }

    /// The span of `len` bytes at `offset` of chunk `idx`; corruption if the chunk is missing or
    /// shorter than that.
    pub(crate) fn span(
        &mut self,
        conn: &Connection,
        m: &MetaRow,
        idx: u64,
        offset: u64,
        len: u64,
    ) -> Result<Span> {
        let l = self.layout(conn, m)?;
        let c = l
            .chunks
            .get(idx as usize)
            .copied()
            .flatten()
            .ok_or_else(|| {
                Error::corrupt(format!("column \"{}\": chunk {idx} is missing", m.name))
            })?;
        if c.size < offset + len {
            return Err(Error::corrupt(format!(
                "column \"{}\": chunk {idx} holds {} bytes, {} needed",
                m.name,
                c.size,
                offset + len
            )));
        }
        Ok(Span {
            rowid: c.rowid,
            offset,
            len,
        })
    }

    /// The spans holding logical bytes `[pos, pos + len)` of a chunk stream (fixed-size
    /// columns and variable-size indices: chunk `k` holds `[k*max, (k+1)*max)`).
    pub(crate) fn stream_spans(
        &mut self,
        conn: &Connection,
        m: &MetaRow,
        pos: u64,
        len: u64,
    ) -> Result<Vec<Span>> {
        let max = m.spec.max;
        let mut out = Vec::with_capacity(1);
        let (mut pos, end) = (pos, pos + len);
        while pos < end {
            let off = pos % max;
            let take = (end - pos).min(max - off);
            out.push(self.span(conn, m, pos / max, off, take)?);
            pos += take;
        }
        Ok(out)
    }

    /// Copy a span into `out` (exactly `span.len` bytes), straight from SQLite: nothing is
    /// zeroed first and no intermediate buffer is used.
    pub(crate) fn read_span(
        &mut self,
        conn: &Connection,
        span: Span,
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        debug_assert_eq!(out.len() as u64, span.len);
        if span.len == 0 {
            return Ok(());
        }
        let at = match self.blobs.iter().position(|b| b.rowid == span.rowid) {
            Some(k) => k,
            None if self.blobs.len() == BLOB_HANDLES => {
                // Move the least recently used handle to this row.
                let k = BLOB_HANDLES - 1;
                // SAFETY: a live handle of this connection (see RawBlob).
                let rc =
                    unsafe { ffi::sqlite3_blob_reopen(self.blobs[k].ptr.as_ptr(), span.rowid) };
                if rc != ffi::SQLITE_OK {
                    self.blobs.remove(k);
                    return Err(sqlite_err(rc));
                }
                self.blobs[k].rowid = span.rowid;
                k
            }
            None => {
                let mut p: *mut ffi::sqlite3_blob = std::ptr::null_mut();
                // SAFETY: a valid connection handle and NUL-terminated names; read-only open.
                let rc = unsafe {
                    ffi::sqlite3_blob_open(
                        conn.handle(),
                        c"main".as_ptr(),
                        c"col_chunks".as_ptr(),
                        c"data".as_ptr(),
                        span.rowid,
                        0,
                        &mut p,
                    )
                };
                let Some(ptr) = NonNull::new(p).filter(|_| rc == ffi::SQLITE_OK) else {
                    if !p.is_null() {
                        // SAFETY: SQLite may hand back a handle on failure; close it.
                        unsafe { ffi::sqlite3_blob_close(p) };
                    }
                    return Err(sqlite_err(rc));
                };
                self.blobs.push(RawBlob {
                    ptr,
                    rowid: span.rowid,
                });
                self.blobs.len() - 1
            }
        };
        if at != 0 {
            let b = self.blobs.remove(at);
            self.blobs.insert(0, b);
        }
        let blob = &self.blobs[0];
        // Chunks are at most i32::MAX bytes (ChunkSpec::aligned), so these fit a c_int.
        // SAFETY: `out` is writable for `span.len` bytes; SQLite only writes into it.
        let rc = unsafe {
            ffi::sqlite3_blob_read(
                blob.ptr.as_ptr(),
                out.as_mut_ptr().cast(),
                span.len as std::os::raw::c_int,
                span.offset as std::os::raw::c_int,
            )
        };
        if rc != ffi::SQLITE_OK {
            self.blobs.remove(0);
            return Err(sqlite_err(rc));
        }
        Ok(())
    }

    /// Fill `out` with logical bytes of a chunk stream from `pos`.
    pub(crate) fn read_stream(
        &mut self,
        conn: &Connection,
        m: &MetaRow,
        pos: u64,
        out: &mut [MaybeUninit<u8>],
    ) -> Result<()> {
        let mut at = 0usize;
        for s in self.stream_spans(conn, m, pos, out.len() as u64)? {
            let n = s.len as usize;
            self.read_span(conn, s, &mut out[at..at + n])?;
            at += n;
        }
        Ok(())
    }
}

/// A fresh vector of `n` bytes filled by `fill`, which must initialise all of them (as the
/// span reads do). No zero pass over the memory first.
pub(crate) fn filled(
    n: usize,
    fill: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<()>,
) -> Result<Vec<u8>> {
    let mut v: Vec<u8> = Vec::with_capacity(n);
    fill(&mut v.spare_capacity_mut()[..n])?;
    // SAFETY: `fill` returned Ok, so every one of the `n` bytes is initialised.
    unsafe { v.set_len(n) };
    Ok(v)
}
