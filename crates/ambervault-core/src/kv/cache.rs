//! The write-back cache: pending puts and deletes (tombstones) in key order, with the byte
//! accounting that drives the capacity and threshold flushes. The store owns the flushing so a
//! flush is one transaction and the cache is emptied only after that transaction commits.

use std::collections::BTreeMap;
use std::ops::Range;

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

/// Pending writes. Stored bytes live back to back in one arena, so a cached put copies its
/// bytes once and allocates nothing but the map entry; an overwrite appends and leaves the old
/// bytes in place until the next `clear` (the flush), which keeps recording O(1).
#[derive(Debug)]
pub struct WriteCache {
    pub opts: CacheOptions,
    /// Where each key's stored bytes sit in `arena`; `None` is a tombstone.
    entries: BTreeMap<Vec<u8>, Option<Range<usize>>>,
    arena: Vec<u8>,
    /// Keys plus `ENTRY_OVERHEAD` per entry.
    key_bytes: usize,
}

impl WriteCache {
    pub fn new(opts: CacheOptions) -> Self {
        WriteCache {
            opts,
            entries: BTreeMap::new(),
            // A flush empties the arena at the threshold, so this is all it normally needs.
            arena: Vec::with_capacity(opts.flush_threshold.min(opts.cap_bytes)),
            key_bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held: every key, and every stored value recorded since the last clear, overwritten
    /// ones included (they stay in the arena until then).
    pub fn bytes(&self) -> usize {
        self.key_bytes + self.arena.len()
    }

    pub fn lookup(&self, key: &[u8]) -> Cached<'_> {
        match self.entries.get(key) {
            Some(Some(r)) => Cached::Put(&self.arena[r.clone()]),
            Some(None) => Cached::Deleted,
            None => Cached::Unknown,
        }
    }

    /// Would an entry of this size fit without crossing the capacity?
    pub fn fits(&self, key: &[u8], stored_len: usize) -> bool {
        self.bytes() + key.len() + stored_len + ENTRY_OVERHEAD <= self.opts.cap_bytes
    }

    /// Can an entry of this size ever be cached (even in an empty cache)?
    pub fn accepts(&self, key: &[u8], stored_len: usize) -> bool {
        key.len() + stored_len + ENTRY_OVERHEAD <= self.opts.cap_bytes
    }

    pub fn over_threshold(&self) -> bool {
        self.bytes() >= self.opts.flush_threshold
    }

    /// Record a put whose stored bytes are `parts` joined (header and payload, written
    /// straight into the arena).
    pub fn record_put(&mut self, key: &[u8], parts: &[&[u8]]) {
        let start = self.arena.len();
        for p in parts {
            self.arena.extend_from_slice(p);
        }
        self.set(key, Some(start..self.arena.len()));
    }

    pub fn record_delete(&mut self, key: &[u8]) {
        self.set(key, None);
    }

    fn set(&mut self, key: &[u8], at: Option<Range<usize>>) {
        if let Some(slot) = self.entries.get_mut(key) {
            *slot = at;
        } else {
            self.entries.insert(key.to_vec(), at);
            self.key_bytes += key.len() + ENTRY_OVERHEAD;
        }
    }

    /// Forget a key (its pending write has been superseded on disk).
    pub fn forget(&mut self, key: &[u8]) {
        if self.entries.remove(key).is_some() {
            self.key_bytes -= key.len() + ENTRY_OVERHEAD;
        }
    }

    /// Pending entries in key order: the stored bytes of a put, `None` for a delete.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.entries
            .iter()
            .map(|(k, r)| (k.as_slice(), r.clone().map(|r| &self.arena[r])))
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
        self.key_bytes = 0;
        // One burst of overwrites can grow the arena far past the usual flush size; do not
        // keep that memory for good.
        let keep = self.opts.flush_threshold.min(self.opts.cap_bytes);
        if self.arena.capacity() > 2 * keep {
            self.arena.shrink_to(keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_counts_held_bytes_until_cleared() {
        let mut c = WriteCache::new(CacheOptions {
            cap_bytes: 1000,
            flush_threshold: 500,
        });
        c.record_put(b"a", &[&[7; 10], &[1; 90]]);
        assert_eq!(c.bytes(), 1 + 100 + ENTRY_OVERHEAD);
        let mut want = vec![7; 10];
        want.extend([1; 90]);
        assert_eq!(c.lookup(b"a"), Cached::Put(&want));
        // Overwritten bytes stay held (and counted) until the flush clears the arena.
        c.record_put(b"a", &[&[2; 50]]);
        assert_eq!(c.bytes(), 1 + 150 + ENTRY_OVERHEAD);
        assert_eq!(c.lookup(b"a"), Cached::Put(&[2; 50]));
        c.record_delete(b"a");
        assert_eq!(c.bytes(), 1 + 150 + ENTRY_OVERHEAD);
        assert_eq!(c.lookup(b"a"), Cached::Deleted);
        assert_eq!(c.lookup(b"b"), Cached::Unknown);
        c.record_put(b"b", &[&[1; 400]]);
        assert!(c.over_threshold());
        assert!(!c.fits(b"c", 400));
        assert!(c.accepts(b"c", 400));
        let seen: Vec<_> = c
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::len)))
            .collect();
        assert_eq!(seen, [(b"a".to_vec(), None), (b"b".to_vec(), Some(400))]);
        c.forget(b"b");
        assert_eq!(c.bytes(), 1 + 550 + ENTRY_OVERHEAD);
        c.clear();
        assert_eq!(c.bytes(), 0);
        assert!(c.is_empty());
    }

    #[test]
    fn clear_gives_back_an_arena_grown_far_past_the_threshold() {
        let mut c = WriteCache::new(CacheOptions {
            cap_bytes: 1 << 20,
            flush_threshold: 1000,
        });
        c.record_put(b"k", &[&vec![0; 100_000]]);
        c.clear();
        assert!(c.arena.capacity() <= 2 * 1000);
    }
}
