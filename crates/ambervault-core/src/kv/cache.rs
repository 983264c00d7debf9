//! The write-back cache: pending puts and deletes (tombstones) in key order, with the byte
//! accounting that drives the capacity and threshold flushes. The store owns the flushing so a
//! flush is one transaction and the cache is emptied only after that transaction commits.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheOptions {
    /// Never hold more than this many bytes: a put that would cross it flushes first, and a
    /// single value larger than it bypasses the cache.
    pub cap_bytes: usize,
    /// Flush as soon as the cache holds at least this many bytes.
    pub flush_threshold: usize,
}

impl Default for CacheOptions {
    /// The defaults of the Python library: 64 MiB capacity, flush at 16 MiB.
    fn default() -> Self {
        CacheOptions {
            cap_bytes: 64 << 20,
            flush_threshold: 16 << 20,
        }
    }
}

/// What the cache knows about a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached<'a> {
    /// A pending put of these stored (framed) bytes.
    Put(&'a [u8]),
    /// A pending delete.
    Deleted,
    /// Nothing pending: ask the table.
    Unknown,
}

/// Per-entry bookkeeping cost, so a flood of tiny keys still triggers flushes.
const ENTRY_OVERHEAD: usize = 32;

#[derive(Debug)]
pub struct WriteCache {
    pub opts: CacheOptions,
    /// `None` is a tombstone.
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

fn cost(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD
}

impl WriteCache {
    pub fn new(opts: CacheOptions) -> Self {
        WriteCache {
            opts,
            entries: BTreeMap::new(),
            bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn lookup(&self, key: &[u8]) -> Cached<'_> {
        match self.entries.get(key) {
            Some(Some(v)) => Cached::Put(v),
            Some(None) => Cached::Deleted,
            None => Cached::Unknown,
        }
    }

    /// Would an entry of this size fit without crossing the capacity?
    pub fn fits(&self, key: &[u8], stored_len: usize) -> bool {
        self.bytes + key.len() + stored_len + ENTRY_OVERHEAD <= self.opts.cap_bytes
    }

    /// Can an entry of this size ever be cached (even in an empty cache)?
    pub fn accepts(&self, key: &[u8], stored_len: usize) -> bool {
        key.len() + stored_len + ENTRY_OVERHEAD <= self.opts.cap_bytes
    }

    pub fn over_threshold(&self) -> bool {
        self.bytes >= self.opts.flush_threshold
    }

    /// Record a put (`Some`) or a tombstone (`None`).
    pub fn record(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        let add = cost(key, &value);
        if let Some(slot) = self.entries.get_mut(key) {
            self.bytes -= cost(key, slot);
            *slot = value;
        } else {
            self.entries.insert(key.to_vec(), value);
        }
        self.bytes += add;
    }

    /// Forget a key (its pending write has been superseded on disk).
    pub fn forget(&mut self, key: &[u8]) {
        if let Some(v) = self.entries.remove(key) {
            self.bytes -= cost(key, &v);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Option<Vec<u8>>)> {
        self.entries.iter()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_follows_overwrites_and_tombstones() {
        let mut c = WriteCache::new(CacheOptions {
            cap_bytes: 1000,
            flush_threshold: 500,
        });
        c.record(b"a", Some(vec![0; 100]));
        assert_eq!(c.bytes(), 1 + 100 + ENTRY_OVERHEAD);
        c.record(b"a", None);
        assert_eq!(c.bytes(), 1 + ENTRY_OVERHEAD);
        assert_eq!(c.lookup(b"a"), Cached::Deleted);
        assert_eq!(c.lookup(b"b"), Cached::Unknown);
        c.record(b"b", Some(vec![1; 600]));
        assert!(c.over_threshold());
        assert!(!c.fits(b"c", 400));
        assert!(c.accepts(b"c", 400));
        c.forget(b"b");
        c.forget(b"a");
        assert_eq!(c.bytes(), 0);
        assert!(c.is_empty());
    }
}
