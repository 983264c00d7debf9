//! Connection settings a ColumnVault applies to the connection it opens itself (a shared
//! connection belongs to its owner and is left as it is).

use crate::error::Result;
use rusqlite::Connection;

/// Page cache for one column file: a large extend stays in memory until its commit instead of
/// spilling half-written chunk pages to the WAL and writing them again.
const CACHE_KIB: i64 = 64 * 1024;

/// No memory map (KohakuVault maps 256 MiB). With one, SQLite searches the WAL index before
/// every page it looks up through the map, and an append walks its chunk's chain of overflow
/// pages from the start: uncached appends ran slower with it at 4 KiB pages. Reads gain nothing
/// from it, since BLOB reads copy overflow pages from the file straight into the result (full
/// slices, random gets and slices alike were no faster with the map).
pub fn apply(conn: &Connection) -> Result<()> {
    // Statement journals in memory. Every column mutation runs several statements in one
    // transaction, so SQLite keeps a statement journal; with 32 KiB pages it passes the 64 KiB
    // in-memory spill limit at once, and a temp file was created, written and unlinked on every
    // single append.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    Ok(())
}
