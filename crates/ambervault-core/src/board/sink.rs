//! The only place the board touches column and KV storage: thin adapters over the ColumnVault
//! (`crate::col`) and KVault (`crate::kv`) APIs, so the rest of the board speaks in rows.

use crate::col::{tx, ChunkOptions, ColumnHandle, ColumnVault, ColumnWriter};
use crate::conn::{OpenOptions, NEW_FILE_PAGE_SIZE};
use crate::error::{Error, Result};
use crate::kv::{KvOptions, KvStore};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    I64,
    F64,
}

impl ColType {
    fn dtype(self) -> &'static str {
        match self {
            ColType::I64 => "i64",
            ColType::F64 => "f64",
        }
    }
}

/// A ColumnVault file with its column handles cached.
pub struct ColumnFile {
    cv: ColumnVault,
    handles: HashMap<String, ColumnHandle>,
}

impl ColumnFile {
    pub fn open(path: &Path, readonly: bool) -> Result<Self> {
        let opts = OpenOptions {
            readonly,
            ..Default::default()
        };
        let cv = ColumnVault::open(path, &opts, ChunkOptions::default())?;
        Ok(ColumnFile {
            cv,
            handles: HashMap::new(),
        })
    }

    /// Create the file at `path` complete, with `cols` and `extra_schema` in place, and only then
    /// give it its name: a reader listing the folder never finds a file without its tables. The
    /// build runs with synchronous=OFF in one transaction (no fsync for a file holding no data).
    pub fn create_complete(
        path: &Path,
        cols: &[(&str, ColType)],
        extra_schema: &str,
    ) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // Leftovers of a build interrupted by a crash.
        remove_db_files(&tmp);
        let built = (|| {
            // Its own connection, synchronous=OFF from the start: the WAL switch and the schema
            // then cost no fsync (conn::open would sync the first WAL header).
            let c = Connection::open(&tmp).map_err(|e| Error::from(e).context(tmp.display()))?;
            c.execute_batch(&format!(
                "PRAGMA page_size={NEW_FILE_PAGE_SIZE}; PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL; BEGIN IMMEDIATE"
            ))?;
            let label = tmp.display().to_string();
            let cv = ColumnVault::from_shared(
                Arc::new(Mutex::new(c)),
                label,
                ChunkOptions::default(),
            )?;
            for (name, ty) in cols {
                cv.ensure(name, ty.dtype())?;
            }
            cv.with_conn(|c| Ok(c.execute_batch(&format!("{extra_schema}; COMMIT"))?))
            // Dropping the last connection folds the WAL into the file and deletes it.
        })()
        .map_err(|e| e.context(path.display()));
        let renamed = built.and_then(|_| {
            std::fs::rename(&tmp, path).map_err(|e| Error::from(e).context(path.display()))
        });
        if renamed.is_err() {
            remove_db_files(&tmp);
        }
        renamed
    }

    fn handle(&mut self, name: &str, ty: ColType) -> Result<ColumnHandle> {
        if let Some(h) = self.handles.get(name) {
            return Ok(h.clone());
        }
        let h = self.cv.ensure(name, ty.dtype())?;
        self.handles.insert(name.to_string(), h.clone());
        Ok(h)
    }

    /// Append raw little-endian elements to several columns and run `also` (bookkeeping on the
    /// same connection), all in one transaction.
    pub fn append(
        &mut self,
        cols: &[(&str, ColType, &[u8])],
        also: impl FnOnce(&Connection) -> Result<()>,
    ) -> Result<()> {
        let handles = cols
            .iter()
            .map(|(n, t, _)| self.handle(n, *t))
            .collect::<Result<Vec<_>>>()?;
        self.cv.with_conn(|c| {
            tx::write_tx(c, |c| {
                let w = ColumnWriter::new(c);
                for (h, (_, _, bytes)) in handles.iter().zip(cols) {
                    w.extend(h, bytes)?;
                }
                also(c)
            })
        })
    }

    /// Run `f` on the file's connection (schema setup, bookkeeping reads).
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.cv.with_conn(f)
    }

    /// Length of a column (0 when it does not exist).
    pub fn len(&self, name: &str) -> Result<u64> {
        if !self.cv.has(name)? {
            return Ok(0);
        }
        let h = self.cv.column(name)?;
        self.cv.len(&h)
    }

    /// Elements `[start, end)` of a column as little-endian bytes.
    pub fn read(&self, name: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        let h = self.cv.column(name)?;
        self.cv.read_bytes(&h, start, end)
    }

    pub fn checkpoint(&self) -> Result<()> {
        self.cv.checkpoint()
    }

    /// Close, folding the WAL into the file without fsync. Kill-safety is unchanged (the data is
    /// in the file either way); skipped are the two fsyncs synchronous=NORMAL adds against power
    /// loss, which a file cycling through the writer's bounded set of open files would pay on
    /// every pass.
    pub fn close_unsynced(self) {
        let _ = self
            .cv
            .with_conn(|c| Ok(c.execute_batch("PRAGMA synchronous=OFF")?));
    }
}

/// Remove a database file with its WAL and shared-memory files (best effort).
fn remove_db_files(path: &Path) {
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
