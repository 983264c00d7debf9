//! The ColumnVault: a file's columns behind one connection, with its read snapshot and
//! checkpoints, and the storage-dispatching element API (`get`, `slice`, `set`, `insert`,
//! `delete`, `append` in `cache.rs`) that takes raw indexes, negative ones counting from the end.

use super::cache::{lock_cache, CacheState};
use super::handle::{out_of_range, position, Bounds, ColumnHandle, Plain, Storage};
use super::options::{ChunkOptions, NEW_COLUMN_FILE_PAGE_SIZE};
use super::writer::{create_column, find_column, length_of, ColumnWriter};
use super::{fixed, meta, reads, tuning, tx, varsize};
use crate::checkpointer::Checkpointer;
use crate::conn::{self, OpenOptions};
use crate::error::{Error, Result};
use crate::flusher::Flusher;
use crate::packer::{scalar, DType, Scalar};
use rusqlite::Connection;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A connection several stores (KVault, ColumnVault, the Board writer) may share.
pub type SharedConn = Arc<Mutex<Connection>>;

/// One entry of [`ColumnVault::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSummary {
    pub name: String,
    pub dtype: String,
    pub length: u64,
}

pub struct ColumnVault {
    /// The held read snapshot and what was read under it (see `reads.rs`). Lock order: `cache`,
    /// then `conn`, then `reader`; declared before `conn` so its BLOB handle closes first.
    reader: Mutex<reads::Reader>,
    /// Checkpoints of a vault's own connection run on a thread (checkpointer.rs); declared
    /// before `conn` so it lets go of the connection first.
    checkpointer: Mutex<Option<Checkpointer>>,
    conn: SharedConn,
    label: String,
    options: ChunkOptions,
    closed: AtomicBool,
    /// Write-back append caches (None while disabled). Lock order: `cache`, then `conn`.
    pub(super) cache: Mutex<Option<CacheState>>,
    pub(super) flusher: Mutex<Option<Flusher>>,
}

fn lock(conn: &SharedConn) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite half-way (every mutation is a
    // transaction), so a poisoned lock is still safe to use.
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

impl ColumnVault {
    /// Open (or create) `path` with its own connection and create the column tables. A new file
    /// gets [`NEW_COLUMN_FILE_PAGE_SIZE`] pages unless `opts.page_size` asks for others.
    pub fn open(path: &Path, opts: &OpenOptions, options: ChunkOptions) -> Result<ColumnVault> {
        let opts = &OpenOptions {
            page_size: opts.page_size.or(Some(NEW_COLUMN_FILE_PAGE_SIZE)),
            ..opts.clone()
        };
        let c = conn::open(path, opts)?;
        tuning::apply(&c).map_err(|e| e.context(path.display().to_string()))?;
        let checkpointer = (!opts.readonly).then(|| Checkpointer::attach(&c, path));
        let mut vault = Self::build(
            Arc::new(Mutex::new(c)),
            path.display().to_string(),
            options,
            true,
        )?;
        vault.checkpointer = Mutex::new(checkpointer);
        Ok(vault)
    }

    /// Use a connection that another store (a KVault) also uses. `label` names the file in
    /// error messages.
    pub fn from_shared(
        conn: SharedConn,
        label: impl Into<String>,
        options: ChunkOptions,
    ) -> Result<ColumnVault> {
        Self::build(conn, label.into(), options, false)
    }

    /// `owned`: the connection is this vault's alone, so reads may hold a snapshot on it.
    fn build(
        conn: SharedConn,
        label: String,
        options: ChunkOptions,
        owned: bool,
    ) -> Result<ColumnVault> {
        options
            .spec_for("(defaults)", 1)
            .map_err(|e| e.context(&label))?;
        let reader = {
            let c = lock(&conn);
            if !c.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
                meta::ensure_schema(&c).map_err(|e| e.context(&label))?;
            }
            reads::Reader::new(&c, owned).map_err(|e| e.context(&label))?
        };
        Ok(ColumnVault {
            reader: Mutex::new(reader),
            checkpointer: Mutex::new(None),
            conn,
            label,
            options,
            closed: AtomicBool::new(false),
            cache: Mutex::new(None),
            flusher: Mutex::new(None),
        })
    }

    /// Checkpoints run off the writer's thread so far (tests and diagnostics).
    #[doc(hidden)]
    pub fn background_checkpoints(&self) -> usize {
        self.checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, Checkpointer::passes)
    }

    pub fn shared_connection(&self) -> SharedConn {
        self.conn.clone()
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub(super) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed(format!(
                "column vault {} is closed",
                self.label
            )));
        }
        Ok(())
    }

    fn lock_reader(&self) -> MutexGuard<'_, reads::Reader> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` with the connection, failing with `Closed` after `close()`. A held read
    /// snapshot ends first: `f` may write, or run statements of its own.
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.check_open()?;
        let c = lock(&self.conn);
        self.lock_reader().release(&c)?;
        f(&c)
    }

    /// Run the read `f` under the held snapshot (begun or renewed as needed: it sees every
    /// commit made before this call), or in a read transaction of its own when none can be held.
    pub(super) fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection, &mut reads::Reader) -> Result<T>,
    ) -> Result<T> {
        self.check_open()?;
        let c = lock(&self.conn);
        let mut r = self.lock_reader();
        if r.begin(&c)? {
            let out = f(&c, &mut r);
            if out.is_err() {
                r.forget();
            }
            out
        } else {
            // Close the BLOB handles (open statements) before the read transaction commits.
            tx::read_tx(&c, |c| {
                let out = f(c, &mut r);
                r.forget();
                out
            })
        }
    }

    /// End the read snapshot that reads keep open between calls. Call it when going idle: an
    /// open read transaction holds back other connections' checkpoints (`reads.rs`).
    pub fn release_read(&self) -> Result<()> {
        if self.is_closed() {
            return Ok(());
        }
        let c = lock(&self.conn);
        self.lock_reader().release(&c)
    }

    /// Whether reads hold a snapshot right now (tests and diagnostics).
    pub fn read_held(&self) -> bool {
        self.lock_reader().is_held()
    }

    fn handle_from_rows(&self, c: &Connection, name: &str) -> Result<Option<ColumnHandle>> {
        find_column(c, &self.label, name)
    }

    /// The column called `name`, or `NotFound`.
    pub fn column(&self, name: &str) -> Result<ColumnHandle> {
        self.with_conn(|c| self.handle_from_rows(c, name))?
            .ok_or_else(|| Error::not_found(format!("no column \"{name}\" in {}", self.label)))
    }

    pub fn has(&self, name: &str) -> Result<bool> {
        Ok(self
            .with_conn(|c| self.handle_from_rows(c, name))?
            .is_some())
    }

    /// Create a new column; `InvalidArgument` if the name is taken or the dtype is bad.
    pub fn create(&self, name: &str, dtype: &str) -> Result<ColumnHandle> {
        self.with_conn(|c| create_column(c, &self.label, self.options, name, dtype))
    }

    /// The existing column (its dtype must equal `dtype`), or a new one.
    pub fn ensure(&self, name: &str, dtype: &str) -> Result<ColumnHandle> {
        let parsed = DType::parse(dtype).map_err(|e| e.context(format!("column \"{name}\"")))?;
        if let Some(h) = self.with_conn(|c| self.handle_from_rows(c, name))? {
            if h.dtype != parsed {
                return Err(Error::invalid(format!(
                    "column \"{name}\" exists with dtype {}, not {dtype}",
                    h.dtype_str
                )));
            }
            return Ok(h);
        }
        match self.create(name, dtype) {
            // Lost a race with another handle creating it: take theirs.
            Err(e) if e.kind == crate::ErrorKind::InvalidArgument && self.has(name)? => {
                self.ensure(name, dtype)
            }
            r => r,
        }
    }

    /// Every column with its dtype and length, in creation order.
    pub fn list(&self) -> Result<Vec<ColumnSummary>> {
        self.with_conn(|c| {
            let rows = meta::all(c)?;
            let names: std::collections::HashSet<&str> =
                rows.iter().map(|r| r.name.as_str()).collect();
            let mut out = Vec::new();
            for r in &rows {
                // A variable-size column shows once, under its own name, with the element count.
                if let Some(base) = r.name.strip_suffix("_data") {
                    if names.contains(format!("{base}_idx").as_str()) {
                        continue;
                    }
                }
                if let Some(base) = r.name.strip_suffix("_idx") {
                    if r.dtype == meta::IDX_DTYPE {
                        if let Some(d) = rows.iter().find(|d| d.name == format!("{base}_data")) {
                            out.push(ColumnSummary {
                                name: base.to_string(),
                                dtype: d.dtype.clone(),
                                length: r.length,
                            });
                            continue;
                        }
                    }
                }
                out.push(ColumnSummary {
                    name: r.name.clone(),
                    dtype: r.dtype.clone(),
                    length: r.length,
                });
            }
            Ok(out)
        })
    }

    /// Delete a column and free its chunks; false if there was none.
    pub fn delete_column(&self, name: &str) -> Result<bool> {
        self.settle()?;
        self.with_conn(|c| {
            tx::write_tx(c, |c| match self.handle_from_rows(c, name)? {
                Some(h) => {
                    match h.storage {
                        Storage::Fixed(m) => meta::remove(c, m.col_id)?,
                        Storage::Var(v) => {
                            meta::remove(c, v.data.col_id)?;
                            meta::remove(c, v.idx.col_id)?;
                        }
                    }
                    Ok(true)
                }
                None => Ok(false),
            })
        })
    }

    /// Run `f` in one transaction: everything it writes commits together or not at all.
    pub fn write<T>(&self, f: impl FnOnce(&ColumnWriter<'_>) -> Result<T>) -> Result<T> {
        self.with_conn(|c| tx::write_tx(c, |c| f(&ColumnWriter { conn: c })))
    }

    /// Append whole little-endian elements in their own transaction; returns the new length.
    pub fn extend_bytes(&self, col: &ColumnHandle, bytes: &[u8]) -> Result<u64> {
        self.settle()?;
        self.write(|w| w.extend(col, bytes))
    }

    /// The length, counting cached appends.
    pub fn len(&self, col: &ColumnHandle) -> Result<u64> {
        let cache = lock_cache(&self.cache);
        let pending = cache.as_ref().map_or(0, |s| s.pending_count(&col.name));
        Ok(self.with_reader(|c, r| r.length(c, col.count_row()))? + pending)
    }

    /// Elements `[start, end)` as little-endian bytes (`end` clamped to the length).
    pub fn read_bytes(&self, col: &ColumnHandle, start: u64, end: u64) -> Result<Vec<u8>> {
        self.read_fixed::<u8>(col, Bounds::Range(start, end), col.elem_size())
    }

    /// The elements of a fixed-size column that `bounds` picks (resolved against the length
    /// counting cached appends), as `T`s. For numeric columns `T` is the element type itself,
    /// so the result goes to JS as a typed array with no further copy; `per_elem` is how many
    /// `T` one element takes. Stored elements are copied by span reads straight into the
    /// result, cached ones from the cache.
    pub fn read_fixed<T: Plain>(
        &self,
        col: &ColumnHandle,
        bounds: Bounds,
        per_elem: usize,
    ) -> Result<Vec<T>> {
        let es = col.elem_size();
        if per_elem * std::mem::size_of::<T>() != es {
            return Err(Error::invalid(format!(
                "column \"{}\" ({}): elements of {es} bytes cannot be read as {per_elem} x {} bytes",
                col.name,
                col.dtype_str,
                std::mem::size_of::<T>()
            )));
        }
        let mut out: Vec<T> = Vec::new();
        let mut count = 0;
        let dst = &mut out;
        self.read_fixed_with(col, bounds, |bytes| {
            count = bytes / std::mem::size_of::<T>();
            dst.reserve_exact(count);
            let spare = &mut dst.spare_capacity_mut()[..count];
            // SAFETY: the same memory seen as bytes; `Plain` types have no padding.
            unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast(), bytes) }
        })?;
        // SAFETY: `Plain` types accept any bytes, and `read_fixed_with` wrote every byte it
        // was handed (the stored part by span reads, the rest from the cache).
        unsafe { out.set_len(count) };
        Ok(out)
    }

    /// Element `i` of a fixed-size column into `dst` (exactly its size), nothing allocated.
    fn read_element_into(&self, col: &ColumnHandle, i: i64, dst: &mut [u8]) -> Result<()> {
        let es = col.elem_size();
        self.read_fixed_with(col, Bounds::Index(i), |bytes| {
            debug_assert_eq!(bytes, es);
            // SAFETY: initialised bytes seen as possibly uninitialised ones (only written).
            unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr().cast(), bytes.min(dst.len())) }
        })
    }

    /// Copy the elements of a fixed-size column that `bounds` picks (resolved against the
    /// length counting cached appends) into the buffer `take` hands out for their byte count:
    /// stored elements by span reads straight into it, cached ones from the cache. On success
    /// every byte of it is written.
    fn read_fixed_with<'b>(
        &self,
        col: &ColumnHandle,
        bounds: Bounds,
        take: impl FnOnce(usize) -> &'b mut [MaybeUninit<u8>],
    ) -> Result<()> {
        let es = col.elem_size();
        let m = col.fixed()?;
        let cache = lock_cache(&self.cache);
        let pending = cache.as_ref().and_then(|s| s.cols.get(&col.name));
        self.with_reader(|c, r| {
            let stored = r.length(c, m)?;
            let len = stored + pending.map_or(0, |p| p.count);
            let (start, end) = bounds.resolve(&col.name, len)?;
            let bytes = take((end - start) as usize * es);
            let split = end.min(stored).max(start);
            let (db, cached) = bytes.split_at_mut((split - start) as usize * es);
            r.read_stream(c, m, start * es as u64, db)?;
            if !cached.is_empty() {
                let p = pending.ok_or_else(|| {
                    Error::corrupt(format!("column \"{}\": cached appends vanished", col.name))
                })?;
                let from = (start.max(stored) - stored) as usize * es;
                let src = &p.bytes[from..from + cached.len()];
                // SAFETY: `src` and `cached` have the same length and do not overlap.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        src.as_ptr(),
                        cached.as_mut_ptr() as *mut u8,
                        src.len(),
                    )
                };
            }
            Ok(())
        })
    }

    /// The exact numbers of an i64 / u64 column that `bounds` picks, as f64s: `InvalidArgument`
    /// when one is beyond 2^53, where f64 would round it.
    pub fn read_exact_f64(&self, col: &ColumnHandle, bounds: Bounds) -> Result<Vec<f64>> {
        let signed = match col.scalar()? {
            Scalar::I64 => true,
            Scalar::U64 => false,
            _ => {
                return Err(Error::invalid(format!(
                    "column \"{}\" ({}) does not hold 64-bit integers",
                    col.name, col.dtype_str
                )))
            }
        };
        let raw = self.read_fixed::<u64>(col, bounds, 1)?;
        scalar::exact_f64s(&raw, signed).map_err(|e| e.context(format!("column \"{}\"", col.name)))
    }

    /// Element `i` of a numeric column (not `bool`) as an exact f64: an i64 / u64 beyond 2^53
    /// is `InvalidArgument` (read it as a 64-bit integer instead). The single-number read
    /// behind JS `col.get(i)`.
    pub fn get_number(&self, col: &ColumnHandle, i: i64) -> Result<f64> {
        let s = col.scalar()?;
        let mut buf = [0u8; 8];
        let es = col.elem_size();
        self.read_element_into(col, i, &mut buf[..es])?;
        scalar::exact_f64(scalar::read(s, &buf))
            .map_err(|e| e.context(format!("column \"{}\"", col.name)))
    }

    /// The stored bytes of element `i` (negative counts from the end; out of range is an error).
    pub fn get(&self, col: &ColumnHandle, i: i64) -> Result<Vec<u8>> {
        match &col.storage {
            Storage::Fixed(_) => self.read_fixed::<u8>(col, Bounds::Index(i), col.elem_size()),
            Storage::Var(_) => Ok(self.slice(col, Bounds::Index(i))?.0),
        }
    }

    /// The stored bytes of the elements `bounds` picks (either kind) and their `n + 1` offsets.
    pub fn slice(&self, col: &ColumnHandle, bounds: Bounds) -> Result<(Vec<u8>, Vec<usize>)> {
        match &col.storage {
            Storage::Fixed(_) => {
                let es = col.elem_size();
                let b = self.read_fixed::<u8>(col, bounds, es)?;
                let offsets = (0..=b.len() / es).map(|k| k * es).collect();
                Ok((b, offsets))
            }
            Storage::Var(v) => {
                // Variable-size reads go to SQLite only: cached appends are written first.
                self.settle()?;
                self.with_reader(|c, r| {
                    let (start, end) = bounds.resolve(&col.name, r.length(c, &v.idx)?)?;
                    varsize::read_many(c, r, v, start, end)
                })
            }
        }
    }

    /// Overwrite the elements from `at` (negative counts from the end) with the packed elements
    /// in `bytes` (`ends` cut variable-size ones); they must all exist. One transaction.
    pub fn set(&self, col: &ColumnHandle, at: i64, bytes: &[u8], ends: &[usize]) -> Result<()> {
        let n = col.count(bytes, ends)?;
        self.settle()?;
        self.write(|w| {
            let len = length_of(w.conn, col)?;
            let start = position(&col.name, at, len)?;
            if n == 0 {
                return Ok(());
            }
            if start == len {
                return Err(out_of_range(&col.name, at, len));
            }
            if start + n > len {
                return Err(Error::invalid(format!(
                    "column \"{}\": {n} values at {start} run past the length {len}",
                    col.name
                )));
            }
            match &col.storage {
                Storage::Fixed(m) => fixed::overwrite(w.conn, m, start, bytes),
                Storage::Var(v) => {
                    let mut from = 0;
                    for (k, &end) in ends.iter().enumerate() {
                        varsize::set(w.conn, v, start + k as u64, &bytes[from..end])?;
                        from = end;
                    }
                    Ok(())
                }
            }
        })
    }

    /// Insert packed elements before `at` (negative counts from the end; the length appends);
    /// returns the new length.
    pub fn insert(&self, col: &ColumnHandle, at: i64, bytes: &[u8], ends: &[usize]) -> Result<u64> {
        col.count(bytes, ends)?;
        self.settle()?;
        self.write(|w| {
            let at = position(&col.name, at, length_of(w.conn, col)?)?;
            match &col.storage {
                Storage::Fixed(m) => fixed::insert(w.conn, m, at, bytes),
                Storage::Var(v) => varsize::insert_many(w.conn, v, at, bytes, ends),
            }
        })
    }

    /// Remove the elements `bounds` picks, shifting the rest down; returns the new length.
    pub fn delete(&self, col: &ColumnHandle, bounds: Bounds) -> Result<u64> {
        self.settle()?;
        self.write(|w| {
            let (start, end) = bounds.resolve(&col.name, length_of(w.conn, col)?)?;
            match &col.storage {
                Storage::Fixed(m) => fixed::delete_range(w.conn, m, start, end),
                Storage::Var(v) => varsize::delete_range(w.conn, v, start, end),
            }
        })
    }

    /// Drop every element (either kind) and free the chunks.
    pub fn clear(&self, col: &ColumnHandle) -> Result<()> {
        self.settle()?;
        self.write(|w| match &col.storage {
            Storage::Fixed(m) => fixed::clear(w.conn, m),
            Storage::Var(v) => varsize::clear(w.conn, v),
        })
    }

    /// Rewrite a variable-size column's data chunks without the fragments updates and deletes
    /// leave; fixed-size columns have none, so for them it does nothing.
    pub fn compact(&self, col: &ColumnHandle) -> Result<()> {
        let Storage::Var(v) = &col.storage else {
            return Ok(());
        };
        self.settle()?;
        self.write(|w| varsize::compact(w.conn, v))
    }

    pub fn checkpoint(&self) -> Result<()> {
        self.with_conn(conn::checkpoint)
    }

    /// Flush the cache and mark closed; later calls fail with `Closed`. A failed flush leaves
    /// the vault open (cache and all) and returns the error. The connection closes with its
    /// last user.
    pub fn close(&self) -> Result<()> {
        if self.is_closed() {
            return Ok(());
        }
        self.stop_flusher();
        // A close that cannot write the cache leaves the vault open with its appends (as
        // KVault's does): the caller sees the error and may close again.
        self.flush_cache()?;
        let _ = self.release_read();
        // A vault with a connection of its own (the one that has a checkpoint thread) joins the
        // thread now, not when the last reference goes, and folds the WAL back so the file is
        // whole on its own, as KohakuVault does on close.
        let own = self
            .checkpointer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if own.is_some() {
            drop(own);
            let _ = self.checkpoint();
        }
        self.closed.store(true, Ordering::Release);
        *lock_cache(&self.cache) = None;
        Ok(())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for ColumnVault {
    /// Cached appends reach the file even when the vault is dropped without `close()`.
    fn drop(&mut self) {
        let _ = self.close();
    }
}
