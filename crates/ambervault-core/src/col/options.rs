//! Chunk sizes and page size of the columns and files a ColumnVault creates (existing columns
//! keep the sizes recorded in their `col_meta` rows).

use super::meta::{ChunkSpec, DEFAULT_MIN_CHUNK_BYTES};
use crate::error::Result;

/// Largest chunk of a column created without `max_chunk_bytes` (unless one element is larger).
///
/// KohakuVault's own default is 16 MiB, but SQLite stores a chunk as a chain of overflow pages
/// that can only be walked from its start: a write at the end of a chunk (every uncached append)
/// looks up each page before it, and keeping `bytes_used` of a variable-size data chunk exact
/// rewrites the whole record. Both cost a time proportional to the chunk (orders of magnitude
/// more per append into full 16 MiB chunks); at 256 KiB they stay flat (bench/columns table 4,
/// docs/performance.md), while extends and full reads run at the same speed (they go chunk by
/// chunk either way).
/// Each column records its sizes in `col_meta`, so KohakuVault follows them.
pub const NEW_COLUMN_MAX_CHUNK_BYTES: u64 = 256 << 10;

/// The data chunks of a new variable-size column, when no maximum is given, hold at most this
/// (and start at it, or at the minimum when that is smaller). An append must keep its data
/// chunk's `bytes_used` exact (KohakuVault appends where it points), and any UPDATE of a chunk
/// row makes SQLite read, rebuild and compare the whole record: at 4 KiB pages a string append
/// into 32 KiB data chunks cost well under one into 256 KiB ones, and smaller chunks gained
/// almost nothing more (bench/columns table 2 has the appends, docs/performance.md).
pub const NEW_DATA_CHUNK_MAX_BYTES: u64 = 32 << 10;

/// Page size of a file [`ColumnVault::open`] creates when none is asked for: what the KohakuVault
/// package gives its ColumnVault files (it sets 32 KiB only on KVault files). Every commit writes
/// whole pages to the WAL and an uncached append commits at least two (its chunk and
/// `col_meta.length`), so at 4 KiB it costs about half what it does at 32 KiB (`bench/columns`,
/// tables 2 and 3), which puts it ahead of KohakuVault's; a 10M-value extend is slower than at
/// 32 KiB (table 1), still ahead of every peer. Files opened through a shared connection,
/// and the Board's, keep the connection default (`conn::NEW_FILE_PAGE_SIZE`).
pub const NEW_COLUMN_FILE_PAGE_SIZE: u32 = 4096;

/// Chunk sizes for columns this vault creates (existing columns keep their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    pub min_chunk_bytes: u64,
    /// None: [`NEW_COLUMN_MAX_CHUNK_BYTES`], raised to the minimum (in whole elements) or to one
    /// element when either is larger; for the data of variable-size columns
    /// [`NEW_DATA_CHUNK_MAX_BYTES`]. A size given here is taken as it is for every chunk (too
    /// small for an element is an error).
    pub max_chunk_bytes: Option<u64>,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            min_chunk_bytes: DEFAULT_MIN_CHUNK_BYTES,
            max_chunk_bytes: None,
        }
    }
}

impl ChunkOptions {
    /// The chunk sizes of a new variable-size column's data (see [`NEW_DATA_CHUNK_MAX_BYTES`]).
    pub(crate) fn data_spec(&self, name: &str) -> Result<ChunkSpec> {
        let (min, max) = match self.max_chunk_bytes {
            Some(max) => (self.min_chunk_bytes, max),
            None => (
                self.min_chunk_bytes.min(NEW_DATA_CHUNK_MAX_BYTES),
                NEW_DATA_CHUNK_MAX_BYTES,
            ),
        };
        ChunkSpec::aligned(name, 1, min, max)
    }

    /// The chunk sizes of a new column (or index) whose elements take `elem_size` bytes.
    pub(crate) fn spec_for(&self, name: &str, elem_size: u64) -> Result<ChunkSpec> {
        let min = self.min_chunk_bytes;
        // Without a maximum: the default cap, raised to the minimum rounded up to whole
        // elements (so at least one element).
        let max = self.max_chunk_bytes.unwrap_or_else(|| {
            NEW_COLUMN_MAX_CHUNK_BYTES.max(min.max(1).div_ceil(elem_size) * elem_size)
        });
        ChunkSpec::aligned(name, elem_size, min, max)
    }
}
