//! `KvVault`: a [`KvStore`] shared by threads with the lifecycle every ambervault store has
//! (the same as `ColumnVault`'s): open, usable, then closed, after which every call fails with
//! `Closed`; a close that cannot flush leaves it open with its cache. It also owns the store's
//! interval flusher (flusher.rs), so a binding holds one of these and converts arguments only.

use super::cache::CacheOptions;
use super::store::{KvOptions, KvStore};
use crate::error::{Error, Result};
use crate::flusher::Flusher;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug)]
pub struct KvVault {
    label: String,
    store: Mutex<Option<KvStore>>,
    flusher: Mutex<Option<Flusher>>,
}

/// A panic while a lock was held cannot leave SQLite half-way (every mutation is a
/// transaction), so a poisoned lock is still safe to use.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KvVault {
    pub fn open(path: impl AsRef<Path>, opts: KvOptions) -> Result<Arc<KvVault>> {
        let store = KvStore::open(path.as_ref(), opts)?;
        Ok(Arc::new(KvVault {
            label: path.as_ref().display().to_string(),
            store: Mutex::new(Some(store)),
            flusher: Mutex::new(None),
        }))
    }

    fn closed_error(&self) -> Error {
        Error::closed(format!("KVault {} is closed", self.label))
    }

    /// Run `f` on the store; `Closed` after `close()`.
    pub fn with<R>(&self, f: impl FnOnce(&mut KvStore) -> Result<R>) -> Result<R> {
        match lock(&self.store).as_mut() {
            Some(s) => f(s),
            None => Err(self.closed_error()),
        }
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.store).is_none()
    }

    /// Turn the write-back cache on (or change its options). With `flush_every`, the flusher
    /// writes pending entries that often; without, only thresholds, `flush_cache` and close do.
    pub fn enable_cache(
        self: &Arc<Self>,
        opts: CacheOptions,
        flush_every: Option<Duration>,
    ) -> Result<()> {
        self.with(|s| s.enable_cache(opts))?;
        let mut f = lock(&self.flusher);
        if let Some(old) = f.take() {
            old.stop();
        }
        if let Some(every) = flush_every.filter(|d| !d.is_zero()) {
            let weak = Arc::downgrade(self);
            *f = Some(Flusher::start(every, move || {
                let Some(v) = weak.upgrade() else {
                    return false;
                };
                // A failed flush (the file busy now) keeps the entries cached: the next tick,
                // an explicit flush or close writes them, and reports an error that persists.
                let _ = v.with(|s| s.flush_cache());
                true
            }));
        }
        Ok(())
    }

    /// Flush, then stop caching.
    pub fn disable_cache(&self) -> Result<()> {
        self.stop_flusher();
        self.with(|s| s.disable_cache())
    }

    fn stop_flusher(&self) {
        let f = lock(&self.flusher).take();
        if let Some(f) = f {
            f.stop();
        }
    }

    /// Flush and close; closing twice is a no-op. A failed flush keeps the store open (and its
    /// cache) and returns the error.
    pub fn close(&self) -> Result<()> {
        self.stop_flusher();
        let mut guard = lock(&self.store);
        if let Some(store) = guard.take() {
            if let Err(failed) = store.close() {
                let (store, e) = *failed;
                *guard = Some(store);
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for KvVault {
    /// Cached entries reach the file even when the vault is dropped without `close()`.
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::Encoding;
    use crate::ErrorKind;

    #[test]
    fn closed_is_an_error_and_close_twice_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let v = KvVault::open(dir.path().join("a.db"), KvOptions::default()).unwrap();
        v.with(|s| s.put_encoded(b"k", Encoding::Raw, b"v"))
            .unwrap();
        v.close().unwrap();
        v.close().unwrap();
        assert!(v.is_closed());
        let e = v.with(|s| s.get(b"k")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Closed);
        assert!(e.message.contains("is closed"), "{}", e.message);
    }

    #[test]
    fn the_flusher_writes_cached_entries_without_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.db");
        let v = KvVault::open(&path, KvOptions::default()).unwrap();
        v.enable_cache(CacheOptions::default(), Some(Duration::from_millis(20)))
            .unwrap();
        v.with(|s| s.put_encoded(b"k", Encoding::Raw, b"v"))
            .unwrap();
        let other = KvStore::open(&path, KvOptions::default()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while other.get(b"k").unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(10));
        }
        v.close().unwrap();
    }
}
