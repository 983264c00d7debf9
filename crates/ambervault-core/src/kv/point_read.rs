//! The point-read statement, held as a raw SQLite handle for the life of the store.
//!
//! A get is one b-tree lookup, so the per-call overhead around it matters: rusqlite's
//! statement cache hashes the SQL text and reorders its LRU on every lookup, and its binding
//! copies the key (SQLITE_TRANSIENT, one malloc). Holding the prepared statement and binding
//! the key in place (SQLITE_STATIC, valid until the reset that ends every lookup) removes both.

use rusqlite::{ffi, Connection};
use std::os::raw::c_int;
use std::ptr::NonNull;

/// The one-column, one-parameter lookup statement (`SELECT value FROM t WHERE key = ?1`).
#[derive(Debug)]
pub(crate) struct PointRead(NonNull<ffi::sqlite3_stmt>);

// SAFETY: the statement belongs to the store's connection, moves with it and is only used
// through `&self` of a store that is itself not `Sync` (one thread at a time), like the
// connection (opened SQLITE_OPEN_NO_MUTEX, which rusqlite declares `Send`).
unsafe impl Send for PointRead {}

/// The stored bytes of a found row, borrowed from SQLite until the statement is reset.
pub(crate) enum Found<'s> {
    Value(&'s [u8]),
    /// A value of a type that is not bytes (another tool wrote a number): its SQLite type code.
    NotBytes(c_int),
}

impl PointRead {
    /// Prepare `sql` on `conn` (persistent: it lives as long as the store).
    pub(crate) fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Self> {
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the handle of a live connection, used only for these two calls (the
        // statement is finalized before the connection closes); the SQL is passed with its length.
        let db = unsafe { conn.handle() };
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                sql.len() as c_int,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(failure(db, rc));
        }
        NonNull::new(stmt)
            .map(PointRead)
            .ok_or_else(|| rusqlite::Error::InvalidQuery)
    }

    /// Look `key` up and hand the row's stored bytes (or `None`) to `f`; the statement is
    /// reset before returning, so it never keeps a transaction busy.
    pub(crate) fn lookup<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<Found<'_>>) -> R,
    ) -> rusqlite::Result<R> {
        let st = self.0.as_ptr();
        // SAFETY: `st` is a live statement of a connection we are allowed to use now (see the
        // Send impl). The key is bound SQLITE_STATIC and the statement is reset before `key`
        // can go away; the column bytes are read before the reset.
        unsafe {
            let len = c_int::try_from(key.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
            let rc = ffi::sqlite3_bind_blob(st, 1, key.as_ptr().cast(), len, ffi::SQLITE_STATIC());
            if rc != ffi::SQLITE_OK {
                ffi::sqlite3_reset(st);
                return Err(failure(ffi::sqlite3_db_handle(st), rc));
            }
            let out = match ffi::sqlite3_step(st) {
                ffi::SQLITE_ROW => Ok(f(Some(column(st)))),
                ffi::SQLITE_DONE => Ok(f(None)),
                _ => {
                    // The step's error code comes back from reset (prepare_v3 statements also
                    // report it from step; take reset's, which is the same, for both paths).
                    let rc = ffi::sqlite3_reset(st);
                    return Err(failure(ffi::sqlite3_db_handle(st), rc));
                }
            };
            ffi::sqlite3_reset(st);
            out
        }
    }
}

/// Column 0 of the current row.
///
/// # Safety
/// `st` must be positioned on a row.
unsafe fn column<'s>(st: *mut ffi::sqlite3_stmt) -> Found<'s> {
    match ffi::sqlite3_column_type(st, 0) {
        ffi::SQLITE_BLOB | ffi::SQLITE_TEXT => {
            let p = ffi::sqlite3_column_blob(st, 0).cast::<u8>();
            let n = ffi::sqlite3_column_bytes(st, 0) as usize;
            Found::Value(if p.is_null() || n == 0 {
                &[]
            } else {
                std::slice::from_raw_parts(p, n)
            })
        }
        ffi::SQLITE_NULL => Found::Value(&[]),
        other => Found::NotBytes(other),
    }
}

/// The error of a failed call, with SQLite's message.
fn failure(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Error {
    // SAFETY: `db` is a live connection handle; errmsg returns a NUL-terminated string owned
    // by SQLite, copied here at once.
    let msg = unsafe {
        let p = ffi::sqlite3_errmsg(db);
        (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(rc), msg)
}

impl Drop for PointRead {
    fn drop(&mut self) {
        // SAFETY: finalized once, before the connection closes (the store declares this field
        // before its connection, so it drops first).
        unsafe {
            ffi::sqlite3_finalize(self.0.as_ptr());
        }
    }
}
