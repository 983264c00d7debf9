//! Opening SQLite files the way docs/format.md ("Connection settings") says: WAL, synchronous
//! NORMAL (FULL on request), a 5 s busy timeout, 32 KiB pages for new files (or the page size
//! asked for), parent folder created on open.

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    #[default]
    Normal,
    Full,
}

#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub readonly: bool,
    pub durability: Durability,
    /// Busy timeout; None means the 5 s default of the format.
    pub busy_timeout: Option<Duration>,
    /// Page size of a new file; None means the format's 32 KiB. An existing file keeps its own.
    /// Every commit writes whole pages to the WAL, so small pages make small transactions (a
    /// single uncached append or put) cheaper, and big pages make big reads and writes faster.
    pub page_size: Option<u32>,
}

pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
pub const NEW_FILE_PAGE_SIZE: u32 = 32768;

/// Open (or create) a database file with the connection settings of the format.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Connection> {
    let shown = path.display();
    if let Some(size) = opts.page_size {
        check_page_size(u64::from(size)).map_err(|e| e.context(&shown))?;
    }
    if opts.readonly {
        if !path.exists() {
            return Err(Error::io(format!(
                "{shown}: no such file (opened readonly)"
            )));
        }
    } else if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| Error::from(e).context(&shown))?;
        }
    }
    if path.is_dir() {
        return Err(Error::io(format!(
            "{shown}: is a directory, not a database file"
        )));
    }
    let flags = if opts.readonly {
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI
    };
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| Error::from(e).context(&shown))?;
    if opts.readonly {
        // A WAL file is read through its -shm index, which SQLite creates beside the file when
        // it is missing: in a folder that cannot be written, the first read fails.
        if let Err(e) = conn.query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0)) {
            if shm_refused(&e) && !sidecar(path, "-shm").exists() {
                drop(conn);
                return open_in_readonly_folder(path, opts).map_err(|e| e.context(&shown));
            }
        }
    }
    configure(&conn, opts).map_err(|e| e.context(&shown))?;
    Ok(conn)
}

/// The errors SQLite gives when it cannot create a WAL file's -shm: CANTOPEN on a read-only
/// file system, READONLY ("attempt to write a readonly database") on a folder without write
/// permission.
fn shm_refused(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly))
}

/// `path` with `suffix` appended to its file name (`-wal`, `-shm`).
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Whether the file system holding `path` is mounted read-only.
#[cfg(not(unix))]
fn on_readonly_mount(_path: &Path) -> bool {
    false
}

/// Whether the file system holding `path` is mounted read-only.
#[cfg(unix)]
fn on_readonly_mount(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a statvfs the call fills.
    unsafe { libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 }
}

/// A readonly open of a WAL file whose folder cannot be written and that has no -shm (so no
/// writer has it open). On a read-only mount nobody can change the file, so SQLite reads it as
/// immutable (`immutable=1`: no -shm, no locks), unless a -wal file holds changes not yet in the
/// file, which only a -shm could make readable. In a folder that is merely not writable by this
/// user, another user may still write the file while it is read, which an immutable reader would
/// not notice: that is an error that says what to do (docs/format.md, "Connection settings").
fn open_in_readonly_folder(path: &Path, opts: &OpenOptions) -> Result<Connection> {
    let wal = sidecar(path, "-wal");
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    if !on_readonly_mount(path) {
        return Err(Error::io(
            "cannot be read in place: it is a WAL file, and SQLite needs to create its -shm file \
             beside it, but this user cannot write the folder. Make the folder writable, read the \
             file while a writer has it open (its -shm then exists), or copy the file (with any \
             -wal) to a folder you can write",
        ));
    }
    if wal_len > 0 {
        return Err(Error::io(format!(
            "cannot be read on this read-only mount: {} holds {wal_len} bytes of changes not yet \
             in the file, and reading them needs a -shm file that cannot be created here. Open the \
             file once where it can be written (this merges the -wal), then read it here",
            wal.display()
        )));
    }
    let uri = format!("file:{}?immutable=1", uri_path(path));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(uri, flags)?;
    configure(&conn, opts)?;
    Ok(conn)
}

/// `path` as the path of a `file:` URI: bytes other than unreserved ones and `/` percent-encoded.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = String::new();
    for &b in abs.as_os_str().as_encoded_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// SQLite takes a power of two from 512 to 65536 and silently ignores anything else; a size the
/// caller asked for and did not get must be an error instead.
pub fn check_page_size(size: u64) -> Result<u32> {
    if size.is_power_of_two() && (512..=65536).contains(&size) {
        Ok(size as u32)
    } else {
        Err(bad_page_size(size))
    }
}

/// The error for a page size SQLite would not take (`shown` as the caller got it).
pub fn bad_page_size(shown: impl std::fmt::Display) -> Error {
    Error::invalid(format!(
        "page size {shown} is not a power of two from 512 to 65536"
    ))
}

fn configure(conn: &Connection, opts: &OpenOptions) -> Result<()> {
    conn.busy_timeout(opts.busy_timeout.unwrap_or(DEFAULT_BUSY_TIMEOUT))?;
    // Reading the schema is the first thing that fails on a file that is not SQLite.
    let page_count: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    if !opts.readonly {
        if page_count == 0 {
            conn.pragma_update(
                None,
                "page_size",
                opts.page_size.unwrap_or(NEW_FILE_PAGE_SIZE),
            )?;
            // Switching a new, empty file to WAL writes its first page through a rollback
            // journal; at the default synchronous=FULL that costs four fsyncs (journal, folder,
            // journal, file) for a file with no data to protect yet.
            conn.pragma_update(None, "synchronous", "OFF")?;
        }
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::io(format!(
                "could not switch to WAL journal (got {mode})"
            )));
        }
    }
    let sync = match opts.durability {
        Durability::Normal => "NORMAL",
        Durability::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Merge the WAL back into the main file (TRUNCATE mode, so the -wal file shrinks to zero).
pub fn checkpoint(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn new_file_gets_wal_and_big_pages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/a.db");
        let c = open(&path, &OpenOptions::default()).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        let ps: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let jm: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ps, 32768);
        assert_eq!(jm, "wal");
    }

    #[test]
    fn page_size_applies_to_new_files_only_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.db");
        let small = OpenOptions {
            page_size: Some(4096),
            ..Default::default()
        };
        let c = open(&path, &small).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(c);
        // Reopened with another size asked for, the file keeps the one it was made with.
        let c = open(
            &path,
            &OpenOptions {
                page_size: Some(65536),
                ..Default::default()
            },
        )
        .unwrap();
        let ps: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(ps, 4096);
        for bad in [0, 1000, 256, 131072] {
            let e = open(
                &dir.path().join("bad.db"),
                &OpenOptions {
                    page_size: Some(bad),
                    ..Default::default()
                },
            )
            .unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad}: {e}");
            assert!(e.to_string().contains("page size"), "{e}");
        }
        assert!(!dir.path().join("bad.db").exists());
    }

    #[test]
    fn immutable_uri_names_the_file_whatever_its_path() {
        // The fallback for read-only mounts opens `file:<path>?immutable=1`: characters that
        // mean something in a URI must reach SQLite as the path's own.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a b?c#d%e é/x.db");
        let c = open(&path, &OpenOptions::default()).unwrap();
        c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (7)")
            .unwrap();
        conn_checkpoint_and_close(c);
        let uri = format!("file:{}?immutable=1", uri_path(&path));
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let r = Connection::open_with_flags(uri, flags).unwrap();
        let x: i64 = r.query_row("SELECT x FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 7);
        assert_eq!(
            sidecar(&path, "-wal").file_name().unwrap(),
            "x.db-wal",
            "sidecar names"
        );
    }

    fn conn_checkpoint_and_close(c: Connection) {
        checkpoint(&c).unwrap();
        c.close().unwrap();
    }

    #[test]
    fn garbage_file_is_corrupt_and_missing_readonly_is_io() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let e = open(&path, &OpenOptions::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        let e = open(
            &dir.path().join("none.db"),
            &OpenOptions {
                readonly: true,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Io);
    }
}
