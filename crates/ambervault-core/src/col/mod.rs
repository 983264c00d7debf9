//! Columns: typed, chunked, append-friendly arrays in the KohakuVault 0.8 layout (docs/format.md).
//!
//! # Rust API (used by the bindings and by the Board writer)
//!
//! ```no_run
//! use ambervault_core::col::{ChunkOptions, ColumnVault};
//! use ambervault_core::conn::OpenOptions;
//! # fn main() -> ambervault_core::Result<()> {
//! // Opens (or creates) the file and the column tables.
//! let cv = ColumnVault::open("run/metrics.db".as_ref(), &OpenOptions::default(), ChunkOptions::default())?;
//! let step = cv.ensure("loss/step", "i64")?;   // created on first use, dtype checked after
//! let value = cv.ensure("loss/value", "f64")?;
//!
//! // Several columns in ONE transaction (all or nothing). Bytes are little-endian elements.
//! cv.write(|w| {
//!     w.extend(&step, &[1i64, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
//!     w.extend(&value, &[0.5f64, 0.4, 0.3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
//!     Ok(())
//! })?;
//!
//! assert_eq!(cv.len(&value)?, 3);
//! let bytes: Vec<u8> = cv.read_bytes(&value, 1, 3)?;   // elements 1..3 as LE bytes
//! # let _ = bytes; Ok(()) }
//! ```
//!
//! Sharing a file with a KVault: open both on the same path (WAL lets them coexist), or hand the
//! ColumnVault the very connection the KVault uses with [`ColumnVault::from_shared`] (an
//! `Arc<Mutex<Connection>>`). When the caller already holds a transaction on its own
//! connection, [`ColumnWriter::new`] writes columns inside it: each mutation then becomes a
//! savepoint of that transaction, so column and KV writes commit together.
//!
//! Every mutation is one transaction (`BEGIN IMMEDIATE`) or, inside a caller's transaction,
//! one savepoint: a crash leaves the old or the new state, never a half-written chunk.

pub mod cache;
pub mod chunks;
pub mod fixed;
pub mod meta;
pub mod reads;
pub mod tuning;
pub mod tx;
pub mod varsize;

use crate::checkpointer::Checkpointer;
use crate::conn::{self, OpenOptions};
use crate::error::{Error, Result};
use crate::packer::DType;
use meta::{ChunkSpec, MetaRow};
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use cache::CacheOptions;
pub use meta::DEFAULT_MIN_CHUNK_BYTES;

/// Element types `read_fixed` can fill directly: plain numbers, stored little-endian.
///
/// # Safety
/// Implementors must accept every bit pattern of their size (no padding, no invalid values).
pub unsafe trait Plain: Copy + Default {}
unsafe impl Plain for u8 {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u16 {}
unsafe impl Plain for i16 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for i32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for i64 {}
unsafe impl Plain for f32 {}
unsafe impl Plain for f64 {}
// Columns store little-endian numbers; `read_fixed` reads them as native ones.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "ambervault reads columns as native numbers: little-endian targets only"
);

/// A connection several stores (KVault, ColumnVault, the Board writer) may share.
pub type SharedConn = Arc<Mutex<Connection>>;

/// Largest chunk of a column created without `max_chunk_bytes` (unless one element is larger).
///
/// KohakuVault's own default is 16 MiB, but SQLite stores a chunk as a chain of overflow pages
/// that can only be walked from its start: a write at the end of a chunk (every uncached append)
/// looks up each page before it, and keeping `bytes_used` of a variable-size data chunk exact
/// rewrites the whole record. Both cost a time proportional to the chunk, measured at 0.1-0.4 ms
/// per f64 append and 2-3 ms per string append into full 16 MiB chunks; at 256 KiB they stay
/// flat, while extends and full reads run at the same speed (they go chunk by chunk either way).
/// Each column records its sizes in `col_meta`, so KohakuVault follows them.
pub const NEW_COLUMN_MAX_CHUNK_BYTES: u64 = 256 << 10;

/// The data chunks of a new variable-size column, when no maximum is given, hold at most this
/// (and start at it, or at the minimum when that is smaller). An append must keep its data
/// chunk's `bytes_used` exact (KohakuVault appends where it points), and any UPDATE of a chunk
/// row makes SQLite read, rebuild and compare the whole record: at 4 KiB pages a string append
/// into 256 KiB data chunks measured 50 us in the core, into 32 KiB ones 31 us (16 KiB: 29).
pub const NEW_DATA_CHUNK_MAX_BYTES: u64 = 32 << 10;

/// Page size of a file [`ColumnVault::open`] creates when none is asked for: what the KohakuVault
/// package gives its ColumnVault files (it sets 32 KiB only on KVault files). Every commit writes
/// whole pages to the WAL and an uncached append commits at least two (its chunk and
/// `col_meta.length`), so at 4 KiB it costs about half what it does at 32 KiB (`bench/columns`,
/// tables 2 and 3), which puts it ahead of KohakuVault's; a 10M-value extend is about 2.7x
/// slower than at 32 KiB, still ahead of every peer. Files opened through a shared connection,
/// and the Board's, keep the connection default (`conn::NEW_FILE_PAGE_SIZE`).
pub const NEW_COLUMN_FILE_PAGE_SIZE: u32 = 4096;

/// Chunk sizes for columns this vault creates (existing columns keep their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    pub min_chunk_bytes: u64,
    /// None: [`NEW_COLUMN_MAX_CHUNK_BYTES`], raised to the minimum (in whole elements) or to one
    /// element when either is larger; for the data of variable-size columns
    /// [`NEW_DATA_CHUNK_MAX_BYTES`]. A size given here is taken as it is for every chunk (too
    /// small for an element is an error).
    pub max_chunk_bytes: Option<u64>,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            min_chunk_bytes: DEFAULT_MIN_CHUNK_BYTES,
            max_chunk_bytes: None,
        }
    }
}

impl ChunkOptions {
    /// The chunk sizes of a new variable-size column's data (see [`NEW_DATA_CHUNK_MAX_BYTES`]).
    pub fn data_spec(&self, name: &str) -> Result<ChunkSpec> {
        let (min, max) = match self.max_chunk_bytes {
            Some(max) => (self.min_chunk_bytes, max),
            None => (
                self.min_chunk_bytes.min(NEW_DATA_CHUNK_MAX_BYTES),
                NEW_DATA_CHUNK_MAX_BYTES,
            ),
        };
        ChunkSpec::aligned(name, 1, min, max)
    }

    /// The chunk sizes of a new column (or index) whose elements take `elem_size` bytes.
    pub fn spec_for(&self, name: &str, elem_size: u64) -> Result<ChunkSpec> {
        let min = self.min_chunk_bytes;
        // Without a maximum: the default cap, raised to the minimum rounded up to whole
        // elements (so at least one element).
        let max = self.max_chunk_bytes.unwrap_or_else(|| {
            NEW_COLUMN_MAX_CHUNK_BYTES.max(min.max(1).div_ceil(elem_size) * elem_size)
        });
        ChunkSpec::aligned(name, elem_size, min, max)
    }
}

/// What a column handle points at. The stored rows' `length` here is a snapshot from when the
/// handle was made; operations always read the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    Fixed(MetaRow),
    /// `name_data` + `name_idx`.
    Var(varsize::VarRows),
}

/// A handle on one column: its name, parsed dtype and storage rows. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnHandle {
    pub name: String,
    /// The dtype string as stored in `col_meta`.
    pub dtype_str: String,
    pub dtype: DType,
    pub storage: Storage,
}

impl ColumnHandle {
    pub fn elem_size(&self) -> usize {
        self.dtype.elem_size()
    }
    pub fn is_var_size(&self) -> bool {
        self.dtype.is_var_size()
    }
    /// The `col_meta` row of a fixed-size column (`InvalidArgument` for a variable-size one).
    pub fn fixed(&self) -> Result<&MetaRow> {
        match &self.storage {
            Storage::Fixed(m) => Ok(m),
            Storage::Var(_) => Err(Error::invalid(format!(
                "column \"{}\" ({}) is variable-size: use the variable-size calls",
                self.name, self.dtype_str
            ))),
        }
    }
    fn var(&self) -> Result<&varsize::VarRows> {
        match &self.storage {
            Storage::Var(v) => Ok(v),
            Storage::Fixed(_) => Err(Error::invalid(format!(
                "column \"{}\" ({}) is fixed-size: use the fixed-size calls",
                self.name, self.dtype_str
            ))),
        }
    }
}

impl ColumnHandle {
    /// The `col_meta` row whose length is the element count.
    fn count_row(&self) -> &MetaRow {
        match &self.storage {
            Storage::Fixed(m) => m,
            Storage::Var(v) => &v.idx,
        }
    }
}

/// Which elements a read wants, resolved against the length when the read runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// `[start, end)` with `end` clamped to the length; a start past it is an error.
    Range(u64, u64),
    /// Like JS `slice` / Python `[a:b]`: negative bounds count from the end, everything is
    /// clamped, `None` is the start or the end.
    Slice(Option<i64>, Option<i64>),
    /// One element; negative counts from the end; out of range is an error.
    Index(i64),
}

impl Bounds {
    pub fn resolve(self, name: &str, len: u64) -> Result<(u64, u64)> {
        match self {
            Bounds::Range(start, end) => {
                let end = end.min(len);
                if start > end {
                    return Err(Error::invalid(format!(
                        "column \"{name}\": slice start {start} is past the length {len}"
                    )));
                }
                Ok((start, end))
            }
            Bounds::Slice(start, end) => {
                let at = |v: Option<i64>, dflt: u64| match v {
                    None => dflt,
                    Some(v) if v < 0 => len.saturating_sub(v.unsigned_abs()),
                    Some(v) => (v as u64).min(len),
                };
                let s = at(start, 0);
                Ok((s, at(end, len).max(s)))
            }
            Bounds::Index(i) => {
                let j = if i < 0 {
                    len.checked_sub(i.unsigned_abs())
                } else {
                    Some(i as u64).filter(|&j| j < len)
                };
                match j {
                    Some(j) => Ok((j, j + 1)),
                    None => Err(Error::invalid(format!(
                        "column \"{name}\": index {i} out of range for length {len}"
                    ))),
                }
            }
        }
    }
}

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
    cache: Mutex<Option<cache::CacheState>>,
    /// The interval flusher: its stop flag and thread.
    flusher: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

fn lock_cache(c: &Mutex<Option<cache::CacheState>>) -> MutexGuard<'_, Option<cache::CacheState>> {
    c.lock().unwrap_or_else(|p| p.into_inner())
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

    fn check_open(&self) -> Result<()> {
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
    fn with_reader<T>(
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
        let m = col.fixed()?;
        let cache = lock_cache(&self.cache);
        let pending = cache.as_ref().and_then(|s| s.cols.get(&col.name));
        self.with_reader(|c, r| {
            let stored = r.length(c, m)?;
            let len = stored + pending.map_or(0, |p| p.count);
            let (start, end) = bounds.resolve(&col.name, len)?;
            let count = (end - start) as usize * per_elem;
            let mut out: Vec<T> = Vec::with_capacity(count);
            let bytes = &mut out.spare_capacity_mut()[..count];
            // SAFETY: the same memory seen as bytes; `Plain` types have no padding.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut(
                    bytes.as_mut_ptr() as *mut std::mem::MaybeUninit<u8>,
                    count * std::mem::size_of::<T>(),
                )
            };
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
            // SAFETY: `Plain` types accept any bytes, and every byte is now written (the
            // stored part by the span reads, the rest from the cache).
            unsafe { out.set_len(count) };
            Ok(out)
        })
    }

    /// Overwrite existing elements starting at `start`.
    pub fn set_bytes(&self, col: &ColumnHandle, start: u64, bytes: &[u8]) -> Result<()> {
        self.settle()?;
        self.write(|w| fixed::overwrite(w.conn, col.fixed()?, start, bytes))
    }

    /// Insert elements before `at`; returns the new length.
    pub fn insert_bytes(&self, col: &ColumnHandle, at: u64, bytes: &[u8]) -> Result<u64> {
        self.settle()?;
        self.write(|w| fixed::insert(w.conn, col.fixed()?, at, bytes))
    }

    /// Remove elements `[start, end)` (either kind); returns the new length.
    pub fn delete_range(&self, col: &ColumnHandle, start: u64, end: u64) -> Result<u64> {
        self.settle()?;
        self.write(|w| match &col.storage {
            Storage::Fixed(m) => fixed::delete_range(w.conn, m, start, end),
            Storage::Var(v) => varsize::delete_range(w.conn, v, start, end),
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

    /// Variable-size: append elements (`bytes` cut at the exclusive `ends`); returns the new length.
    pub fn extend_var(&self, col: &ColumnHandle, bytes: &[u8], ends: &[usize]) -> Result<u64> {
        self.settle()?;
        self.write(|w| w.extend_var(col, bytes, ends))
    }

    /// Variable-size: elements `[start, end)` (`end` clamped) as bytes plus `n + 1` offsets.
    pub fn read_var(
        &self,
        col: &ColumnHandle,
        start: u64,
        end: u64,
    ) -> Result<(Vec<u8>, Vec<usize>)> {
        self.read_var_in(col, Bounds::Range(start, end))
    }

    /// Variable-size: the elements `bounds` picks, as bytes plus `n + 1` offsets.
    pub fn read_var_in(&self, col: &ColumnHandle, bounds: Bounds) -> Result<(Vec<u8>, Vec<usize>)> {
        let v = col.var()?;
        self.settle()?;
        self.with_reader(|c, r| {
            let len = r.length(c, &v.idx)?;
            let (start, end) = bounds.resolve(&col.name, len)?;
            varsize::read_many(c, r, v, start, end)
        })
    }

    /// Variable-size: replace element `i` (it must exist).
    pub fn set_var(&self, col: &ColumnHandle, i: u64, bytes: &[u8]) -> Result<()> {
        self.settle()?;
        self.write(|w| {
            let v = col.var()?;
            let len = varsize::length(w.conn, v)?;
            if i >= len {
                return Err(Error::invalid(format!(
                    "column \"{}\": index {i} out of range 0..{len}",
                    col.name
                )));
            }
            varsize::set(w.conn, v, i, bytes)
        })
    }

    /// Variable-size: insert elements before `at`; returns the new length.
    pub fn insert_var(
        &self,
        col: &ColumnHandle,
        at: u64,
        bytes: &[u8],
        ends: &[usize],
    ) -> Result<u64> {
        self.settle()?;
        self.write(|w| varsize::insert_many(w.conn, col.var()?, at, bytes, ends))
    }

    /// Variable-size: rewrite the data chunks without fragments.
    pub fn compact(&self, col: &ColumnHandle) -> Result<()> {
        self.settle()?;
        self.write(|w| varsize::compact(w.conn, col.var()?))
    }

    pub fn checkpoint(&self) -> Result<()> {
        self.with_conn(conn::checkpoint)
    }

    /// Mark closed; later calls fail with `Closed`. The connection closes with its last user.
    pub fn close(&self) -> Result<()> {
        if self.is_closed() {
            return Ok(());
        }
        self.stop_flusher();
        let flushed = self.flush_cache();
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
        flushed
    }

    /// Turn on write-back caching of appends for every column of this vault (see `cache.rs`).
    /// With a flush interval, a background thread flushes after that much idle time.
    pub fn enable_cache(self: &Arc<Self>, options: CacheOptions) -> Result<()> {
        self.with_conn(|_| Ok(()))?;
        {
            let mut c = lock_cache(&self.cache);
            match c.as_mut() {
                Some(s) => s.options = options,
                None => *c = Some(cache::CacheState::new(options)),
            }
        }
        self.stop_flusher();
        if let Some(every) = options.flush_interval {
            let stop = Arc::new(AtomicBool::new(false));
            let weak = Arc::downgrade(self);
            let flag = stop.clone();
            let tick = (every / 4).clamp(
                std::time::Duration::from_millis(1),
                std::time::Duration::from_millis(100),
            );
            let handle = std::thread::spawn(move || loop {
                std::thread::sleep(tick);
                if flag.load(Ordering::Acquire) {
                    return;
                }
                let Some(v) = weak.upgrade() else { return };
                let idle = lock_cache(&v.cache)
                    .as_ref()
                    .is_some_and(|s| !s.cols.is_empty() && s.last_append.elapsed() >= every);
                if idle {
                    // A failed background flush keeps the data cached; the next explicit
                    // flush or close reports the error.
                    let _ = v.flush_cache();
                }
            });
            *self.flusher.lock().unwrap_or_else(|p| p.into_inner()) = Some((stop, handle));
        }
        Ok(())
    }

    /// Flush, then stop caching.
    pub fn disable_cache(&self) -> Result<()> {
        self.stop_flusher();
        self.flush_cache()?;
        *lock_cache(&self.cache) = None;
        Ok(())
    }

    fn stop_flusher(&self) {
        let f = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some((stop, handle)) = f {
            stop.store(true, Ordering::Release);
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    pub fn cache_enabled(&self) -> bool {
        lock_cache(&self.cache).is_some()
    }

    /// Append whole elements through the cache when it is on, else straight to SQLite.
    /// `ends` delimit variable-size elements (ignored for fixed-size columns).
    pub fn append(&self, col: &ColumnHandle, bytes: &[u8], ends: &[usize]) -> Result<()> {
        let mut cache = lock_cache(&self.cache);
        let Some(state) = cache.as_mut() else {
            drop(cache);
            if col.is_var_size() {
                self.extend_var(col, bytes, ends)?;
            } else {
                self.extend_bytes(col, bytes)?;
            }
            return Ok(());
        };
        if self.is_closed() {
            return Err(Error::closed(format!(
                "column vault {} is closed",
                self.label
            )));
        }
        // Validate now, so a bad batch fails at its own call and not at a later flush.
        let count = if col.is_var_size() {
            let mut prev = 0;
            for &e in ends {
                if e < prev || e > bytes.len() {
                    return Err(Error::invalid(format!(
                        "column \"{}\": element offsets are not increasing within the {} bytes given",
                        col.name,
                        bytes.len()
                    )));
                }
                prev = e;
            }
            ends.len() as u64
        } else {
            let es = col.elem_size();
            if !bytes.len().is_multiple_of(es) {
                return Err(Error::invalid(format!(
                    "column \"{}\" ({}): {} bytes is not a whole number of {es}-byte elements",
                    col.name,
                    col.dtype_str,
                    bytes.len()
                )));
            }
            (bytes.len() / es) as u64
        };
        if state.push(
            col,
            bytes,
            if col.is_var_size() { ends } else { &[] },
            count,
        ) {
            self.flush_locked(state)?;
        }
        Ok(())
    }

    /// Write every cached append in one transaction.
    pub fn flush_cache(&self) -> Result<()> {
        let mut cache = lock_cache(&self.cache);
        match cache.as_mut() {
            Some(state) => self.flush_locked(state),
            None => Ok(()),
        }
    }

    fn flush_locked(&self, state: &mut cache::CacheState) -> Result<()> {
        if state.cols.is_empty() {
            return Ok(());
        }
        let cols = std::mem::take(&mut state.cols);
        let r = self.write(|w| {
            for p in cols.values() {
                if p.handle.is_var_size() {
                    w.extend_var(&p.handle, &p.bytes, &p.ends)?;
                } else {
                    w.extend(&p.handle, &p.bytes)?;
                }
            }
            Ok(())
        });
        if r.is_err() {
            // Nothing was written (one transaction): keep the appends for the next attempt.
            state.cols = cols;
        }
        r
    }

    /// Flush cached appends before a call that reads or changes stored elements directly.
    fn settle(&self) -> Result<()> {
        let mut cache = lock_cache(&self.cache);
        match cache.as_mut() {
            Some(state) if !state.cols.is_empty() => self.flush_locked(state),
            _ => Ok(()),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Column writes inside a transaction the caller controls (from [`ColumnVault::write`], or on
/// any connection already in a transaction via [`ColumnWriter::new`]).
pub struct ColumnWriter<'c> {
    conn: &'c Connection,
}

impl<'c> ColumnWriter<'c> {
    /// Write columns through `conn` (which must hold the column tables: see
    /// [`meta::ensure_schema`]). Each call is a savepoint inside the caller's transaction, or
    /// its own transaction if there is none.
    pub fn new(conn: &'c Connection) -> Self {
        ColumnWriter { conn }
    }

    /// Append whole little-endian elements; returns the new length.
    pub fn extend(&self, col: &ColumnHandle, bytes: &[u8]) -> Result<u64> {
        tx::write_tx(self.conn, |c| fixed::append(c, col.fixed()?, bytes))
    }

    /// Variable-size: append elements (`bytes` cut at the exclusive `ends`); returns the new length.
    pub fn extend_var(&self, col: &ColumnHandle, bytes: &[u8], ends: &[usize]) -> Result<u64> {
        tx::write_tx(self.conn, |c| {
            varsize::append_many(c, col.var()?, bytes, ends)
        })
    }

    /// The column called `name` (None when absent), read inside the caller's transaction.
    pub fn column(&self, name: &str) -> Result<Option<ColumnHandle>> {
        find_column(self.conn, "this file", name)
    }

    /// Create a column inside the caller's transaction (chunk sizes from `options`).
    pub fn create(&self, name: &str, dtype: &str, options: ChunkOptions) -> Result<ColumnHandle> {
        create_column(self.conn, "this file", options, name, dtype)
    }

    pub fn len(&self, col: &ColumnHandle) -> Result<u64> {
        length_of(self.conn, col)
    }
}

fn length_of(c: &Connection, col: &ColumnHandle) -> Result<u64> {
    match &col.storage {
        Storage::Fixed(m) => meta::length(c, m.col_id, &col.name),
        Storage::Var(v) => varsize::length(c, v),
    }
}

/// The column called `name` as its `col_meta` rows describe it now (None when absent); `label`
/// names the file in errors.
pub fn find_column(c: &Connection, label: &str, name: &str) -> Result<Option<ColumnHandle>> {
    let corrupt = |m: String| Error::corrupt(format!("column \"{name}\" in {}: {m}", label));
    if let Some(row) = meta::by_name(c, name)? {
        let dtype = DType::parse(&row.dtype).map_err(|e| corrupt(e.message))?;
        if dtype.is_var_size() || dtype.elem_size() as u64 != row.spec.elem_size {
            return Err(corrupt(format!(
                "dtype {} does not match elem_size {}",
                row.dtype, row.spec.elem_size
            )));
        }
        return Ok(Some(ColumnHandle {
            name: name.to_string(),
            dtype_str: row.dtype.clone(),
            dtype,
            storage: Storage::Fixed(row),
        }));
    }
    let data = meta::by_name(c, &format!("{name}_data"))?;
    let idx = meta::by_name(c, &format!("{name}_idx"))?;
    match (data, idx) {
        (Some(data), Some(idx)) => {
            let dtype = DType::parse(&data.dtype).map_err(|e| corrupt(e.message))?;
            if idx.spec.elem_size != meta::IDX_ELEM_SIZE {
                return Err(corrupt(format!(
                    "index entries of {} bytes, not {}",
                    idx.spec.elem_size,
                    meta::IDX_ELEM_SIZE
                )));
            }
            Ok(Some(ColumnHandle {
                name: name.to_string(),
                dtype_str: data.dtype.clone(),
                dtype,
                storage: Storage::Var(varsize::VarRows {
                    name: name.to_string(),
                    data,
                    idx,
                }),
            }))
        }
        _ => Ok(None),
    }
}

/// Create column `name` on `c` (one transaction, or a savepoint of the caller's).
fn create_column(
    c: &Connection,
    label: &str,
    options: ChunkOptions,
    name: &str,
    dtype: &str,
) -> Result<ColumnHandle> {
    let parsed = DType::parse(dtype).map_err(|e| e.context(format!("column \"{name}\"")))?;
    if name.is_empty() {
        return Err(Error::invalid("a column name cannot be empty"));
    }
    let spec = if parsed.is_var_size() {
        options.data_spec(name)?
    } else {
        options.spec_for(name, parsed.elem_size() as u64)?
    };
    let idx_spec = options.spec_for(name, meta::IDX_ELEM_SIZE)?;
    tx::write_tx(c, |c| {
        if find_column(c, label, name)?.is_some() || meta::by_name(c, name)?.is_some() {
            return Err(Error::invalid(format!(
                "column \"{name}\" already exists in {label}"
            )));
        }
        let storage = if parsed.is_var_size() {
            let (dn, xn) = (format!("{name}_data"), format!("{name}_idx"));
            if meta::by_name(c, &dn)?.is_some() || meta::by_name(c, &xn)?.is_some() {
                return Err(Error::invalid(format!(
                    "column \"{name}\": {dn} or {xn} already exists in {label}"
                )));
            }
            Storage::Var(varsize::VarRows {
                name: name.to_string(),
                data: meta::insert(c, &dn, dtype, spec)?,
                idx: meta::insert(c, &xn, meta::IDX_DTYPE, idx_spec)?,
            })
        } else {
            Storage::Fixed(meta::insert(c, name, dtype, spec)?)
        };
        Ok(ColumnHandle {
            name: name.to_string(),
            dtype_str: dtype.to_string(),
            dtype: parsed.clone(),
            storage,
        })
    })
}

impl Drop for ColumnVault {
    /// Cached appends reach the file even when the vault is dropped without `close()`.
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests;
