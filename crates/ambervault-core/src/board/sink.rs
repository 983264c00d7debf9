//! The only place the board touches column and KV storage: thin adapters over the ColumnVault
//! (`crate::col`) and KVault (`crate::kv`) APIs, so the rest of the board speaks in rows.
//! Column writes run inside a transaction the caller opened (one per file per burst).

use crate::error::{Error, Result};
use crate::kv::{KvOptions, KvStore};
use rusqlite::Connection;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    I64,
    F64,
}

/// Append raw little-endian elements to several fixed-size columns of one file.
pub fn append_columns(_conn: &Connection, cols: &[(&str, ColType, &[u8])]) -> Result<()> {
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    Err(Error::io(format!("column storage not available yet for {names:?}")))
}

/// Length of a column (0 when the column does not exist).
pub fn column_len(_conn: &Connection, _name: &str) -> Result<u64> {
    Ok(0)
}

/// Elements `[start, end)` of a column as raw little-endian bytes.
pub fn read_column(_conn: &Connection, name: &str, _start: u64, _end: u64) -> Result<Vec<u8>> {
    Err(Error::not_found(format!("column {name}")))
}

/// Names of the columns in a file.
pub fn list_columns(_conn: &Connection) -> Result<Vec<String>> {
    Ok(Vec::new())
}

/// A stored value's payload (KV header removed), or None.
pub fn kv_get(path: &Path, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let kv = KvStore::open(path, KvOptions { readonly: true, ..Default::default() })?;
    Ok(kv.get(key)?.map(|v| v.payload))
}
