//! The only place the board touches column and KV storage: thin adapters over the ColumnVault
//! (`crate::col`) and KVault (`crate::kv`) APIs, so the rest of the board speaks in rows.
//! Every write here runs inside a transaction the caller opened (one per file per burst).

use crate::error::{Error, Result};
use rusqlite::Connection;

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

/// Upsert a raw-bytes value.
pub fn kv_put(_conn: &Connection, key: &[u8], _value: &[u8]) -> Result<()> {
    Err(Error::io(format!("kv storage not available yet for key {}", String::from_utf8_lossy(key))))
}

pub fn kv_get(_conn: &Connection, _key: &[u8]) -> Result<Option<Vec<u8>>> {
    Ok(None)
}
