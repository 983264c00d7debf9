//! `KvStore`: one KV table in one SQLite file, with the optional write-back cache.
//!
//! Every write stores `header::head` + payload (header.rs), so the stored bytes are always
//! what the Python library reads. With the cache on, writes land in `WriteCache` and reach the
//! table in one transaction per flush; reads of single keys consult the cache first, and
//! whole-table reads (size, scans) flush first, so the cache never shows in results, only in
//! speed.

use super::cache::{CacheOptions, Cached, WriteCache};
use super::header::{self, Encoding};
use super::point_read::{Found, PointRead};
use super::range::KeyRange;
use super::snapshot::ReadSnapshot;
use crate::checkpointer::Checkpointer;
use crate::conn::{self, Durability, OpenOptions};
use crate::error::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to open a `KvStore`.
#[derive(Debug, Clone)]
pub struct KvOptions {
    /// Table name (default `kv`): letters, digits and `_`, not starting with a digit.
    pub table: String,
    pub readonly: bool,
    pub durability: Durability,
    /// SQLite busy timeout; `None` means the 5 s of the format.
    pub busy_timeout: Option<Duration>,
    /// Start with the write-back cache on.
    pub cache: Option<CacheOptions>,
    /// Page size of a new file (see [`OpenOptions::page_size`]); `None` is the format's 32 KiB.
    pub page_size: Option<u32>,
    /// SQLite page cache of this connection in KiB (default 64 MiB; SQLite's own default of
    /// 2 MiB holds only 64 of our 32 KiB pages, so point reads would go to the OS every time).
    pub page_cache_kib: u32,
    /// Bytes of the file SQLite may memory-map for reads (0 turns it off). The default is
    /// SQLite's own ceiling (just under 2 GiB): pages past the mapped part are read with a
    /// `pread` each once they fall out of the page cache, and system calls are what point
    /// reads on a virtual machine pay most for. It costs address space only.
    pub mmap_bytes: u64,
    /// Checkpoint the WAL on a thread of the store's own instead of inside the commits that
    /// fill it (checkpointer.rs). Ignored when readonly.
    pub background_checkpoint: bool,
}

/// SQLITE_MAX_MMAP_SIZE of the bundled build on 64-bit Linux, macOS and Windows; SQLite
/// silently caps larger requests at it.
const MMAP_CEILING: u64 = 0x7fff_0000;

/// Connection tuning of the short-lived connections that stream large values: a small page
/// cache and no mmap, so streaming gigabytes keeps memory flat.
const STREAM_PAGE_CACHE_KIB: u32 = 2048;

impl Default for KvOptions {
    fn default() -> Self {
        KvOptions {
            table: "kv".into(),
            readonly: false,
            durability: Durability::Normal,
            busy_timeout: None,
            cache: None,
            page_size: None,
            page_cache_kib: 64 * 1024,
            mmap_bytes: MMAP_CEILING,
            background_checkpoint: true,
        }
    }
}

/// A decoded stored value: its encoding and payload (header removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub encoding: Encoding,
    pub payload: Vec<u8>,
}

/// A readable rendering of a key for error messages: the string when it is printable UTF-8,
/// hex otherwise (cut short for long keys).
pub fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) if !s.chars().any(char::is_control) && s.len() <= 200 => format!("{s:?}"),
        _ => {
            let hex: String = key.iter().take(64).map(|b| format!("{b:02x}")).collect();
            let more = if key.len() > 64 { "…" } else { "" };
            format!("0x{hex}{more}")
        }
    }
}

pub(crate) fn validate_table(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "table name {name:?} is not a valid SQL identifier (letters, digits, _)"
        )))
    }
}

/// SQL text for one table, built once.
#[derive(Debug)]
struct Sql {
    get: String,
    has: String,
    upsert: String,
    /// `upsert` of `UPSERT_ROWS` rows at once.
    upsert_rows: String,
    delete: String,
    count: String,
    clear: String,
    rowid: String,
    put_zeroblob: String,
}

impl Sql {
    fn new(t: &str) -> Self {
        let q = format!("\"{t}\"");
        Sql {
            get: format!("SELECT value FROM {q} WHERE key = ?1"),
            has: format!("SELECT 1 FROM {q} WHERE key = ?1"),
            upsert: format!(
                "INSERT INTO {q}(key, value) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            ),
            upsert_rows: format!(
                "INSERT INTO {q}(key, value) VALUES {} \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                vec!["(?, ?)"; UPSERT_ROWS].join(", ")
            ),
            delete: format!("DELETE FROM {q} WHERE key = ?1"),
            count: format!("SELECT COUNT(*) FROM {q}"),
            clear: format!("DELETE FROM {q}"),
            rowid: format!("SELECT rowid, length(value) FROM {q} WHERE key = ?1"),
            put_zeroblob: format!(
                "INSERT INTO {q}(key, value) VALUES (?1, zeroblob(?2)) \
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            ),
        }
    }
}

/// One KV table in one SQLite file. Not `Sync`: share it behind a `Mutex`, or open one store
/// per thread (SQLite's busy timeout and WAL handle several connections on one file).
#[derive(Debug)]
pub struct KvStore {
    /// Declared before `conn` so they are finalized before the connection closes.
    point_read: PointRead,
    /// `SELECT 1 …`: an existence check reads no value (a big one's overflow pages stay unread).
    point_has: PointRead,
    /// Declared before `conn` so its hook is removed and its thread joined before the
    /// connection closes (the last connection to close does the final checkpoint).
    checkpointer: Option<Checkpointer>,
    pub(crate) conn: Connection,
    path: PathBuf,
    table: String,
    sql: Sql,
    open: OpenOptions,
    cache: Option<WriteCache>,
    /// The read transaction point reads keep open between calls (snapshot.rs).
    snapshot: ReadSnapshot,
}

impl KvStore {
    /// Open (creating file and table unless readonly) the KV table `opts.table` of `path`.
    pub fn open(path: impl AsRef<Path>, opts: KvOptions) -> Result<KvStore> {
        let path = path.as_ref().to_path_buf();
        validate_table(&opts.table)?;
        let open = OpenOptions {
            readonly: opts.readonly,
            durability: opts.durability,
            busy_timeout: opts.busy_timeout,
            page_size: opts.page_size,
        };
        let conn = conn::open(&path, &open)?;
        conn.pragma_update(None, "cache_size", -i64::from(opts.page_cache_kib))
            .and_then(|_| conn.pragma_update(None, "mmap_size", opts.mmap_bytes as i64))
            .map_err(|e| Error::from(e).context(path.display()))?;
        let snapshot =
            ReadSnapshot::new(&conn).map_err(|e| Error::from(e).context(path.display()))?;
        ensure_schema(&conn, &path, &opts.table, open.readonly)?;
        let sql = Sql::new(&opts.table);
        let point_read = PointRead::prepare(&conn, &sql.get)
            .map_err(|e| Error::from(e).context(path.display()))?;
        let point_has = PointRead::prepare(&conn, &sql.has)
            .map_err(|e| Error::from(e).context(path.display()))?;
        let checkpointer = (opts.background_checkpoint && !open.readonly)
            .then(|| Checkpointer::attach(&conn, &path));
        Ok(KvStore {
            point_read,
            point_has,
            checkpointer,
            conn,
            snapshot,
            sql,
            table: opts.table,
            path,
            open,
            cache: opts.cache.map(WriteCache::new),
        })
    }

    /// A second connection to the same table, without a cache: long stream work runs on it so
    /// the main connection stays free for reads.
    pub fn sibling(&self) -> Result<KvStore> {
        KvStore::open(
            &self.path,
            KvOptions {
                table: self.table.clone(),
                readonly: self.open.readonly,
                durability: self.open.durability,
                busy_timeout: self.open.busy_timeout,
                cache: None,
                page_size: self.open.page_size,
                page_cache_kib: STREAM_PAGE_CACHE_KIB,
                mmap_bytes: 0,
                // Short-lived: SQLite's own checkpoints, no thread to start and join.
                background_checkpoint: false,
            },
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn readonly(&self) -> bool {
        self.open.readonly
    }

    /// Errors from SQLite get the file path in front.
    fn ctx(&self, e: impl Into<Error>) -> Error {
        e.into().context(self.path.display())
    }

    fn writable(&self, what: &str, key: Option<&[u8]>) -> Result<()> {
        if !self.open.readonly {
            return Ok(());
        }
        let k = key
            .map(|k| format!(" key {}", show_key(k)))
            .unwrap_or_default();
        Err(Error::io(format!(
            "{}: opened readonly, cannot {what}{k}",
            self.path.display()
        )))
    }

    // ---- writes -------------------------------------------------------------------------

    /// Store raw bytes (bare, or with a raw header when they begin with 0x89 0x4B).
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.put_encoded(key, Encoding::Raw, value)
    }

    /// Store an already-encoded payload under `encoding` (the header is added here).
    pub fn put_encoded(&mut self, key: &[u8], encoding: Encoding, payload: &[u8]) -> Result<()> {
        self.writable("put", Some(key))?;
        let head = header::head(encoding, payload);
        let stored_len = head.len() + payload.len();
        let Some(cache) = self.cache.as_ref() else {
            return self.write_framed(key, head, payload);
        };
        if !cache.accepts(key, stored_len) {
            // Too big to ever cache: write through, then drop any older pending entry.
            self.write_framed(key, head, payload)?;
            self.forget_cached(key);
            return Ok(());
        }
        if !cache.fits(key, stored_len) {
            self.flush_cache()?;
        }
        let cache = self.cache.as_mut().expect("cache checked above");
        cache.record_put(key, &[head, payload]);
        if cache.over_threshold() {
            self.flush_cache()?;
        }
        Ok(())
    }

    /// Write `head + payload` now; bare raw bytes are bound as they are, without a copy.
    fn write_framed(&self, key: &[u8], head: &[u8], payload: &[u8]) -> Result<()> {
        if head.is_empty() {
            return self.write_direct(key, Some(payload));
        }
        let mut stored = Vec::with_capacity(head.len() + payload.len());
        stored.extend_from_slice(head);
        stored.extend_from_slice(payload);
        self.write_direct(key, Some(&stored))
    }

    fn write_direct(&self, key: &[u8], stored: Option<&[u8]>) -> Result<()> {
        self.end_read()?;
        let r = match stored {
            Some(v) => self
                .conn
                .prepare_cached(&self.sql.upsert)
                .and_then(|mut s| s.execute(params![key, v])),
            None => self
                .conn
                .prepare_cached(&self.sql.delete)
                .and_then(|mut s| s.execute(params![key])),
        };
        r.map(|_| ())
            .map_err(|e| self.ctx(e).context(format!("key {}", show_key(key))))
    }

    /// Write many payloads in one transaction: all of them or none. Pending cached writes go
    /// into the same transaction (they are older, so they are written first).
    pub fn put_many<'a, I>(&mut self, entries: I) -> Result<usize>
    where
        I: IntoIterator<Item = (&'a [u8], Encoding, &'a [u8])>,
    {
        self.writable("putMany", None)?;
        self.end_read()?;
        let path = self.path.display().to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::from(e).context(&path))?;
        if let Some(cache) = &self.cache {
            write_cache(&tx, &self.sql, cache).map_err(|e| e.context(&path))?;
        }
        let mut rows = RowWriter::new(&tx, &self.sql).map_err(|e| e.context(&path))?;
        for (key, enc, payload) in entries {
            rows.upsert(key, header::head(enc, payload), payload)
                .map_err(|e| e.context(&path))?;
        }
        let n = rows.finish().map_err(|e| e.context(&path))?;
        tx.commit().map_err(|e| Error::from(e).context(&path))?;
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
        Ok(n)
    }

    /// Delete a key; true when it existed.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool> {
        self.writable("delete", Some(key))?;
        if self.cache.is_none() {
            self.end_read()?;
            let n = self
                .conn
                .prepare_cached(&self.sql.delete)
                .and_then(|mut s| s.execute(params![key]))
                .map_err(|e| self.ctx(e).context(format!("key {}", show_key(key))))?;
            return Ok(n > 0);
        }
        let existed = self.has(key)?;
        if existed {
            let cache = self.cache.as_mut().expect("cache checked above");
            cache.record_delete(key);
            if cache.over_threshold() || cache.bytes() > cache.opts.cap_bytes {
                self.flush_cache()?;
            }
        }
        Ok(existed)
    }

    /// Remove every key of the table (pending cached writes included).
    pub fn clear(&mut self) -> Result<()> {
        self.writable("clear", None)?;
        self.end_read()?;
        self.conn
            .execute(&self.sql.clear, [])
            .map_err(|e| self.ctx(e))?;
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
        Ok(())
    }

    // ---- reads --------------------------------------------------------------------------

    /// Look a key up and hand its encoding and payload to `f` without copying them first.
    ///
    /// The read transaction stays open afterwards, so the next point read skips beginning
    /// one; it is refreshed as soon as anyone commits to the file (every read sees every
    /// commit made before it), and ended by any other operation or by `release_read`, which
    /// callers should invoke when they go idle (snapshot.rs says why).
    pub fn get_with<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Encoding, &[u8]) -> R,
    ) -> Result<Option<R>> {
        if self
            .cache
            .as_ref()
            .is_none_or(|c| c.lookup(key) == Cached::Unknown)
        {
            self.refresh_read()?;
        }
        self.read_one(key, f)
    }

    /// Begin or keep the read snapshot (see `get_with`).
    fn refresh_read(&self) -> Result<bool> {
        self.snapshot.refresh(&self.conn).map_err(|e| self.ctx(e))
    }

    /// End the read snapshot, if one is held. Point reads keep one open between calls; call
    /// this when idle so other connections can checkpoint and restart the WAL.
    pub fn release_read(&self) -> Result<()> {
        self.end_read()
    }

    fn end_read(&self) -> Result<()> {
        self.snapshot.end(&self.conn).map_err(|e| self.ctx(e))
    }

    /// Checkpoints run off the writer's thread so far (tests and diagnostics).
    #[doc(hidden)]
    pub fn background_checkpoints(&self) -> usize {
        self.checkpointer.as_ref().map_or(0, Checkpointer::passes)
    }

    /// Whether a read snapshot is open (tests and diagnostics).
    #[doc(hidden)]
    pub fn holds_read(&self) -> bool {
        self.snapshot.is_held()
    }

    /// One lookup in whatever read transaction is current.
    fn read_one<R>(&self, key: &[u8], f: impl FnOnce(Encoding, &[u8]) -> R) -> Result<Option<R>> {
        let keyed = |e: Error| e.context(format!("{}: key {}", self.path.display(), show_key(key)));
        if let Some(cache) = &self.cache {
            match cache.lookup(key) {
                Cached::Put(stored) => {
                    let (enc, payload) = header::parse(stored).map_err(keyed)?;
                    return Ok(Some(f(enc, payload)));
                }
                Cached::Deleted => return Ok(None),
                Cached::Unknown => {}
            }
        }
        let found = self.point_read.lookup(key, |found| match found {
            None => Ok(None),
            Some(Found::Value(stored)) => {
                header::parse(stored).map(|(enc, payload)| Some(f(enc, payload)))
            }
            Some(Found::NotBytes(t)) => Err(Error::from(rusqlite::Error::InvalidColumnType(
                0,
                "value".into(),
                sql_type(t),
            ))),
        });
        found.map_err(|e| keyed(e.into()))?.map_err(keyed)
    }

    /// The value of a key, or `None`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>> {
        self.get_with(key, |encoding, payload| Value {
            encoding,
            payload: payload.to_vec(),
        })
    }

    /// Look up many keys in one read transaction (one snapshot), handing each result to `f`
    /// in order.
    pub fn get_many_with<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k [u8]>,
        mut f: impl FnMut(Option<(Encoding, &[u8])>),
    ) -> Result<()> {
        let held = self.refresh_read()?;
        let tx = if held || !self.conn.is_autocommit() {
            None
        } else {
            Some(self.conn.unchecked_transaction().map_err(|e| self.ctx(e))?)
        };
        for key in keys {
            let found = self.read_one(key, |enc, payload| f(Some((enc, payload))))?;
            if found.is_none() {
                f(None);
            }
        }
        match tx {
            Some(tx) => tx.commit().map_err(|e| self.ctx(e)),
            None => Ok(()),
        }
    }

    pub fn has(&self, key: &[u8]) -> Result<bool> {
        if let Some(cache) = &self.cache {
            match cache.lookup(key) {
                Cached::Put(_) => return Ok(true),
                Cached::Deleted => return Ok(false),
                Cached::Unknown => {}
            }
        }
        self.refresh_read()?;
        self.point_has
            .lookup(key, |found| found.is_some())
            .map_err(|e| self.ctx(e).context(format!("key {}", show_key(key))))
    }

    /// Number of keys (flushes pending cached writes first so the count is exact).
    pub fn len(&mut self) -> Result<u64> {
        self.flush_if_dirty()?;
        self.end_read()?;
        let n: i64 = self
            .conn
            .query_row(&self.sql.count, [], |r| r.get(0))
            .map_err(|e| self.ctx(e))?;
        Ok(n as u64)
    }

    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// One page of an ordered scan: up to `limit` entries of `range` strictly after the keyset
    /// cursor `after`, each handed to `f` as `(key, Some((encoding, payload)))`, or
    /// `(key, None)` when `with_values` is false. Returns how many were visited. Pending cached
    /// writes are flushed first, so the page reflects them.
    pub fn scan(
        &mut self,
        range: &KeyRange,
        after: Option<&[u8]>,
        limit: usize,
        with_values: bool,
        mut f: impl FnMut(&[u8], Option<(Encoding, &[u8])>),
    ) -> Result<usize> {
        self.flush_if_dirty()?;
        self.end_read()?;
        let (lo, hi) = range.bounds(after);
        let mut sql = format!(
            "SELECT key{} FROM \"{}\"",
            if with_values { ", value" } else { "" },
            self.table
        );
        let mut args: Vec<&[u8]> = Vec::with_capacity(2);
        let mut conds = Vec::with_capacity(2);
        for (bound, incl, excl) in [(&lo, ">=", ">"), (&hi, "<=", "<")] {
            match bound {
                Bound::Included(k) => {
                    conds.push(incl);
                    args.push(k);
                }
                Bound::Excluded(k) => {
                    conds.push(excl);
                    args.push(k);
                }
                Bound::Unbounded => {}
            }
        }
        for (i, op) in conds.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            sql.push_str(&format!("key {op} ?{}", i + 1));
        }
        sql.push_str(if range.reverse {
            " ORDER BY key DESC"
        } else {
            " ORDER BY key ASC"
        });
        sql.push_str(&format!(" LIMIT {limit}"));
        let mut st = self.conn.prepare_cached(&sql).map_err(|e| self.ctx(e))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(args))
            .map_err(|e| self.ctx(e))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(|e| self.ctx(e))? {
            let key = blob_at(row, 0).map_err(|e| self.ctx(e))?;
            if with_values {
                let stored = blob_at(row, 1).map_err(|e| self.ctx(e))?;
                let (enc, payload) = header::parse(stored).map_err(|e| {
                    e.context(format!("{}: key {}", self.path.display(), show_key(key)))
                })?;
                f(key, Some((enc, payload)));
            } else {
                f(key, None);
            }
            n += 1;
        }
        Ok(n)
    }

    // ---- cache --------------------------------------------------------------------------

    /// Turn the write-back cache on (or change its limits, flushing first).
    pub fn enable_cache(&mut self, opts: CacheOptions) -> Result<()> {
        if opts.cap_bytes == 0 {
            return Err(Error::invalid("cache capBytes must be greater than 0"));
        }
        self.flush_if_dirty()?;
        self.cache = Some(WriteCache::new(opts));
        Ok(())
    }

    /// Flush and turn the cache off. If the flush fails the cache stays on, holding everything.
    pub fn disable_cache(&mut self) -> Result<()> {
        self.flush_cache()?;
        self.cache = None;
        Ok(())
    }

    pub fn cache_enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// Bytes and entries waiting in the cache.
    pub fn cache_pending(&self) -> (usize, usize) {
        self.cache.as_ref().map_or((0, 0), |c| (c.bytes(), c.len()))
    }

    fn flush_if_dirty(&mut self) -> Result<()> {
        if self.cache.as_ref().is_some_and(|c| !c.is_empty()) {
            self.flush_cache()?;
        }
        Ok(())
    }

    /// Write every pending entry in one transaction; the cache is emptied only after the
    /// commit, so a failed flush loses nothing. Returns the number of entries written.
    pub fn flush_cache(&mut self) -> Result<usize> {
        let Some(cache) = self.cache.as_ref() else {
            return Ok(0);
        };
        if cache.is_empty() {
            return Ok(0);
        }
        let n = cache.len();
        let path = self.path.display().to_string();
        self.end_read()?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| Error::from(e).context(format!("{path}: cache flush")))?;
        write_cache(&tx, &self.sql, cache)
            .map_err(|e| e.context(format!("{path}: cache flush")))?;
        tx.commit()
            .map_err(|e| Error::from(e).context(format!("{path}: cache flush")))?;
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
        Ok(n)
    }

    // ---- maintenance --------------------------------------------------------------------

    /// Merge the WAL into the main file (flushes the cache first).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.flush_if_dirty()?;
        self.end_read()?;
        conn::checkpoint(&self.conn).map_err(|e| self.ctx(e))
    }

    /// Flush, refresh the query planner statistics and rebuild the file compactly (VACUUM).
    pub fn optimize(&mut self) -> Result<()> {
        self.writable("optimize", None)?;
        self.flush_if_dirty()?;
        self.end_read()?;
        self.conn
            .execute_batch("PRAGMA optimize; VACUUM;")
            .map_err(|e| self.ctx(e))?;
        conn::checkpoint(&self.conn).map_err(|e| self.ctx(e))
    }

    /// Flush and close. On a failed flush the store is handed back with its cache intact.
    pub fn close(mut self) -> std::result::Result<(), Box<(KvStore, Error)>> {
        if let Err(e) = self.flush_if_dirty() {
            return Err(Box::new((self, e)));
        }
        Ok(())
    }

    // ---- streaming (see stream.rs) ------------------------------------------------------

    pub(crate) fn sql_rowid(&self) -> &str {
        &self.sql.rowid
    }

    pub(crate) fn sql_put_zeroblob(&self) -> &str {
        &self.sql.put_zeroblob
    }

    pub(crate) fn check_writable(&self, what: &str, key: &[u8]) -> Result<()> {
        self.writable(what, Some(key))
    }

    pub(crate) fn end_read_for_stream(&self) -> Result<()> {
        self.end_read()
    }

    pub(crate) fn forget_cached(&mut self, key: &[u8]) {
        if let Some(c) = self.cache.as_mut() {
            c.forget(key);
        }
    }
}

/// Create the meta and KV tables unless readonly (then the KV table must exist).
fn ensure_schema(conn: &Connection, path: &Path, table: &str, readonly: bool) -> Result<()> {
    let ctx = |e: Error| e.context(path.display());
    if readonly {
        let found: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| ctx(e.into()))?;
        if found.is_none() {
            return Err(Error::not_found(format!(
                "{}: no KV table {:?} (opened readonly, so it is not created)",
                path.display(),
                table
            )));
        }
        return Ok(());
    }
    // Same statements as the Python library, so either side may create the file.
    conn
        .execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS kohakuvault_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS \"{}\" (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL);",
            table
        ))
        .map_err(|e| ctx(e.into()))
}

/// rusqlite's name of a SQLite type code (for the error of a non-bytes value).
fn sql_type(code: std::os::raw::c_int) -> rusqlite::types::Type {
    use rusqlite::types::Type;
    match code {
        rusqlite::ffi::SQLITE_INTEGER => Type::Integer,
        rusqlite::ffi::SQLITE_FLOAT => Type::Real,
        rusqlite::ffi::SQLITE_TEXT => Type::Text,
        rusqlite::ffi::SQLITE_BLOB => Type::Blob,
        _ => Type::Null,
    }
}

/// Bytes of a column; TEXT is taken as its UTF-8 bytes (other tools may have written TEXT).
fn blob_at<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r [u8]> {
    use rusqlite::types::ValueRef;
    match row.get_ref(i)? {
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b),
        ValueRef::Null => Ok(&[]),
        other => Err(rusqlite::Error::InvalidColumnType(
            i,
            "value".into(),
            other.data_type(),
        )),
    }
}

/// Write every pending cache entry: puts through `RowWriter`, deletes one by one.
fn write_cache(conn: &Connection, sql: &Sql, cache: &WriteCache) -> Result<()> {
    let mut rows = RowWriter::new(conn, sql)?;
    let mut del = conn.prepare_cached(&sql.delete)?;
    for (key, stored) in cache.iter() {
        match stored {
            Some(v) => rows.upsert(key, &[], v)?,
            None => {
                del.execute(params![key])
                    .map_err(|e| Error::from(e).context(format!("key {}", show_key(key))))?;
            }
        }
    }
    rows.finish()?;
    Ok(())
}

/// Rows per statement of a batched upsert. One statement run costs a reset, a VDBE start and
/// the upsert's setup whatever its row count, so batches write their rows in groups.
const UPSERT_ROWS: usize = 64;

/// Upserts rows in groups of `UPSERT_ROWS` per statement, the tail one per statement. A row is
/// `head + payload`; bindings copy (SQLITE_TRANSIENT), so one scratch buffer frames them all.
struct RowWriter<'c, 'a> {
    rows: rusqlite::CachedStatement<'c>,
    one: rusqlite::CachedStatement<'c>,
    /// Rows waiting for a full group.
    group: Vec<(&'a [u8], &'static [u8], &'a [u8])>,
    written: usize,
    scratch: Vec<u8>,
}

impl<'c, 'a> RowWriter<'c, 'a> {
    fn new(conn: &'c Connection, sql: &Sql) -> Result<Self> {
        Ok(RowWriter {
            rows: conn.prepare_cached(&sql.upsert_rows)?,
            one: conn.prepare_cached(&sql.upsert)?,
            group: Vec::with_capacity(UPSERT_ROWS),
            written: 0,
            scratch: Vec::new(),
        })
    }

    fn upsert(&mut self, key: &'a [u8], head: &'static [u8], payload: &'a [u8]) -> Result<()> {
        self.group.push((key, head, payload));
        if self.group.len() < UPSERT_ROWS {
            return Ok(());
        }
        for (i, &(key, head, payload)) in self.group.iter().enumerate() {
            let stored = frame_into(&mut self.scratch, head, payload);
            self.rows.raw_bind_parameter(2 * i + 1, key)?;
            self.rows.raw_bind_parameter(2 * i + 2, stored)?;
        }
        self.rows.raw_execute().map_err(|e| {
            let first = show_key(self.group[0].0);
            Error::from(e).context(format!("{UPSERT_ROWS} keys from {first}"))
        })?;
        self.written += UPSERT_ROWS;
        self.group.clear();
        Ok(())
    }

    /// Write the rows of the last, partial group; returns how many rows were written in all.
    fn finish(mut self) -> Result<usize> {
        for &(key, head, payload) in &self.group {
            let stored = frame_into(&mut self.scratch, head, payload);
            self.one
                .execute(params![key, stored])
                .map_err(|e| Error::from(e).context(format!("key {}", show_key(key))))?;
        }
        Ok(self.written + self.group.len())
    }
}

/// `head + payload` as one slice: the payload itself when there is no head.
fn frame_into<'s>(scratch: &'s mut Vec<u8>, head: &[u8], payload: &'s [u8]) -> &'s [u8] {
    if head.is_empty() {
        return payload;
    }
    scratch.clear();
    scratch.extend_from_slice(head);
    scratch.extend_from_slice(payload);
    scratch
}
