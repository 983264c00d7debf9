//! The floor of `bench/kv`: the same N point reads done in pure Rust, so the bench can say how
//! far the JS API is from SQLite's own cost.
//!
//!   cargo run --release -p ambervault-core --example kv_floor -- <dir> <count> <size> <repeats>
//!
//! Prints one JSON object of median seconds for N gets:
//! - `sqlite`: a prepared statement held across gets on a connection tuned like `KvStore`'s,
//!   one autocommit read transaction per get, the blob read in place (no copy): the least any
//!   SQLite-backed get can cost.
//! - `sqlite_one_txn`: the same inside a single read transaction, which shows what beginning
//!   and ending a read transaction per get costs.
//! - `core`: `KvStore::get_with` copying the payload once, as the JS binding does: everything
//!   but napi and the TypeScript layer.

mod floor;

use ambervault_core::conn::{self, OpenOptions};
use ambervault_core::kv::{Encoding, KvOptions, KvStore};
use std::time::Instant;

fn main() {
    let (dir, n, size, repeats) = floor::args("kv_floor <dir> <count> <size> <repeats>");
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("k:{i:08}").into_bytes()).collect();
    let value = vec![1u8; size];
    let (mut sqlite, mut one_txn, mut core) = (Vec::new(), Vec::new(), Vec::new());
    let mut no_mmap = Vec::new();
    for r in 0..repeats {
        let path = dir.join(format!("floor-{size}-{r}.db"));
        let mut store = KvStore::open(&path, KvOptions::default()).expect("open");
        for chunk in keys.chunks(1000) {
            store
                .put_many(chunk.iter().map(|k| (&k[..], Encoding::Raw, &value[..])))
                .expect("putMany");
        }

        let opts = KvOptions::default();
        let c = conn::open(&path, &OpenOptions::default()).expect("open");
        c.pragma_update(None, "cache_size", -i64::from(opts.page_cache_kib))
            .and_then(|_| c.pragma_update(None, "mmap_size", opts.mmap_bytes as i64))
            .expect("pragmas");
        let mut st = c
            .prepare("SELECT value FROM kv WHERE key = ?1")
            .expect("prepare");
        let read_all = |st: &mut rusqlite::Statement| {
            let mut total = 0usize;
            for k in &keys {
                let mut rows = st.query([&k[..]]).expect("query");
                let row = rows.next().expect("step").expect("row");
                total += row.get_ref(0).expect("col").as_blob().expect("blob").len();
            }
            assert_eq!(total, n * size);
        };
        read_all(&mut st); // warm the page cache, as the JS gets run after the puts
        let t = Instant::now();
        read_all(&mut st);
        sqlite.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        c.execute_batch("BEGIN").expect("begin");
        read_all(&mut st);
        c.execute_batch("COMMIT").expect("commit");
        one_txn.push(t.elapsed().as_secs_f64());
        drop(st);
        c.pragma_update(None, "mmap_size", 0).expect("pragma");
        let mut st = c
            .prepare("SELECT value FROM kv WHERE key = ?1")
            .expect("prepare");
        read_all(&mut st);
        let t = Instant::now();
        read_all(&mut st);
        no_mmap.push(t.elapsed().as_secs_f64());
        drop(st);
        drop(c);

        let t = Instant::now();
        let mut total = 0usize;
        for k in &keys {
            total += store
                .get_with(k, |_, p| p.to_vec().len())
                .expect("get")
                .expect("present");
        }
        core.push(t.elapsed().as_secs_f64());
        assert_eq!(total, n * size);
        drop(store);
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
    println!(
        "{{\"sqlite\":{},\"sqlite_no_mmap\":{},\"sqlite_one_txn\":{},\"core\":{}}}",
        floor::median(sqlite),
        floor::median(no_mmap),
        floor::median(one_txn),
        floor::median(core)
    );
}
