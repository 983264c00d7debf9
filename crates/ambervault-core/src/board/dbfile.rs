//! Creating a run's database files complete, and reading one KV value: the board's only direct
//! file handling of SQLite databases outside its store.

use crate::error::{Error, Result};
use crate::kv::{KvOptions, KvStore};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// Create the database at `path` complete and only then give it its name, so a reader never finds
/// a file without its tables. `build` gets a connection to a temporary file (pages of
/// `page_size`, synchronous=OFF, rollback journal in memory: nobody else sees it, so building it
/// costs no fsync and no -wal/-shm files) and hands it back; the finished file is switched to
/// WAL, as every file is, before it gets its name. The name is taken with a hard link, which never
/// replaces a file someone created meanwhile (that one is kept and the built one dropped). Only
/// a run's owner builds files, so a `.tmp` left by a crash is its own to remove (the next build
/// does).
pub fn create_complete(
    path: &Path,
    page_size: u32,
    build: impl FnOnce(Connection) -> Result<Connection>,
) -> Result<()> {
    let tmp = tmp_path(path);
    remove_db_files(&tmp);
    let built = (|| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let c = Connection::open(&tmp).map_err(|e| Error::from(e).context(tmp.display()))?;
        c.execute_batch(&format!(
            "PRAGMA page_size={page_size}; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY; PRAGMA journal_mode=MEMORY"
        ))?;
        let c = build(c)?;
        let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::io(format!("could not switch to WAL (got {mode})")));
        }
        Ok(())
    })()
    .and_then(|_| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: rename, after a last look for a file by that name.
        Err(_) if path.exists() => Ok(()),
        Err(_) => std::fs::rename(&tmp, path).map_err(Error::from),
    })
    .map_err(|e| e.context(path.display()));
    remove_db_files(&tmp);
    built
}

/// Where `create_complete` builds the file at `path` (a name no reader opens).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Remove a database file with its WAL and shared-memory files (best effort).
pub fn remove_db_files(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// A stored value's payload (KV header removed), or None.
pub fn kv_get(path: &Path, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let kv = KvStore::open(
        path,
        KvOptions {
            readonly: true,
            ..Default::default()
        },
    )?;
    Ok(kv.get(key)?.map(|v| v.payload))
}
