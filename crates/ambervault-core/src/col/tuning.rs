//! Connection settings a ColumnVault applies to the connection it opens itself (a shared
//! connection belongs to its owner and is left as it is). The same ones KohakuVault applies.

use crate::error::Result;
use rusqlite::Connection;

/// Page cache for one column file: a large extend stays in memory until its commit instead of
/// spilling half-written chunk pages to the WAL and writing them again.
const CACHE_KIB: i64 = 64 * 1024;
/// Reads map the file instead of copying every page through `pread` (address space only;
/// pages the OS can drop at will).
const MMAP_BYTES: i64 = 256 << 20;

pub fn apply(conn: &Connection) -> Result<()> {
    // Statement journals in memory. Every column mutation runs several statements in one
    // transaction, so SQLite keeps a statement journal; with 32 KiB pages it passes the 64 KiB
    // in-memory spill limit at once, and a temp file was created, written and unlinked on every
    // single append.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    // Answers with the size granted (no row where mmap is compiled out): read and ignore it.
    conn.prepare(&format!("PRAGMA mmap_size = {MMAP_BYTES}"))?
        .query([])?
        .next()?;
    Ok(())
}
