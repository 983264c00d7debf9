//! The read snapshot that point reads keep open between calls.
//!
//! An autocommit SELECT begins and ends a WAL read transaction every time, and each of those
//! takes and drops a POSIX lock on the `-shm` file: two system calls per get, which on a
//! virtualised machine cost more than the b-tree lookups themselves. So point reads (`get`,
//! `has`, `getMany`) begin a read transaction once and keep it while the file is unchanged.
//!
//! Coherence: every commit to a WAL database, from any connection or process, rewrites the
//! wal-index header at the start of the `-shm` mapping (mxFrame, checksums, salts), before the
//! commit returns. The header is recorded just *before* the snapshot begins; each later read
//! compares it with the live header and begins a fresh snapshot when they differ. So a read
//! that starts after another writer's commit returned always sees that commit. (Recording it
//! before, not after, means a commit landing in between costs one needless refresh rather
//! than a stale read.) The header layout is SQLite's documented wal-index format, shared by
//! every SQLite version that opens the same file at once, so it cannot drift.
//!
//! The holder must `end` the snapshot before any other statement on the connection (writes,
//! scans, checkpoints) and when it goes idle: an open read transaction stops a TRUNCATE
//! checkpoint and keeps the WAL from restarting. Files not in WAL mode, or whose `-shm` cannot
//! be mapped, never hold a snapshot (each read is its own transaction, as before).

use rusqlite::{ffi, Connection};
use std::cell::Cell;
use std::os::raw::{c_int, c_void};

/// Both copies of the wal-index header (2 x 48 bytes); SQLite writes the second copy first,
/// so a commit in progress shows as a difference in either.
const HDR_LEN: usize = 96;
/// The header as the words it is compared in (it is 8-byte aligned at the start of the map).
type Header = [u64; HDR_LEN / 8];
/// Size of a wal-index region (WALINDEX_PGSZ); region 0 begins with the header.
const SHM_REGION: c_int = 32768;

#[derive(Debug)]
pub(crate) struct ReadSnapshot {
    /// The file is in WAL mode (fixed while we have it open: leaving WAL needs an exclusive
    /// lock, and every WAL connection holds a shared one). Only then is there a wal-index to
    /// watch; calling xShmMap otherwise would create a `-shm` file for a rollback database.
    wal: bool,
    /// Whether a read transaction begun by us is open.
    held: Cell<bool>,
    /// The wal-index header recorded when the snapshot began.
    seen: Cell<Header>,
    /// Address of wal-index region 0 while a snapshot is held (the mapping cannot go away
    /// while our read transaction is open). A usize so the store stays `Send`.
    region: Cell<usize>,
}

impl ReadSnapshot {
    /// Snapshot state for `conn`, which must not change journal mode afterwards.
    pub(crate) fn new(conn: &Connection) -> rusqlite::Result<Self> {
        let mode: String = conn.query_row("PRAGMA main.journal_mode", [], |r| r.get(0))?;
        Ok(ReadSnapshot {
            wal: mode.eq_ignore_ascii_case("wal"),
            held: Cell::new(false),
            seen: Cell::new([0; HDR_LEN / 8]),
            region: Cell::new(0),
        })
    }

    /// Make sure the reads that follow see every commit made before this call: keep the open
    /// snapshot if the file is unchanged, otherwise begin a new one. Returns false when no
    /// snapshot can be held (not WAL): the caller then reads in autocommit mode.
    pub(crate) fn refresh(&self, conn: &Connection) -> rusqlite::Result<bool> {
        if self.held.get() {
            // SAFETY: `region` was mapped when this snapshot began and stays mapped while it
            // is held (see the field).
            if unsafe { read_header(self.region.get() as *const u8) } == self.seen.get() {
                return Ok(true);
            }
            self.end(conn)?;
        }
        if !self.wal || !conn.is_autocommit() {
            // No wal-index to watch, or a transaction of someone else's is open on this
            // connection: read in autocommit mode / inside that transaction.
            return Ok(false);
        }
        let Some(region) = wal_index(conn) else {
            return Ok(false);
        };
        self.region.set(region as usize);
        // SAFETY: `region` was just returned by xShmMap and is at least SHM_REGION bytes.
        self.seen.set(unsafe { read_header(region) });
        conn.prepare_cached("BEGIN DEFERRED")?.execute([])?;
        self.held.set(true);
        Ok(true)
    }

    /// End the snapshot (a no-op when none is held).
    pub(crate) fn end(&self, conn: &Connection) -> rusqlite::Result<()> {
        if self.held.replace(false) && !conn.is_autocommit() {
            conn.prepare_cached("COMMIT")?.execute([])?;
        }
        Ok(())
    }

    pub(crate) fn is_held(&self) -> bool {
        self.held.get()
    }

    /// Whether a snapshot is held and nobody has committed since it began, i.e. what was read
    /// under it is still the file's current state (column readers cache lengths on this).
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: as in `refresh`: `region` stays mapped while the snapshot is held.
        self.held.get() && unsafe { read_header(self.region.get() as *const u8) } == self.seen.get()
    }
}

/// Region 0 of the wal-index (`-shm`) of `conn`'s main database, or None when it is not mapped
/// yet. Only call it for a WAL database.
fn wal_index(conn: &Connection) -> Option<*const u8> {
    // SAFETY: plain calls into SQLite on a valid handle owned by `conn`; the file pointer and
    // its methods stay valid while the connection is open, and xShmMap with bExtend=0 only
    // returns an already existing mapping of region 0 (at least SHM_REGION bytes) or null.
    unsafe {
        let db = conn.handle();
        let mut file: *mut ffi::sqlite3_file = std::ptr::null_mut();
        let rc = ffi::sqlite3_file_control(
            db,
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_FILE_POINTER,
            (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
        );
        if rc != ffi::SQLITE_OK || file.is_null() || (*file).pMethods.is_null() {
            return None;
        }
        let methods = &*(*file).pMethods;
        let shm_map = methods.xShmMap?;
        if methods.iVersion < 2 {
            return None;
        }
        let mut region: *mut c_void = std::ptr::null_mut();
        if shm_map(file, 0, SHM_REGION, 0, &mut region) != ffi::SQLITE_OK || region.is_null() {
            return None;
        }
        Some(region as *const u8)
    }
}

/// Both copies of the wal-index header. Other processes write this memory; a volatile read
/// after a fence is what SQLite's own lock-free header read does.
///
/// # Safety
/// `region` must point at a mapped wal-index region 0.
unsafe fn read_header(region: *const u8) -> Header {
    std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    std::ptr::read_volatile(region.cast::<Header>())
}
