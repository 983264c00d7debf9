//! Columns: typed, chunked, append-friendly arrays in the KohakuVault 0.8 layout (docs/format.md).
//!
//! # Rust API (used by the bindings and by the Board writer)
//!
//! ```no_run
//! use ambervault_core::col::{ChunkOptions, ColumnVault};
//! use ambervault_core::conn::OpenOptions;
//! # fn main() -> ambervault_core::Result<()> {
//! // Opens (or creates) the file and the column tables.
//! let cv = ColumnVault::open("run/metrics.db".as_ref(), &OpenOptions::default(), ChunkOptions::default())?;
//! let step = cv.ensure("loss/step", "i64")?;   // created on first use, dtype checked after
//! let value = cv.ensure("loss/value", "f64")?;
//!
//! // Several columns in ONE transaction (all or nothing). Bytes are little-endian elements.
//! cv.write(|w| {
//!     w.extend(&step, &[1i64, 2, 3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
//!     w.extend(&value, &[0.5f64, 0.4, 0.3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
//!     Ok(())
//! })?;
//!
//! assert_eq!(cv.len(&value)?, 3);
//! let bytes: Vec<u8> = cv.read_bytes(&value, 1, 3)?;   // elements 1..3 as LE bytes
//! let last: Vec<u8> = cv.get(&value, -1)?;             // negative indexes count from the end
//! # let _ = bytes; Ok(()) }
//! ```
//!
//! Sharing a file with a KVault: open both on the same path (WAL lets them coexist), or hand the
//! ColumnVault the very connection the KVault uses with [`ColumnVault::from_shared`] (an
//! `Arc<Mutex<Connection>>`). When the caller already holds a transaction on its own
//! connection, [`ColumnWriter::new`] writes columns inside it: each mutation then becomes a
//! savepoint of that transaction, so column and KV writes commit together.
//!
//! Every mutation is one transaction (`BEGIN IMMEDIATE`) or, inside a caller's transaction,
//! one savepoint: a crash leaves the old or the new state, never a half-written chunk.
//!
//! Every element call (`get`, `slice`, `set`, `insert`, `delete`, `append`) takes either kind
//! of column and raw indexes; `handle.rs` turns them into positions.
//!
//! Modules: `vault` (the ColumnVault and its element API), `cache` (write-back appends and
//! the flusher thread), `writer` (writes on a caller's connection, finding and creating
//! columns), `handle` (column handles and bounds), `options` (chunk and page sizes of new
//! columns); storage underneath: `meta` (`col_meta`
//! rows), `chunks`, `fixed`, `varsize`, `reads` (the held read snapshot), `tx`, `tuning`.

mod cache;
mod handle;
mod options;
mod vault;
mod writer;

pub(crate) mod chunks;
pub(crate) mod fixed;
pub(crate) mod meta;
pub(crate) mod reads;
pub(crate) mod tuning;
pub(crate) mod tx;
pub(crate) mod varsize;

pub use cache::CacheOptions;
pub use handle::{Bounds, ColumnHandle, Plain};
pub use meta::DEFAULT_MIN_CHUNK_BYTES;
pub use options::{
    ChunkOptions, NEW_COLUMN_FILE_PAGE_SIZE, NEW_COLUMN_MAX_CHUNK_BYTES, NEW_DATA_CHUNK_MAX_BYTES,
};
pub use vault::{ColumnSummary, ColumnVault, SharedConn};
pub(crate) use writer::find_column;
pub use writer::ColumnWriter;

#[cfg(test)]
mod tests;
