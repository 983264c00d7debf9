//! Write-back append caches: appends to a column collect in memory and reach SQLite in one
//! transaction per flush (all columns together), when a column's buffer passes the threshold,
//! on `flush_cache`, on an interval, and on close.
//!
//! Coherence: the vault consults the cache on every call. The length counts cached elements;
//! reads of fixed-size columns take the stored part from SQLite and the rest from the buffer;
//! every other call on a column with cached appends flushes that column first.

use super::ColumnHandle;
use std::collections::HashMap;
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
pub struct Pending {
    pub handle: ColumnHandle,
    pub bytes: Vec<u8>,
    /// Exclusive element ends in `bytes` (variable-size columns only).
    pub ends: Vec<usize>,
    /// Elements cached.
    pub count: u64,
}

#[derive(Debug)]
pub struct CacheState {
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
