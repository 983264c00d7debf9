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

/// Chunk sizes of the columns the board creates (recorded per column in `col_meta`, so readers,
/// KohakuVault included, follow them). A metric's first chunk starts small (the format's 128 KiB
/// default would make a one-value metric file 4 x 128 KiB of zeros) and doubles as it fills, up
/// to 256 KiB rather than the usual 16 MiB: a burst appends a few hundred KiB per column, and
/// growing a chunk rewrites it whole, so large chunks meant copying megabytes per burst (and
/// an append into a big chunk walks its long overflow-page chain) for no gain in reads.
const BOARD_CHUNKS: ChunkOptions = ChunkOptions {
    min_chunk_bytes: 4096,
    max_chunk_bytes: Some(256 << 10),
};

/// Page cache of a column file the writer holds open: a burst's pages for one file, not more.
const WRITER_CACHE_KIB: u32 = 8 << 10;

/// A ColumnVault file with its column handles cached.
pub struct ColumnFile {
    cv: ColumnVault,
    handles: HashMap<String, ColumnHandle>,
}

impl ColumnFile {
    /// Open a column file to read, with the usual ColumnVault settings.
    pub fn open_readonly(path: &Path) -> Result<Self> {
        let opts = OpenOptions {
            readonly: true,
            ..Default::default()
        };
        Ok(ColumnFile {
            cv: ColumnVault::open(path, &opts, BOARD_CHUNKS)?,
            handles: HashMap::new(),
        })
    }

    /// Open a column file for the writer. The writer only appends and keeps thousands of files
    /// open, so each gets a small page cache and no memory map (mapping every file it reads a
    /// page of took 2.4 GB of RSS at 5,000 metric files). Each column append is a savepoint in
    /// the burst's transaction: its statement journal stays in memory.
    pub fn open_for_writing(path: &Path) -> Result<Self> {
        let c = crate::conn::open(path, &OpenOptions::default())?;
        c.execute_batch(&format!(
            "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{WRITER_CACHE_KIB}; PRAGMA mmap_size=0"
        ))
        .map_err(|e| Error::from(e).context(path.display()))?;
        let cv = ColumnVault::from_shared(
            Arc::new(Mutex::new(c)),
            path.display().to_string(),
            BOARD_CHUNKS,
        )?;
        Ok(ColumnFile {
            cv,
            handles: HashMap::new(),
        })
    }

    /// Create the column file at `path` complete, with `cols`, `extra_schema` and whatever `fill`
    /// writes (its first rows) in place, in one transaction (see `create_db_complete`).
    pub fn create_complete(
        path: &Path,
        cols: &[(&str, ColType)],
        extra_schema: &str,
        fill: impl FnOnce(&mut ColumnFile) -> Result<()>,
    ) -> Result<()> {
        let created = create_db_complete(path, |c| {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let shared = Arc::new(Mutex::new(c));
            let cv =
                ColumnVault::from_shared(shared.clone(), path.display().to_string(), BOARD_CHUNKS)?;
            let mut file = ColumnFile {
                cv,
                handles: HashMap::new(),
            };
            for (name, ty) in cols {
                file.handle(name, *ty)?;
            }
            file.with_conn(|c| Ok(c.execute_batch(extra_schema)?))?;
            fill(&mut file)?;
            file.with_conn(|c| Ok(c.execute_batch("COMMIT")?))?;
            drop(file);
            let c = Arc::try_unwrap(shared)
                .map_err(|_| Error::io("column file still in use after its build"))?;
            Ok(c.into_inner().unwrap_or_else(|p| p.into_inner()))
        })?;
        if !created {
            // What `fill` wrote is not in the file that took the name: fail, to be retried.
            return Err(Error::io(format!(
                "{}: created by someone else while being built",
                path.display()
            )));
        }
        Ok(())
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

/// Create the database at `path` complete and only then give it its name, so a reader listing
/// the folder never finds a file without its tables. `build` gets a connection to a temporary
/// file with synchronous=OFF, so building costs no fsync (conn::open would sync the first WAL
/// header and, switching a new file to WAL, the journal and folder), and hands it back. The build
/// runs with its rollback journal in memory (no -wal/-shm files to create, map, checkpoint and
/// delete for a file nobody else sees: 4,000 new metric files took 19 s with WAL, 7 s without),
/// and the finished file is switched to WAL, as FORMAT.md wants every file, before it gets its
/// name. The name is taken with a hard link, which never replaces a file someone created
/// meanwhile (then the result is `false` and the built file is dropped). Only the run's owner
/// builds files, so a `.tmp` left by a crash is its own to remove (the next build does).
pub fn create_db_complete(
    path: &Path,
    build: impl FnOnce(Connection) -> Result<Connection>,
) -> Result<bool> {
    let tmp = tmp_path(path);
    remove_db_files(&tmp);
    let built = (|| {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let c = Connection::open(&tmp).map_err(|e| Error::from(e).context(tmp.display()))?;
        c.execute_batch(&format!(
            "PRAGMA page_size={NEW_FILE_PAGE_SIZE}; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY; PRAGMA journal_mode=MEMORY"
        ))?;
        let c = build(c)?;
        let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::io(format!("could not switch to WAL (got {mode})")));
        }
        Ok(())
    })()
    .and_then(|_| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: rename, after a last look for a file by that name.
        Err(_) if path.exists() => Ok(false),
        Err(_) => std::fs::rename(&tmp, path).map(|_| true).map_err(Error::from),
    })
    .map_err(|e| e.context(path.display()));
    remove_db_files(&tmp);
    built
}

/// Where `create_db_complete` builds the file at `path` (a name no reader lists: not `*.db`).
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
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
