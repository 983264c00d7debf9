//! Write-back append caches: appends to a column collect in memory and reach SQLite in one
//! transaction per flush (all columns together), when a column's buffer passes the threshold,
//! on `flush_cache`, on an interval, and on close.
//!
//! Coherence: the vault consults the cache on every call. The length counts cached elements;
//! reads of fixed-size columns take the stored part from SQLite and the rest from the buffer;
//! every other call on a column with cached appends flushes that column first.
//!
//! Here too: the vault's side of it (enabling, appending, flushing, and what its interval
//! flusher does on each tick).

use super::handle::ColumnHandle;
use super::vault::ColumnVault;
use crate::error::{ErrorKind, Result};
use crate::flusher::Flusher;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Flush a column once this many bytes are cached for it.
    pub flush_bytes: usize,
    /// Flush everything when no append happened for this long (checked by a background thread).
    pub flush_interval: Option<Duration>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            flush_bytes: 1 << 20,
            flush_interval: Some(Duration::from_millis(500)),
        }
    }
}

/// Appends not yet written for one column.
#[derive(Debug)]
pub(crate) struct Pending {
    pub handle: ColumnHandle,
    pub bytes: Vec<u8>,
    /// Exclusive element ends in `bytes` (variable-size columns only).
    pub ends: Vec<usize>,
    /// Elements cached.
    pub count: u64,
}

#[derive(Debug)]
pub(crate) struct CacheState {
    pub options: CacheOptions,
    pub cols: HashMap<String, Pending>,
    pub last_append: Instant,
}

impl CacheState {
    pub fn new(options: CacheOptions) -> Self {
        CacheState {
            options,
            cols: HashMap::new(),
            last_append: Instant::now(),
        }
    }

    pub fn pending_count(&self, name: &str) -> u64 {
        self.cols.get(name).map_or(0, |p| p.count)
    }

    /// Add appends; returns true when the column passed the flush threshold.
    pub fn push(&mut self, col: &ColumnHandle, bytes: &[u8], ends: &[usize], count: u64) -> bool {
        self.last_append = Instant::now();
        // Look up before inserting: single appends come here one by one, and `entry` would
        // allocate a copy of the name on every call.
        let p = match self.cols.get_mut(&col.name) {
            Some(p) => p,
            None => self
                .cols
                .entry(col.name.clone())
                .or_insert_with(|| Pending {
                    handle: col.clone(),
                    bytes: Vec::new(),
                    ends: Vec::new(),
                    count: 0,
                }),
        };
        let base = p.bytes.len();
        p.bytes.extend_from_slice(bytes);
        p.ends.extend(ends.iter().map(|e| e + base));
        p.count += count;
        p.bytes.len() >= self.options.flush_bytes
    }
}

pub(super) fn lock_cache(c: &Mutex<Option<CacheState>>) -> MutexGuard<'_, Option<CacheState>> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

impl ColumnVault {
    /// Turn on write-back caching of appends for every column of this vault.
    /// With a flush interval, the vault's flusher (flusher.rs) writes the cache once no
    /// append has come for that long.
    pub fn enable_cache(self: &Arc<Self>, options: CacheOptions) -> Result<()> {
        self.with_conn(|_| Ok(()))?;
        {
            let mut c = lock_cache(&self.cache);
            match c.as_mut() {
                Some(s) => s.options = options,
                None => *c = Some(CacheState::new(options)),
            }
        }
        self.stop_flusher();
        if let Some(every) = options.flush_interval {
            let weak = Arc::downgrade(self);
            // Checked a few times per interval, so a flush comes at most a quarter late.
            let tick = (every / 4).clamp(Duration::from_millis(1), Duration::from_millis(100));
            let flusher = Flusher::start(tick, move || {
                let Some(v) = weak.upgrade() else {
                    return false;
                };
                let idle = lock_cache(&v.cache)
                    .as_ref()
                    .is_some_and(|s| !s.cols.is_empty() && s.last_append.elapsed() >= every);
                if idle {
                    // A failed background flush keeps the data cached; the next explicit
                    // flush or close reports the error.
                    let _ = v.flush_cache();
                }
                true
            });
            *self.flusher.lock().unwrap_or_else(|p| p.into_inner()) = Some(flusher);
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

    pub(super) fn stop_flusher(&self) {
        let f = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(f) = f {
            f.stop();
        }
    }

    pub fn cache_enabled(&self) -> bool {
        lock_cache(&self.cache).is_some()
    }

    /// Append packed elements (`ends` cut variable-size ones and are ignored for fixed-size
    /// ones) through the cache when it is on, else straight to SQLite in one transaction.
    ///
    /// Once the cache holds an append, the append has succeeded: a flush it triggers that
    /// finds the file busy keeps everything cached for the next flush, whose caller sees the
    /// error. Failing the append instead would make a caller that retries busy calls cache
    /// the same elements twice.
    pub fn append(&self, col: &ColumnHandle, bytes: &[u8], ends: &[usize]) -> Result<()> {
        let mut cache = lock_cache(&self.cache);
        let Some(state) = cache.as_mut() else {
            drop(cache);
            self.write(|w| w.append(col, bytes, ends))?;
            return Ok(());
        };
        self.check_open()?;
        // Checked now, so a bad batch fails at its own call and not at a later flush.
        let count = col.count(bytes, ends)?;
        let ends = if col.is_var_size() { ends } else { &[] };
        if state.push(col, bytes, ends, count) {
            match self.flush_locked(state) {
                Err(e) if e.kind == ErrorKind::Busy => {}
                r => r?,
            }
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

    fn flush_locked(&self, state: &mut CacheState) -> Result<()> {
        if state.cols.is_empty() {
            return Ok(());
        }
        let cols = std::mem::take(&mut state.cols);
        let r = self.write(|w| {
            for p in cols.values() {
                w.append(&p.handle, &p.bytes, &p.ends)?;
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
    pub(super) fn settle(&self) -> Result<()> {
        let mut cache = lock_cache(&self.cache);
        match cache.as_mut() {
            Some(state) if !state.cols.is_empty() => self.flush_locked(state),
            _ => Ok(()),
        }
    }
}
