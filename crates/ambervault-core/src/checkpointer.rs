//! WAL checkpoints off the writer's thread.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses 1000 WAL frames: that
//! commit copies every frame into the database file and waits for its fsync, so a bulk load
//! spends most of its wall time checkpointing (bench/kv's puts, docs/performance.md, are the
//! measure of what moving them off the writer gains). The `Checkpointer` replaces that
//! hook on a writer connection: past `TRIGGER_FRAMES` it wakes a thread of its own, holding a
//! second connection to the file, which runs PASSIVE checkpoints while the writer goes on.
//!
//! The WAL only restarts from its beginning when a write transaction begins after a complete
//! checkpoint, which a thread racing a busy writer rarely achieves, so the writer still
//! checkpoints itself (as SQLite's own hook would) once the WAL passes `INLINE_FRAMES`: it
//! waits for the thread's pass to end, finds little left to copy, completes, and the WAL
//! restarts. So the WAL stays bounded, and the file format and crash safety are those of any
//! SQLite checkpoint.

use rusqlite::{ffi, Connection, OpenFlags};
use std::os::raw::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// WAL frames after which the thread is asked for a checkpoint (SQLite's own default).
pub const TRIGGER_FRAMES: c_int = 1000;
/// WAL frames after which the writer checkpoints itself (128 MiB of 32 KiB pages). At twice
/// the trigger a 16 KiB bulk load (a frame per value) kept waiting for the thread; four times
/// was faster in bench/kv's 16 KiB puts, and more did not help.
pub const INLINE_FRAMES: c_int = 4 * TRIGGER_FRAMES;

#[derive(Debug, Default)]
struct State {
    /// A checkpoint was asked for and has not started yet.
    wanted: bool,
    stop: bool,
    /// The thread could not open its connection: the writer checkpoints inline from then on.
    failed: bool,
    /// The thread is running (spawned on the first request).
    started: bool,
    /// The thread is in a checkpoint.
    busy: bool,
    /// The writer is checkpointing itself: the thread starts none until it is done.
    paused: bool,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    state: Mutex<State>,
    /// The thread waits here for a request (or stop).
    wake: Condvar,
    /// The writer waits here for the thread's checkpoint to end.
    idle: Condvar,
    /// Checkpoints the thread has run.
    passes: AtomicUsize,
}

impl Shared {
    /// Ask for a checkpoint; false when the thread cannot take it (it failed to start).
    fn request(self: &Arc<Self>, thread: &Mutex<Option<JoinHandle<()>>>) -> bool {
        let Ok(mut st) = self.state.lock() else {
            return false;
        };
        if st.failed || st.stop {
            return false;
        }
        if !st.started {
            st.started = true;
            let shared = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("ambervault-checkpoint".into())
                .spawn(move || shared.run());
            match spawned {
                Ok(h) => {
                    if let Ok(mut t) = thread.lock() {
                        *t = Some(h);
                    }
                }
                Err(_) => {
                    st.failed = true;
                    return false;
                }
            }
        }
        if !st.wanted {
            st.wanted = true;
            self.wake.notify_one();
        }
        true
    }

    /// Wait until the thread is not in a checkpoint and keep it from starting one until
    /// `resume`. A PASSIVE checkpoint fails at once while another one runs, so without this
    /// the writer could keep missing its turn while the thread is always mid-pass.
    fn pause(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        st.paused = true;
        while st.busy {
            st = match self.idle.wait(st) {
                Ok(g) => g,
                Err(_) => return,
            };
        }
    }

    fn resume(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.paused = false;
            if st.wanted {
                self.wake.notify_one();
            }
        }
    }

    fn run(&self) {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = match Connection::open_with_flags(&self.path, flags) {
            Ok(c) => c,
            Err(_) => {
                if let Ok(mut st) = self.state.lock() {
                    st.failed = true;
                }
                return;
            }
        };
        loop {
            {
                let Ok(mut st) = self.state.lock() else {
                    return;
                };
                while (!st.wanted || st.paused) && !st.stop {
                    st = match self.wake.wait(st) {
                        Ok(g) => g,
                        Err(_) => return,
                    };
                }
                if st.stop {
                    return;
                }
                st.wanted = false;
                st.busy = true;
            }
            // PASSIVE never waits: it copies what no reader still needs and returns; a busy
            // result (another connection is checkpointing) just means there is nothing to do now.
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            self.passes.fetch_add(1, Ordering::Relaxed);
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            st.busy = false;
            self.idle.notify_all();
        }
    }
}

/// The WAL hook of one writer connection and, once needed, its checkpoint thread. Drop it
/// before the connection closes (it unregisters the hook and joins the thread).
#[derive(Debug)]
pub struct Checkpointer {
    /// Boxed so the hook's pointer to it stays put while the `Checkpointer` moves.
    hook: Box<Hook>,
    db: *mut ffi::sqlite3,
}

#[derive(Debug)]
struct Hook {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

// SAFETY: `db` is only used in `drop`, on whichever thread owns the store and its connection
// (which rusqlite declares `Send`); everything else is `Send` already.
unsafe impl Send for Checkpointer {}

impl Checkpointer {
    /// Take over the WAL hook of `conn`, a writer connection to the WAL file at `path`.
    pub fn attach(conn: &Connection, path: &Path) -> Checkpointer {
        let hook = Box::new(Hook {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                idle: Condvar::new(),
                passes: AtomicUsize::new(0),
            }),
            thread: Mutex::new(None),
        });
        // SAFETY: the handle of a live connection; the hook's argument points into `hook`,
        // which lives until `drop` has unregistered the hook.
        let db = unsafe { conn.handle() };
        unsafe {
            ffi::sqlite3_wal_hook(
                db,
                Some(on_commit),
                (&*hook as *const Hook).cast_mut().cast(),
            );
        }
        Checkpointer { hook, db }
    }

    /// Checkpoints run by the thread so far.
    pub fn passes(&self) -> usize {
        self.hook.shared.passes.load(Ordering::Relaxed)
    }
}

/// Runs on the writer's thread after each commit, with the frame count of the WAL.
unsafe extern "C" fn on_commit(
    arg: *mut c_void,
    db: *mut ffi::sqlite3,
    name: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `arg` is the `Hook` registered in `attach`, alive until the hook is removed.
    let hook = unsafe { &*(arg as *const Hook) };
    let inline =
        frames >= INLINE_FRAMES || (frames >= TRIGGER_FRAMES && !hook.shared.request(&hook.thread));
    if inline {
        // What SQLite's default hook does, once the thread is out of the way (it has copied
        // most frames by now, so little is left). Still busy means another connection is
        // checkpointing: the next commit tries again.
        hook.shared.pause();
        unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                db,
                name,
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
        }
        hook.shared.resume();
    }
    ffi::SQLITE_OK
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // SAFETY: the connection is still open (the store drops this first).
        unsafe {
            ffi::sqlite3_wal_hook(self.db, None, std::ptr::null_mut());
        }
        if let Ok(mut st) = self.hook.shared.state.lock() {
            st.stop = true;
            self.hook.shared.wake.notify_one();
        }
        let handle = self.hook.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{Encoding, KvOptions, KvStore};
    use std::time::{Duration, Instant};

    /// A 16 KiB value fills one 32 KiB page of its own, so one put is about one WAL frame.
    const VALUE: usize = 16 << 10;

    fn put_batch(kv: &mut KvStore, from: usize, n: usize) {
        let value = vec![7u8; VALUE];
        let keys: Vec<Vec<u8>> = (from..from + n)
            .map(|i| format!("k{i:08}").into_bytes())
            .collect();
        kv.put_many(keys.iter().map(|k| (&k[..], Encoding::Raw, &value[..])))
            .unwrap();
    }

    fn file_len(p: &Path) -> u64 {
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn the_thread_checkpoints_what_the_writer_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let mut kv = KvStore::open(&path, KvOptions::default()).unwrap();
        // Past the trigger, below the inline limit: only the thread can copy these frames.
        let n = TRIGGER_FRAMES as usize + 100;
        put_batch(&mut kv, 0, n);
        let want = (n * VALUE) as u64;
        let t0 = Instant::now();
        while file_len(&path) < want || kv.background_checkpoints() == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the database file never received the WAL's frames ({} bytes)",
                file_len(&path)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(kv);
        let kv = KvStore::open(&path, KvOptions::default()).unwrap();
        assert_eq!(kv.get(b"k00000000").unwrap().unwrap().payload.len(), VALUE);
    }

    #[test]
    fn a_long_load_keeps_the_wal_bounded_and_close_joins_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let wal = dir.path().join("kv.db-wal");
        let mut kv = KvStore::open(&path, KvOptions::default()).unwrap();
        let batch = 250;
        let total = (INLINE_FRAMES + 4 * TRIGGER_FRAMES) as usize;
        let mut largest = 0;
        for from in (0..total).step_by(batch) {
            put_batch(&mut kv, from, batch);
            largest = largest.max(file_len(&wal));
        }
        // Past INLINE_FRAMES the writer waits for the thread's pass and checkpoints itself,
        // so the WAL ends about a batch past it (slack for index pages and timing).
        let frame = 32768 + 24;
        let bound = (INLINE_FRAMES as u64 + 8 * batch as u64) * frame;
        assert!(
            largest <= bound,
            "WAL grew to {largest} bytes (bound {bound})"
        );
        kv.close().map_err(|b| b.1).unwrap();
        let mut kv = KvStore::open(&path, KvOptions::default()).unwrap();
        assert_eq!(kv.len().unwrap(), total as u64);
    }
}
