//! Large values through SQLite incremental BLOB I/O, in fixed-size chunks, so a value of any
//! size (up to SQLite's BLOB limit) moves between a file and the table with flat memory.
//!
//! Writes reserve the row with `zeroblob(n)` and fill it inside one transaction (all or
//! nothing). Reads keep one blob handle open for the whole value: SQLite caches the overflow
//! page chain per handle, so reopening per chunk would make a long read quadratic.

use super::header::{self, HEADER_LEN};
use super::store::{show_key, KvStore};
use crate::error::{Error, Result};
use rusqlite::blob::Blob;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::io::{Read, Write};

/// Chunk size of streamed I/O.
pub const STREAM_CHUNK: usize = 1 << 20;
/// The largest BLOB SQLite can hold (this build raises SQLITE_MAX_LENGTH to its maximum).
pub const MAX_VALUE_LEN: u64 = i32::MAX as u64;

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl KvStore {
    /// Store exactly `size` raw bytes read from `reader` under `key`, in one transaction.
    /// Returns the number of payload bytes written. A reader that ends early or fails rolls
    /// the write back.
    pub fn put_reader(&mut self, key: &[u8], reader: &mut impl Read, size: u64) -> Result<u64> {
        self.check_writable("putStream", key)?;
        let shown = format!("{}: key {}", self.path().display(), show_key(key));
        let mut chunk = vec![0u8; STREAM_CHUNK.min(size as usize).max(2)];
        let first = read_full(reader, &mut chunk[..(size as usize).min(STREAM_CHUNK)])
            .map_err(|e| Error::from(e).context(&shown))?;
        let prefix = header::stream_prefix(&chunk[..first.min(2)]);
        let total = prefix.len() as u64 + size;
        if total > MAX_VALUE_LEN {
            return Err(Error::invalid(format!(
                "{shown}: value of {size} bytes is larger than SQLite's BLOB limit ({MAX_VALUE_LEN} bytes)"
            )));
        }
        let sql_put = self.sql_put_zeroblob().to_string();
        let sql_rowid = self.sql_rowid().to_string();
        let table = self.table().to_string();
        self.end_read_for_stream()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::from(e).context(&shown))?;
        let ctx = |e: rusqlite::Error| Error::from(e).context(&shown);
        tx.execute(&sql_put, params![key, total as i64])
            .map_err(ctx)?;
        let (rowid, _): (i64, i64) = tx
            .query_row(&sql_rowid, params![key], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(ctx)?;
        {
            let mut blob = tx
                .blob_open("main", table.as_str(), "value", rowid, false)
                .map_err(ctx)?;
            blob.write_all(prefix)
                .map_err(|e| Error::from(e).context(&shown))?;
            let mut written = first as u64;
            blob.write_all(&chunk[..first])
                .map_err(|e| Error::from(e).context(&shown))?;
            while written < size {
                let want = ((size - written) as usize).min(chunk.len());
                let n = read_full(reader, &mut chunk[..want])
                    .map_err(|e| Error::from(e).context(&shown))?;
                if n == 0 {
                    break;
                }
                blob.write_all(&chunk[..n])
                    .map_err(|e| Error::from(e).context(&shown))?;
                written += n as u64;
            }
            if written != size {
                return Err(Error::invalid(format!(
                    "{shown}: the source ended after {written} of the {size} bytes announced; nothing was stored"
                )));
            }
        }
        tx.commit().map_err(ctx)?;
        self.forget_cached(key);
        Ok(size)
    }

    /// Store a file's bytes under `key`; returns the number of bytes stored.
    pub fn put_file(&mut self, key: &[u8], file: &std::path::Path) -> Result<u64> {
        let mut f =
            std::fs::File::open(file).map_err(|e| Error::from(e).context(file.display()))?;
        let size = f
            .metadata()
            .map_err(|e| Error::from(e).context(file.display()))?
            .len();
        self.put_reader(key, &mut std::io::BufReader::with_capacity(0, &mut f), size)
    }

    /// Open a chunked reader over the payload of `key` (`None` when the key is absent).
    /// Consumes the store: the reader keeps the connection, and with it a consistent snapshot
    /// of the value, until it is dropped. Use it on a `sibling()`.
    pub fn into_reader(mut self, key: &[u8]) -> Result<Option<ValueReader>> {
        self.flush_cache()?;
        self.end_read_for_stream()?;
        let shown = format!("{}: key {}", self.path().display(), show_key(key));
        let found: Option<(i64, i64)> = self
            .conn
            .query_row(self.sql_rowid(), params![key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| Error::from(e).context(&shown))?;
        let Some((rowid, len)) = found else {
            return Ok(None);
        };
        let table = self.table().to_string();
        let conn = Box::new(std::mem::replace(
            &mut self.conn,
            Connection::open_in_memory().map_err(Error::from)?,
        ));
        // SAFETY: the blob borrows the boxed connection, which never moves and is dropped after
        // the blob (field order of ValueReader).
        let conn_ref: &'static Connection = unsafe { &*(conn.as_ref() as *const Connection) };
        let blob = conn_ref
            .blob_open("main", table.as_str(), "value", rowid, true)
            .map_err(|e| Error::from(e).context(&shown))?;
        let mut head = [0u8; HEADER_LEN];
        let n = blob
            .read_at(&mut head, 0)
            .map_err(|e| Error::from(e).context(&shown))?;
        let start = header::payload_offset(&head[..n]);
        let reader = ValueReader {
            blob,
            _conn: conn,
            pos: start,
            end: len as usize,
            shown,
        };
        if start > 0 {
            if let Err(e) = header::parse(&head[..n]) {
                return Err(e.context(&reader.shown));
            }
            if head[3] != 0 {
                return Err(Error::invalid(format!(
                    "{}: holds an encoded value (encoding 0x{:02x}), not raw bytes; use get()",
                    reader.shown, head[3]
                )));
            }
        }
        Ok(Some(reader))
    }

    /// Copy the payload of `key` to `out` in chunks; `None` when the key is absent.
    pub fn get_to_writer(self, key: &[u8], out: &mut impl Write) -> Result<Option<u64>> {
        match self.into_reader(key)? {
            Some(mut r) => r.copy_to(out).map(Some),
            None => Ok(None),
        }
    }
}

/// A chunked reader over one stored raw value (see `KvStore::into_reader`).
pub struct ValueReader {
    // Declared before `_conn` so it is dropped first.
    blob: Blob<'static>,
    _conn: Box<Connection>,
    pos: usize,
    end: usize,
    shown: String,
}

// SAFETY: a ValueReader owns its connection and blob exclusively; SQLite (bundled, threadsafe
// build) allows a connection to be used from another thread as long as one thread at a time
// uses it, which `&mut self` guarantees.
unsafe impl Send for ValueReader {}

impl ValueReader {
    /// Payload bytes not read yet.
    pub fn remaining(&self) -> u64 {
        (self.end - self.pos) as u64
    }

    /// Read the next bytes into `buf`; 0 at the end.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize> {
        let want = buf.len().min(self.end - self.pos);
        if want == 0 {
            return Ok(0);
        }
        self.blob
            .read_at_exact(&mut buf[..want], self.pos)
            .map_err(|e| Error::from(e).context(&self.shown))?;
        self.pos += want;
        Ok(want)
    }

    /// Copy everything not read yet to `out`; returns the byte count.
    pub fn copy_to(&mut self, out: &mut impl Write) -> Result<u64> {
        let mut buf = vec![0u8; STREAM_CHUNK.min(self.remaining() as usize).max(1)];
        let mut total = 0u64;
        loop {
            let n = self.read_chunk(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| Error::from(e).context(&self.shown))?;
            total += n as u64;
        }
        out.flush()
            .map_err(|e| Error::from(e).context(&self.shown))?;
        Ok(total)
    }
}
