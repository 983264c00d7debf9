//! The run folder's layout 2 (docs/format.md, "Run folder"): which files a run has, the tables of
//! its store, and how a reader tells layout 2 from the per-metric files of 0.1 (`legacy.rs`).
//! Nothing else in the crate (and nothing in TypeScript) spells a path inside a run folder.
//!
//! ```text
//! {run}/metadata.json      layoutVersion: 2
//! {run}/data/run.db        the run's store: every scalar series (one f64 column each), the
//!                          series index with its summaries, histograms, steps, media/table/
//!                          tensor/density rows, writer positions, rejected records
//! {run}/data/tensors.db    KVault: .npy payloads of tensors and kernel densities
//! {run}/media/blobs.db     KVault: media bytes by content hash
//! {run}/logs/output.log    captured stdout/stderr;  {run}/logs/writer.log  diagnostics
//! {run}/wal/{writer}/      the append-only logs `log()` writes (deleted once stored)
//! ```

use crate::col::ChunkOptions;
use std::path::{Path, PathBuf};

/// The layout this version writes (metadata.json `layoutVersion`, the store's `user_version`).
pub const LAYOUT_VERSION: u32 = 2;

pub const STORE_FILE: &str = "data/run.db";
pub const TENSORS_FILE: &str = "data/tensors.db";
pub const BLOBS_FILE: &str = "media/blobs.db";
pub const OUTPUT_FILE: &str = "logs/output.log";

/// Folders a run gets when it is created.
pub const FOLDERS: [&str; 4] = ["data", "media", "logs", "wal"];

/// Pages of the store: a run with 10,000 series appends a few dozen bytes to each per burst,
/// and every page a burst touches is copied to the WAL whole, so pages are small.
pub const STORE_PAGE_SIZE: u32 = 4096;

/// Chunks of a series column: the first holds 8 points (32 f64s) and they double up to 256 KiB
/// (8,192 points), so a metric of 20 points costs a 1 KiB chunk rather than the 128 KiB the
/// column format defaults to, and a long one is cut into chunks that a burst appends to in place.
pub const SERIES_CHUNKS: ChunkOptions = ChunkOptions {
    min_chunk_bytes: 256,
    max_chunk_bytes: Some(256 << 10),
};

/// f64s per stored point: step, global step, timestamp (ms), value.
pub const POINT_FIELDS: usize = 4;

pub fn store_path(run_dir: &Path) -> PathBuf {
    run_dir.join(STORE_FILE)
}
pub fn tensors_path(run_dir: &Path) -> PathBuf {
    run_dir.join(TENSORS_FILE)
}
pub fn blobs_path(run_dir: &Path) -> PathBuf {
    run_dir.join(BLOBS_FILE)
}
pub fn output_path(run_dir: &Path) -> PathBuf {
    run_dir.join(OUTPUT_FILE)
}

/// The column holding series `id`'s points, row-major: `[step, global_step, timestamp, value]`
/// per point, all f64 (the log carries them as f64, so nothing is rounded).
pub fn series_column(id: i64) -> String {
    format!("series/{id}")
}

/// What kind of series a `series` row is.
pub const SCALAR: &str = "scalar";
pub const HISTOGRAM: &str = "histogram";

/// Tables of the store next to the column tables (`col_meta`, `col_chunks`, `kohakuvault_meta`).
pub const STORE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS series(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0, last_step INTEGER, last_global_step INTEGER,
    last_timestamp INTEGER, last_value REAL, min REAL, max REAL, UNIQUE(kind, name));
CREATE TABLE IF NOT EXISTS histograms(series INTEGER NOT NULL, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, nan INTEGER NOT NULL,
    posinf INTEGER NOT NULL, neginf INTEGER NOT NULL, edges BLOB NOT NULL, counts BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS histograms_by_series ON histograms(series, step);
CREATE TABLE IF NOT EXISTS steps(step INTEGER NOT NULL, global_step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS media(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    idx INTEGER NOT NULL DEFAULT 0, media_hash TEXT NOT NULL, format TEXT NOT NULL,
    type TEXT NOT NULL, caption TEXT, width INTEGER, height INTEGER, size INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS media_by_name ON media(name, step);
CREATE TABLE IF NOT EXISTS tables(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    columns TEXT NOT NULL, column_types TEXT NOT NULL, rows TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tables_by_name ON tables(name, step);
CREATE TABLE IF NOT EXISTS tensors(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    kv_file TEXT NOT NULL, kv_key TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL,
    metadata TEXT);
CREATE INDEX IF NOT EXISTS tensors_by_name ON tensors(name, step);
CREATE TABLE IF NOT EXISTS kernel_density(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    kv_file TEXT NOT NULL, kv_key TEXT NOT NULL, points INTEGER NOT NULL,
    bandwidth REAL NOT NULL, count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS kde_by_name ON kernel_density(name, step);
CREATE TABLE IF NOT EXISTS board_writers(writer TEXT PRIMARY KEY, pos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS board_names(writer TEXT NOT NULL, id INTEGER NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY(writer, id));
CREATE TABLE IF NOT EXISTS rejected(id INTEGER PRIMARY KEY, writer TEXT NOT NULL,
    pos INTEGER NOT NULL, step INTEGER, name TEXT, kind TEXT NOT NULL, error TEXT NOT NULL,
    meta TEXT, data BLOB);
";

/// Which layout a run folder holds: 2 once its store exists; 1 when only 0.1's files do
/// (`data/metadata.db`, `data/metrics/`); a folder with neither is new (2).
pub fn version_of(run_dir: &Path) -> u32 {
    if store_path(run_dir).exists() {
        LAYOUT_VERSION
    } else if super::legacy::is_legacy(run_dir) {
        1
    } else {
        LAYOUT_VERSION
    }
}
