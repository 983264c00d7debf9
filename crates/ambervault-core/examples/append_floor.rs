//! The floor of `bench/columns`' uncached single appends: what SQLite itself needs to commit one
//! appended value, at a given page size.
//!
//!   cargo run --release -p ambervault-core --example append_floor -- <dir> <count> <page_size> <repeats>
//!
//! Prints one JSON object of median microseconds per committed append:
//! - `row_insert`: a one-row INSERT into a plain table, one transaction each (better-sqlite3's
//!   row per value). The commit writes one page.
//! - `blob_and_length`: the KohakuVault layout at its cheapest: an incremental BLOB write at the
//!   end of a chunk plus the `UPDATE` of the column's length, one transaction each. The commit
//!   writes two pages (docs/format.md makes `col_meta.length` authoritative), so no column in this
//!   layout can commit an append as cheaply as a one-row INSERT.
//! - `core`: `ColumnVault::extend_bytes` of one f64: everything but napi and TypeScript.

mod floor;

use ambervault_core::col::{ChunkOptions, ColumnVault};
use ambervault_core::conn::{self, OpenOptions};
use rusqlite::{params, MAIN_DB};
use std::time::Instant;

/// Microseconds per call of `f(i)` for `i` in `0..n`.
fn per_call(n: usize, mut f: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_secs_f64() / n as f64 * 1e6
}

fn main() {
    let (dir, n, page, repeats) = floor::args("append_floor <dir> <count> <page_size> <repeats>");
    let opts = OpenOptions {
        page_size: Some(page as u32),
        ..Default::default()
    };
    let (mut rows, mut blobs, mut cores) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..repeats {
        let c = conn::open(&dir.join(format!("floor-row-{page}-{r}.db")), &opts).expect("open");
        c.execute_batch("CREATE TABLE t(v REAL NOT NULL)")
            .expect("table");
        let mut ins = c.prepare("INSERT INTO t(v) VALUES (?1)").expect("prepare");
        rows.push(per_call(n, |i| {
            ins.execute([i as f64]).expect("insert");
        }));

        let c = conn::open(&dir.join(format!("floor-blob-{page}-{r}.db")), &opts).expect("open");
        c.execute_batch(
            "CREATE TABLE meta(id INTEGER PRIMARY KEY, length INTEGER NOT NULL);
             CREATE TABLE chunks(id INTEGER PRIMARY KEY, data BLOB NOT NULL);
             INSERT INTO meta VALUES (1, 0);",
        )
        .expect("tables");
        c.execute(
            "INSERT INTO chunks VALUES (1, zeroblob(?1))",
            [(n * 8).max(8) as i64],
        )
        .expect("chunk");
        blobs.push(per_call(n, |i| {
            let step = |sql: &str| c.prepare_cached(sql).and_then(|mut s| s.execute([]));
            step("BEGIN IMMEDIATE").expect("begin");
            let mut blob = c
                .blob_open(MAIN_DB, c"chunks", c"data", 1, false)
                .expect("blob");
            blob.write_at(&(i as f64).to_le_bytes(), i * 8)
                .expect("write");
            drop(blob);
            c.prepare_cached("UPDATE meta SET length = ?1 WHERE id = 1")
                .and_then(|mut s| s.execute(params![i as i64 + 1]))
                .expect("length");
            step("COMMIT").expect("commit");
        }));

        let path = dir.join(format!("floor-core-{page}-{r}.db"));
        let cv = ColumnVault::open(&path, &opts, ChunkOptions::default()).expect("open");
        let col = cv.create("c", "f64").expect("column");
        cores.push(per_call(n, |i| {
            cv.extend_bytes(&col, &(i as f64).to_le_bytes())
                .expect("append");
        }));
    }
    println!(
        "{{\"row_insert\":{:.2},\"blob_and_length\":{:.2},\"core\":{:.2}}}",
        floor::median(rows),
        floor::median(blobs),
        floor::median(cores)
    );
}
