//! The only place the board touches column and KV storage: thin adapters over the ColumnVault
//! (`crate::col`) and KVault (`crate::kv`) APIs, so the rest of the board speaks in rows.

use crate::col::{tx, ChunkOptions, ColumnHandle, ColumnVault, ColumnWriter};
use crate::conn::OpenOptions;
use crate::error::Result;
use crate::kv::{KvOptions, KvStore};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::Path;

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
