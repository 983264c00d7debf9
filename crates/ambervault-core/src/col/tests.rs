use super::handle::Storage;
use super::*;
use crate::conn::OpenOptions;
use crate::ErrorKind;
use std::sync::{Arc, Mutex};

fn le_i64(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
fn from_le_i64(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn vault(dir: &tempfile::TempDir, min: u64, max: u64) -> ColumnVault {
    ColumnVault::open(
        &dir.path().join("c.db"),
        &OpenOptions::default(),
        ChunkOptions {
            min_chunk_bytes: min,
            max_chunk_bytes: Some(max),
        },
    )
    .unwrap()
}

/// Invariants of docs/format.md ("Chunks"): every chunk but the last is exactly MAX, none is
/// larger.
fn check_chunks(cv: &ColumnVault, col: &ColumnHandle) {
    let Storage::Fixed(m) = &col.storage else {
        panic!("fixed")
    };
    let len = cv.len(col).unwrap();
    cv.with_conn(|c| {
        let mut st = c
            .prepare("SELECT chunk_idx, length(data) FROM col_chunks WHERE col_id = ?1 ORDER BY chunk_idx")
            .unwrap();
        let rows: Vec<(i64, i64)> = st
            .query_map([m.col_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let bytes = len * m.spec.elem_size;
        let want_chunks = bytes.div_ceil(m.spec.max);
        assert_eq!(rows.len() as u64, want_chunks, "chunk count for {bytes} bytes");
        for (i, (idx, size)) in rows.iter().enumerate() {
            assert_eq!(*idx, i as i64);
            assert!(*size as u64 <= m.spec.max);
            if (i as u64) + 1 < want_chunks {
                assert_eq!(*size as u64, m.spec.max, "chunk {i} not full");
            }
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn extend_read_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 512);
    let col = cv.create("x", "i64").unwrap();
    let vals: Vec<i64> = (0..1000).map(|i| i * 7 - 300).collect();
    assert_eq!(cv.extend_bytes(&col, &le_i64(&vals)).unwrap(), 1000);
    assert_eq!(from_le_i64(&cv.read_bytes(&col, 0, 1000).unwrap()), vals);
    check_chunks(&cv, &col);
    drop(cv);
    let cv = vault(&dir, 16, 512);
    let col = cv.column("x").unwrap();
    assert_eq!(cv.len(&col).unwrap(), 1000);
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 990, 2000).unwrap()),
        &vals[990..]
    );
}

#[test]
fn growth_jumps_once_to_the_smallest_size_that_fits() {
    // Appends of every size into chunks of 16..4096 bytes: after each one, the last chunk is the
    // smallest min*2^j holding its bytes (docs/format.md, "Chunks"), `actual_size` mirrors the
    // blob, and the bytes read back are the model's (growth rewrites splice the new bytes in
    // correctly).
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 4096);
    let col = cv.create("g", "i64").unwrap();
    let Storage::Fixed(m) = &col.storage else {
        panic!("fixed")
    };
    let mut model: Vec<i64> = Vec::new();
    for (step, n) in [1usize, 1, 3, 10, 40, 200, 1, 511, 7, 1000, 2]
        .iter()
        .enumerate()
    {
        let vals: Vec<i64> = (0..*n as i64).map(|k| k * 31 + step as i64).collect();
        cv.extend_bytes(&col, &le_i64(&vals)).unwrap();
        model.extend(&vals);
        let used = (model.len() * 8) as u64;
        let last_used = used - (used - 1) / m.spec.max * m.spec.max;
        let (size, actual): (i64, i64) = cv
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT length(data), actual_size FROM col_chunks WHERE col_id = ?1 ORDER BY chunk_idx DESC LIMIT 1",
                    [m.col_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!(size, actual, "actual_size mirrors the blob");
        assert_eq!(
            size as u64,
            m.spec.capacity_for(last_used),
            "after step {step}"
        );
        check_chunks(&cv, &col);
        assert_eq!(
            from_le_i64(&cv.read_bytes(&col, 0, u64::MAX).unwrap()),
            model
        );
    }
}

/// `col_meta`'s (min, max) of a stored column.
fn stored_chunk_sizes(cv: &ColumnVault, name: &str) -> (i64, i64) {
    cv.with_conn(|c| {
        Ok(c.query_row(
            "SELECT min_chunk_bytes, max_chunk_bytes FROM col_meta WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    })
    .unwrap()
}

#[test]
fn default_chunks_are_capped_low_but_always_fit_an_element() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.db");
    let cv = ColumnVault::open(&path, &OpenOptions::default(), ChunkOptions::default()).unwrap();
    let max = NEW_COLUMN_MAX_CHUNK_BYTES as i64;
    cv.create("f", "f64").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "f"), (131_072, max));
    cv.create("s", "str:utf8").unwrap();
    let data = NEW_DATA_CHUNK_MAX_BYTES as i64;
    assert_eq!(stored_chunk_sizes(&cv, "s_data"), (data, data));
    // The index is aligned to its 12-byte entries, as KohakuVault aligns it.
    assert_eq!(stored_chunk_sizes(&cv, "s_idx"), (131_076, max / 12 * 12));

    // An element larger than the default cap gets chunks of one element, not an error...
    let big = cv.create("v", "vec:f32:512:512").unwrap();
    let es = 1 + (1 << 20); // a type byte and 512 x 512 f32
    assert_eq!(stored_chunk_sizes(&cv, "v"), (es, es));
    let elem: Vec<u8> = (0..es).map(|i| (i % 251) as u8).collect();
    cv.extend_bytes(&big, &[elem.clone(), elem.clone()].concat())
        .unwrap();
    assert_eq!(cv.read_bytes(&big, 1, 2).unwrap(), elem);
    check_chunks(&cv, &big);
    drop(cv);

    // ...and so does a minimum above it; a maximum given explicitly is taken as it is.
    let opts = |min, max| ChunkOptions {
        min_chunk_bytes: min,
        max_chunk_bytes: max,
    };
    let cv = ColumnVault::open(&path, &OpenOptions::default(), opts(1 << 20, None)).unwrap();
    cv.create("m", "i64").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "m"), (1 << 20, 1 << 20));
    cv.create("m12", "bytes:12").unwrap();
    let aligned = (1 << 20) / 12 * 12 + 12;
    assert_eq!(stored_chunk_sizes(&cv, "m12"), (aligned, aligned));
    // Data chunks stay small unless a maximum is given (then they take it like the rest).
    cv.create("ms", "msgpack").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "ms_data"), (data, data));
    drop(cv);
    let cv = ColumnVault::open(&path, &OpenOptions::default(), opts(4096, Some(8192))).unwrap();
    let err = cv.create("w", "vec:f32:64:64").unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(
        err.message.contains("raise maxChunkBytes"),
        "{}",
        err.message
    );
    cv.create("e", "i64").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "e"), (4096, 8192));
    cv.create("es", "str").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "es_data"), (4096, 8192));
    drop(cv);
    // Equal sizes that are no multiple of the element: chunks of max aligned down, not an error
    // (here the 12-byte entries of a variable-size index).
    let cv = ColumnVault::open(&path, &OpenOptions::default(), opts(65536, Some(65536))).unwrap();
    let s = cv.create("eq", "str:utf8").unwrap();
    assert_eq!(stored_chunk_sizes(&cv, "eq_idx"), (65532, 65532));
    let (b, e) = strs(&["a", "bc"]);
    cv.append(&s, &b, &e).unwrap();
    assert_eq!(read_strs(&cv, &s), ["a", "bc"]);
}

#[test]
fn chunk_boundary_stress_against_a_model() {
    // Appends of every size 1..40 elements with 16 B min and several max sizes, checked
    // against a plain Vec after every step, plus random slices.
    for max in [512u64, 1000, 4096] {
        let dir = tempfile::tempdir().unwrap();
        let cv = vault(&dir, 16, max);
        let col = cv.create("s", "i64").unwrap();
        let mut model: Vec<i64> = Vec::new();
        let mut next = 0i64;
        for round in 0..120u64 {
            let n = (round * 7 % 40) + 1;
            let batch: Vec<i64> = (0..n as i64).map(|k| next + k).collect();
            next += n as i64;
            cv.extend_bytes(&col, &le_i64(&batch)).unwrap();
            model.extend(&batch);
            let len = model.len() as u64;
            let a = (round * 13) % len;
            let b = (a + round * 31 % 200).min(len);
            assert_eq!(
                from_le_i64(&cv.read_bytes(&col, a, b).unwrap()),
                &model[a as usize..b as usize],
                "max {max} round {round}"
            );
        }
        assert_eq!(
            from_le_i64(&cv.read_bytes(&col, 0, u64::MAX).unwrap()),
            model
        );
        check_chunks(&cv, &col);
    }
}

#[test]
fn several_columns_in_one_transaction_commit_or_roll_back_together() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 256);
    let step = cv.ensure("m/step", "i64").unwrap();
    let val = cv.ensure("m/value", "f64").unwrap();
    cv.write(|w| {
        w.extend(&step, &le_i64(&[1, 2]))?;
        w.extend(
            &val,
            &[1.5f64, 2.5]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        )
    })
    .unwrap();
    let e = cv
        .write(|w| {
            w.extend(&step, &le_i64(&[3]))?;
            w.extend(&val, &[1u8, 2, 3]) // not a whole f64: the whole batch must roll back
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("m/value"), "{}", e.message);
    assert_eq!(cv.len(&step).unwrap(), 2);
    assert_eq!(cv.len(&val).unwrap(), 2);
    let again = cv.ensure("m/step", "i64").unwrap();
    assert_eq!(again.name, "m/step");
    let e = cv.ensure("m/step", "f64").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
}

#[test]
fn delete_insert_clear_and_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 64);
    let col = cv.create("d", "i64").unwrap();
    let mut model: Vec<i64> = (0..50).collect();
    cv.extend_bytes(&col, &le_i64(&model)).unwrap();
    cv.delete(&col, Bounds::Range(3, 20)).unwrap();
    model.drain(3..20);
    cv.insert(&col, 5, &le_i64(&[100, 101, 102]), &[]).unwrap();
    model.splice(5..5, [100, 101, 102]);
    cv.set(&col, 0, &le_i64(&[-1]), &[]).unwrap();
    model[0] = -1;
    assert_eq!(from_le_i64(&cv.read_bytes(&col, 0, 1000).unwrap()), model);
    check_chunks(&cv, &col);

    cv.clear(&col).unwrap();
    assert_eq!(cv.len(&col).unwrap(), 0);
    cv.extend_bytes(&col, &le_i64(&(0..30).collect::<Vec<_>>()))
        .unwrap();
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 0, 100).unwrap()),
        (0..30).collect::<Vec<_>>()
    );
    check_chunks(&cv, &col);

    // delete frees the chunks; a column reusing the id starts empty.
    assert!(cv.delete_column("d").unwrap());
    assert!(!cv.delete_column("d").unwrap());
    let n: i64 = cv
        .with_conn(|c| Ok(c.query_row("SELECT count(*) FROM col_chunks", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 0);
    // Plant an orphan chunk under the id the next column will get (as a writer without
    // foreign keys, or a crash in an older version, could leave behind).
    cv.with_conn(|c| {
        c.execute_batch("PRAGMA foreign_keys = OFF")?;
        let next: i64 = c.query_row("SELECT coalesce(max(col_id), 0) + 1 FROM col_meta", [], |r| r.get(0))?;
        c.execute(
            "INSERT INTO col_chunks (col_id, chunk_idx, data, actual_size) VALUES (?1, 0, x'ffffffffffffffff', 8)",
            [next],
        )?;
        c.execute_batch("PRAGMA foreign_keys = ON")?;
        Ok(())
    })
    .unwrap();
    let fresh = cv.create("fresh", "i64").unwrap();
    cv.extend_bytes(&fresh, &le_i64(&[5])).unwrap();
    assert_eq!(from_le_i64(&cv.read_bytes(&fresh, 0, 10).unwrap()), vec![5]);
}

#[test]
fn bad_input_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 64);
    assert_eq!(
        cv.create("a", "q9").unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    cv.create("a", "i64").unwrap();
    let e = cv.create("a", "i64").unwrap_err();
    assert!(e.message.contains("already exists"));
    let e = cv.column("nope").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.message.contains("nope"));
    // An element larger than MAX cannot be stored.
    let e = cv.create("big", "bytes:100").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    let col = cv.column("a").unwrap();
    assert_eq!(
        cv.set(&col, 0, &le_i64(&[1]), &[]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    // Element ends that go back or past the bytes: refused by a write (placing the elements)
    // and by a call that counts them first (set), and nothing is stored.
    let s = cv.create("s", "str").unwrap();
    for ends in [&[2, 1][..], &[4]] {
        let e = cv.append(&s, b"abc", ends).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.contains("not increasing"), "{}", e.message);
    }
    cv.append(&s, b"abc", &[3]).unwrap();
    let e = cv.set(&s, 0, b"abc", &[2, 1]).unwrap_err();
    assert!(e.message.contains("not increasing"), "{}", e.message);
    assert_eq!(cv.len(&s).unwrap(), 1);
    cv.close().unwrap();
    assert_eq!(cv.len(&col).unwrap_err().kind, ErrorKind::Closed);
}

#[test]
fn a_shared_connection_writes_columns_and_other_tables_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let c = crate::conn::open(&dir.path().join("run.db"), &OpenOptions::default()).unwrap();
    let shared: SharedConn = Arc::new(Mutex::new(c));
    let cv = ColumnVault::from_shared(shared.clone(), "run.db", ChunkOptions::default()).unwrap();
    let col = cv.ensure("v", "f64").unwrap();
    {
        let c = shared.lock().unwrap();
        c.execute_batch("CREATE TABLE kv(key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL); BEGIN IMMEDIATE; INSERT INTO kv VALUES (x'01', x'02');")
            .unwrap();
        ColumnWriter::new(&c)
            .extend(&col, &1.0f64.to_le_bytes())
            .unwrap();
        c.execute_batch("ROLLBACK").unwrap();
    }
    assert_eq!(cv.len(&col).unwrap(), 0, "rolled back with the kv write");
}

fn strs(v: &[&str]) -> (Vec<u8>, Vec<usize>) {
    let mut b = Vec::new();
    let mut ends = Vec::new();
    for s in v {
        b.extend_from_slice(s.as_bytes());
        ends.push(b.len());
    }
    (b, ends)
}

fn read_strs(cv: &ColumnVault, col: &ColumnHandle) -> Vec<String> {
    let (b, offs) = cv.slice(col, Bounds::Range(0, u64::MAX)).unwrap();
    offs.windows(2)
        .map(|w| String::from_utf8(b[w[0]..w[1]].to_vec()).unwrap())
        .collect()
}

#[test]
fn var_size_appends_updates_and_chunk_rules() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 64);
    let col = cv.create("t", "str:utf8").unwrap();
    let mut model: Vec<String> = Vec::new();
    for round in 0..60 {
        let batch: Vec<String> = (0..(round % 5 + 1))
            .map(|k| "x".repeat((round * 7 + k * 13) % 50) + &format!("{round}:{k}"))
            .collect();
        let refs: Vec<&str> = batch.iter().map(|s| s.as_str()).collect();
        let (b, ends) = strs(&refs);
        cv.append(&col, &b, &ends).unwrap();
        model.extend(batch);
    }
    // One element larger than MAX gets a chunk of its own.
    let big = "B".repeat(200);
    let (b, ends) = strs(&[&big]);
    cv.append(&col, &b, &ends).unwrap();
    model.push(big);
    assert_eq!(read_strs(&cv, &col), model);

    // same size, smaller, larger
    model[3] = model[3].to_uppercase();
    cv.set(&col, 3, model[3].as_bytes(), &[model[3].len()])
        .unwrap();
    cv.set(&col, 4, b"s", &[1]).unwrap();
    model[4] = "s".into();
    let larger = "L".repeat(70);
    cv.set(&col, 5, larger.as_bytes(), &[larger.len()]).unwrap();
    model[5] = larger;
    cv.delete(&col, Bounds::Range(0, 2)).unwrap();
    model.drain(0..2);
    let (b, ends) = strs(&["ins1", "ins2"]);
    cv.insert(&col, 1, &b, &ends).unwrap();
    model.splice(1..1, ["ins1".to_string(), "ins2".to_string()]);
    assert_eq!(read_strs(&cv, &col), model);
    cv.compact(&col).unwrap();
    assert_eq!(read_strs(&cv, &col), model);

    // No data chunk exceeds MAX unless it holds a single oversized element.
    let Storage::Var(v) = &col.storage else {
        panic!()
    };
    let sizes: Vec<(i64, i64)> = cv
        .with_conn(|c| {
            let mut st =
                c.prepare("SELECT length(data), bytes_used FROM col_chunks WHERE col_id = ?1")?;
            let r = st
                .query_map([v.data.col_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(r)
        })
        .unwrap();
    assert!(
        sizes.iter().all(|(len, used)| *len <= 64 || len == used),
        "{sizes:?}"
    );

    let listed = cv.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "t");
    assert_eq!(listed[0].length, model.len() as u64);
    drop(cv);
    let cv = vault(&dir, 16, 64);
    let col = cv.column("t").unwrap();
    assert_eq!(read_strs(&cv, &col), model);
    cv.clear(&col).unwrap();
    let (b, ends) = strs(&["again"]);
    cv.append(&col, &b, &ends).unwrap();
    assert_eq!(read_strs(&cv, &col), vec!["again".to_string()]);
    assert!(cv.delete_column("t").unwrap());
    let n: i64 = cv
        .with_conn(|c| Ok(c.query_row("SELECT count(*) FROM col_chunks", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn cached_appends_are_coherent_and_flush_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let cv = Arc::new(vault(&dir, 16, 128));
    let col = cv.create("c", "i64").unwrap();
    let s = cv.create("s", "str").unwrap();
    cv.extend_bytes(&col, &le_i64(&[1, 2])).unwrap();
    cv.enable_cache(CacheOptions {
        flush_bytes: 1 << 20,
        flush_interval: None,
    })
    .unwrap();
    for i in 3..=40 {
        cv.append(&col, &le_i64(&[i]), &[]).unwrap();
    }
    cv.append(&s, b"abc", &[1, 3]).unwrap();
    assert_eq!(cv.len(&col).unwrap(), 40);
    assert_eq!(cv.len(&s).unwrap(), 2);
    // Nothing reached the file yet: another connection sees the stored 2.
    let other = vault(&dir, 16, 128);
    assert_eq!(other.len(&other.column("c").unwrap()).unwrap(), 2);
    // Reads straddling stored and cached elements.
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 0, 100).unwrap()),
        (1..=40).collect::<Vec<_>>()
    );
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 1, 4).unwrap()),
        vec![2, 3, 4]
    );
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 10, 12).unwrap()),
        vec![11, 12]
    );
    // A set flushes first, then applies.
    cv.set(&col, 39, &le_i64(&[-40]), &[]).unwrap();
    assert_eq!(other.len(&other.column("c").unwrap()).unwrap(), 40);
    assert_eq!(
        from_le_i64(&cv.read_bytes(&col, 38, 40).unwrap()),
        vec![39, -40]
    );
    let (b, offs) = cv.slice(&s, Bounds::Range(0, 10)).unwrap();
    assert_eq!((b.as_slice(), offs), (&b"abc"[..], vec![0, 1, 3]));
    // A bad batch fails at its own call.
    assert_eq!(
        cv.append(&col, &[1, 2, 3], &[]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    // Interval flushing.
    cv.enable_cache(CacheOptions {
        flush_bytes: 1 << 20,
        flush_interval: Some(std::time::Duration::from_millis(20)),
    })
    .unwrap();
    cv.append(&col, &le_i64(&[41]), &[]).unwrap();
    let t0 = std::time::Instant::now();
    while other.len(&other.column("c").unwrap()).unwrap() != 41 {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "interval flush never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Close flushes.
    cv.append(&col, &le_i64(&[42]), &[]).unwrap();
    cv.close().unwrap();
    assert_eq!(other.len(&other.column("c").unwrap()).unwrap(), 42);
}

#[test]
fn bounds_resolve_like_js_slices_and_indices() {
    let r = |b: Bounds, len| b.resolve("c", len);
    assert_eq!(r(Bounds::Slice(None, None), 5).unwrap(), (0, 5));
    assert_eq!(r(Bounds::Slice(Some(-2), None), 5).unwrap(), (3, 5));
    assert_eq!(r(Bounds::Slice(Some(-9), Some(-1)), 5).unwrap(), (0, 4));
    assert_eq!(r(Bounds::Slice(Some(4), Some(2)), 5).unwrap(), (4, 4));
    assert_eq!(r(Bounds::Slice(Some(7), Some(9)), 5).unwrap(), (5, 5));
    assert_eq!(r(Bounds::Index(-1), 5).unwrap(), (4, 5));
    assert_eq!(r(Bounds::Index(0), 5).unwrap(), (0, 1));
    for bad in [5, -6, i64::MIN] {
        assert_eq!(
            r(Bounds::Index(bad), 5).unwrap_err().kind,
            ErrorKind::InvalidArgument
        );
    }
    assert_eq!(r(Bounds::Range(2, 99), 5).unwrap(), (2, 5));
    assert!(r(Bounds::Range(6, 9), 5).is_err());
}

#[test]
fn spans_read_like_slices_and_indices_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    // 8-byte elements in chunks of at most 48 bytes: 6 elements per chunk, many chunks.
    let cv = vault(&dir, 16, 48);
    let col = cv.create("x", "i64").unwrap();
    let model: Vec<i64> = (0..100).map(|i| i * 3 - 7).collect();
    cv.extend_bytes(&col, &le_i64(&model)).unwrap();
    let n = model.len() as i64;
    for (a, b) in [(0, 100), (5, 7), (6, 12), (-13, -1), (95, 200), (-200, 3)] {
        let got: Vec<i64> = cv
            .read_fixed::<i64>(&col, Bounds::Slice(Some(a), Some(b)), 1)
            .unwrap();
        let (s, e) = Bounds::Slice(Some(a), Some(b)).resolve("x", 100).unwrap();
        assert_eq!(got, model[s as usize..e as usize], "slice {a}..{b}");
    }
    for i in [0, 5, 6, 47, 99, -1, -100] {
        let got = cv.read_fixed::<i64>(&col, Bounds::Index(i), 1).unwrap();
        assert_eq!(got, vec![model[(i + if i < 0 { n } else { 0 }) as usize]]);
    }
    assert_eq!(
        cv.read_fixed::<i64>(&col, Bounds::Index(100), 1)
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    // Spans of a range straddling chunks: one per chunk touched, in order, covering the bytes.
    let m = col.fixed().unwrap().clone();
    cv.with_reader(|c, r| {
        let spans = r.stream_spans(c, &m, 5 * 8, 8 * 8)?;
        assert_eq!(
            spans.iter().map(|s| (s.offset, s.len)).collect::<Vec<_>>(),
            vec![(40, 8), (0, 48), (0, 8)]
        );
        assert_eq!(spans.iter().map(|s| s.len).sum::<u64>(), 64);
        let mut out = [std::mem::MaybeUninit::new(0u8); 48];
        r.read_span(c, spans[1], &mut out)?;
        // SAFETY: initialised above and overwritten by the read.
        let out = out.map(|b| unsafe { b.assume_init() });
        assert_eq!(from_le_i64(&out), model[6..12]);
        Ok(())
    })
    .unwrap();
    // Variable-size: indices and slices over chunks, negative from the end.
    let s = cv.create("s", "str").unwrap();
    let words: Vec<String> = (0..60)
        .map(|i| "w".repeat(i % 11) + &i.to_string())
        .collect();
    let (bytes, ends) = strs(&words.iter().map(|w| w.as_str()).collect::<Vec<_>>());
    cv.append(&s, &bytes, &ends).unwrap();
    let (b, offs) = cv.slice(&s, Bounds::Index(-3)).unwrap();
    assert_eq!((b.as_slice(), offs.len()), (words[57].as_bytes(), 2));
    let (b, offs) = cv.slice(&s, Bounds::Slice(Some(-12), Some(-2))).unwrap();
    let got: Vec<&str> = offs
        .windows(2)
        .map(|w| std::str::from_utf8(&b[w[0]..w[1]]).unwrap())
        .collect();
    assert_eq!(
        got,
        words[48..58].iter().map(|w| w.as_str()).collect::<Vec<_>>()
    );
}

#[test]
fn held_reads_see_other_connections_writes_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let a = vault(&dir, 16, 64);
    let col = a.create("x", "i64").unwrap();
    a.extend_bytes(&col, &le_i64(&[1, 2, 3])).unwrap();
    assert_eq!(a.len(&col).unwrap(), 3);
    assert!(a.read_held(), "a read keeps its snapshot");
    assert_eq!(from_le_i64(&a.read_bytes(&col, 0, 9).unwrap()), [1, 2, 3]);

    // Another connection appends (growing a chunk and adding new ones) and rewrites one element.
    let b = vault(&dir, 16, 64);
    let bc = b.column("x").unwrap();
    b.extend_bytes(&bc, &le_i64(&(4..=20).collect::<Vec<_>>()))
        .unwrap();
    b.set(&bc, 0, &le_i64(&[-1]), &[]).unwrap();
    // The very next read sees both, through fresh chunk rowids and lengths.
    assert_eq!(a.len(&col).unwrap(), 20);
    let mut want: Vec<i64> = (1..=20).collect();
    want[0] = -1;
    assert_eq!(from_le_i64(&a.read_bytes(&col, 0, 99).unwrap()), want);
    assert_eq!(
        from_le_i64(&a.read_fixed::<u8>(&col, Bounds::Index(-1), 8).unwrap()),
        [20]
    );

    // Our own writes end the snapshot and are seen too.
    a.extend_bytes(&col, &le_i64(&[21])).unwrap();
    assert_eq!(a.len(&col).unwrap(), 21);
    // A clear elsewhere drops the chunks we had cached.
    b.clear(&bc).unwrap();
    assert_eq!(a.len(&col).unwrap(), 0);
    assert!(a.read_bytes(&col, 0, 5).unwrap().is_empty());

    // Released, the snapshot no longer holds back a truncating checkpoint.
    assert!(a.read_held());
    a.release_read().unwrap();
    assert!(!a.read_held());
    b.checkpoint().unwrap();
    let wal = dir.path().join("c.db-wal");
    assert_eq!(std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0), 0);
    // Reads after a release begin a new snapshot.
    b.extend_bytes(&bc, &le_i64(&[7])).unwrap();
    assert_eq!(from_le_i64(&a.read_bytes(&col, 0, 5).unwrap()), [7]);
}

/// Big extends leave their checkpoints to the vault's checkpoint thread (checkpointer.rs): the
/// frames reach the database file without another write, the WAL stays bounded over a long
/// load, and close joins the thread with everything readable after reopening.
#[test]
fn checkpoints_run_off_the_writer_and_the_wal_stays_bounded() {
    use crate::checkpointer::{INLINE_FRAMES, TRIGGER_FRAMES};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let wal = dir.path().join("c.db-wal");
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    // The bound below is in frames: at the format's 32 KiB pages a chunk rewrite (growth of a
    // 16 MiB chunk) stays within its slack.
    const PAGE: u64 = 32768;
    let open = || {
        let opts = OpenOptions {
            page_size: Some(PAGE as u32),
            ..Default::default()
        };
        let chunks = ChunkOptions {
            min_chunk_bytes: 1 << 17,
            max_chunk_bytes: Some(1 << 24),
        };
        ColumnVault::open(&path, &opts, chunks).unwrap()
    };
    let cv = open();
    let col = cv.create("x", "i64").unwrap();
    // A little past the trigger: only the thread copies these frames into the file.
    let frame_values = PAGE as i64 / 8;
    let first: Vec<i64> = (0..(TRIGGER_FRAMES as i64 + 50) * frame_values).collect();
    cv.extend_bytes(&col, &le_i64(&first)).unwrap();
    let t0 = Instant::now();
    while size(&path) < first.len() as u64 * 8 || cv.background_checkpoints() == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the database file never received the WAL's frames ({} bytes)",
            size(&path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A long load of many small extends: the WAL never grows far past the inline limit.
    let mut largest = 0;
    let batch: Vec<i64> = (0..frame_values * 8).collect();
    let rounds = (2 * INLINE_FRAMES / 8) as usize;
    for _ in 0..rounds {
        cv.extend_bytes(&col, &le_i64(&batch)).unwrap();
        largest = largest.max(size(&wal));
    }
    let bound = (INLINE_FRAMES as u64 + 64) * (PAGE + 24);
    assert!(
        largest <= bound,
        "WAL grew to {largest} bytes (bound {bound})"
    );
    cv.close().unwrap();
    drop(cv);
    let cv = open();
    let col = cv.column("x").unwrap();
    let total = first.len() as u64 + rounds as u64 * batch.len() as u64;
    assert_eq!(cv.len(&col).unwrap(), total);
    let tail = from_le_i64(&cv.read_bytes(&col, total - 3, total).unwrap());
    assert_eq!(tail, batch[batch.len() - 3..]);
}

/// A file the vault creates gets KohakuVault's ColumnVault page size unless another is asked
/// for; an existing file keeps its own.
#[test]
fn new_column_files_get_small_pages_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let page_of = |cv: &ColumnVault| {
        cv.with_conn(|c| Ok(c.query_row("PRAGMA page_size", [], |r| r.get::<_, u32>(0))?))
            .unwrap()
    };
    let path = dir.path().join("default.db");
    let cv = ColumnVault::open(&path, &OpenOptions::default(), ChunkOptions::default()).unwrap();
    assert_eq!(page_of(&cv), NEW_COLUMN_FILE_PAGE_SIZE);
    drop(cv);
    let asked = OpenOptions {
        page_size: Some(32768),
        ..Default::default()
    };
    let cv = ColumnVault::open(&path, &asked, ChunkOptions::default()).unwrap();
    assert_eq!(page_of(&cv), 4096, "an existing file keeps its page size");
    let big =
        ColumnVault::open(&dir.path().join("big.db"), &asked, ChunkOptions::default()).unwrap();
    assert_eq!(page_of(&big), 32768);
}

/// KohakuVault 0.8 grows chunks with `data || zeroblob(n)`, which leaves a TEXT value whose
/// `length()` counts characters up to the first NUL. Such chunks are read and written by their
/// bytes, and stay readable (docs/format.md, "Chunks").
#[test]
fn text_typed_chunks_are_read_and_written_by_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 64, 4096);
    let s = cv.create("s", "str:utf8").unwrap();
    let n = cv.create("n", "i64").unwrap();
    let words: Vec<String> = (0..40).map(|i| format!("héllo ✓ 日本語 {i}")).collect();
    let refs: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    let (b, e) = strs(&refs);
    cv.append(&s, &b, &e).unwrap();
    cv.extend_bytes(&n, &le_i64(&(0..100).collect::<Vec<_>>()))
        .unwrap();
    let texts = |cv: &ColumnVault| -> i64 {
        cv.with_conn(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM col_chunks WHERE typeof(data) = 'text'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap()
    };
    // Every chunk turned into TEXT, as KohakuVault's growth leaves them.
    cv.with_conn(|c| {
        c.execute("UPDATE col_chunks SET data = CAST(data AS TEXT)", [])?;
        Ok(())
    })
    .unwrap();
    assert!(texts(&cv) >= 2);
    cv.close().unwrap();
    let cv = vault(&dir, 64, 4096);
    let s = cv.column("s").unwrap();
    let n = cv.column("n").unwrap();
    assert_eq!(read_strs(&cv, &s), words);
    assert_eq!(
        from_le_i64(&cv.read_bytes(&n, 0, 100).unwrap()),
        (0..100).collect::<Vec<_>>()
    );
    // Appends (in place and growing), an update in place and one that moves.
    let mut want = words.clone();
    for i in 0..30 {
        let w = format!("ñ{i}");
        let (b, e) = strs(&[&w]);
        cv.append(&s, &b, &e).unwrap();
        want.push(w);
    }
    cv.set(&s, 3, "short".as_bytes(), &["short".len()]).unwrap();
    want[3] = "short".into();
    let long = "ü".repeat(50);
    cv.set(&s, 5, long.as_bytes(), &[long.len()]).unwrap();
    want[5] = long;
    cv.extend_bytes(&n, &le_i64(&[100, 101])).unwrap();
    cv.set(&n, 0, &le_i64(&[-1]), &[]).unwrap();
    assert_eq!(read_strs(&cv, &s), want);
    let mut nums: Vec<i64> = (0..102).collect();
    nums[0] = -1;
    assert_eq!(from_le_i64(&cv.read_bytes(&n, 0, 102).unwrap()), nums);
    cv.close().unwrap();
    let cv = vault(&dir, 64, 4096);
    assert_eq!(read_strs(&cv, &cv.column("s").unwrap()), want);
}

/// `get`, `slice`, `set`, `insert`, `delete` and `append` take either kind of column and raw
/// indexes, negative ones counting from the end, with the same range errors for both.
#[test]
fn one_element_api_for_both_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 64);
    let n = cv.create("n", "i64").unwrap();
    let s = cv.create("s", "str").unwrap();
    let words = |cv: &ColumnVault| read_strs(cv, &s);
    cv.append(&n, &le_i64(&[10, 11, 12]), &[]).unwrap();
    let (b, e) = strs(&["a", "b", "c"]);
    cv.append(&s, &b, &e).unwrap();

    assert_eq!(from_le_i64(&cv.get(&n, -1).unwrap()), [12]);
    assert_eq!(cv.get(&s, -3).unwrap(), b"a");
    for (col, at) in [(&n, 3), (&n, -4), (&s, 3), (&s, -4)] {
        let err = cv.get(col, at).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            err.message,
            format!(
                "column \"{}\": index {at} out of range for length 3",
                col.name
            )
        );
    }
    let (b, offs) = cv.slice(&n, Bounds::Slice(Some(-2), None)).unwrap();
    assert_eq!((from_le_i64(&b), offs), (vec![11, 12], vec![0, 8, 16]));

    // set: from a position, every element must exist; one transaction for many.
    cv.set(&n, -1, &le_i64(&[-12]), &[]).unwrap();
    cv.set(&s, -2, b"BBcc", &[2, 4]).unwrap();
    assert_eq!(
        from_le_i64(&cv.read_bytes(&n, 0, 3).unwrap()),
        [10, 11, -12]
    );
    assert_eq!(words(&cv), ["a", "BB", "cc"]);
    let err = cv.set(&n, 3, &le_i64(&[1]), &[]).unwrap_err();
    assert_eq!(
        err.message,
        "column \"n\": index 3 out of range for length 3"
    );
    let err = cv.set(&s, 2, b"xy", &[1, 2]).unwrap_err();
    assert_eq!(
        err.message,
        "column \"s\": 2 values at 2 run past the length 3"
    );
    assert_eq!(
        words(&cv),
        ["a", "BB", "cc"],
        "a failed set changes nothing"
    );
    cv.set(&n, 3, &[], &[]).unwrap();

    // insert: before a position, the length itself appends.
    assert_eq!(cv.insert(&n, -1, &le_i64(&[99]), &[]).unwrap(), 4);
    assert_eq!(cv.insert(&s, 3, b"z", &[1]).unwrap(), 4);
    assert_eq!(cv.insert(&s, 0, b"", &[0]).unwrap(), 5);
    assert_eq!(
        from_le_i64(&cv.read_bytes(&n, 0, 9).unwrap()),
        [10, 11, 99, -12]
    );
    assert_eq!(words(&cv), ["", "a", "BB", "cc", "z"]);
    let err = cv.insert(&s, -6, b"q", &[1]).unwrap_err();
    assert_eq!(
        err.message,
        "column \"s\": index -6 out of range for length 5"
    );

    // delete: one element or a range.
    assert_eq!(cv.delete(&n, Bounds::Index(-2)).unwrap(), 3);
    assert_eq!(cv.delete(&s, Bounds::Slice(Some(1), Some(-1))).unwrap(), 2);
    assert_eq!(
        from_le_i64(&cv.read_bytes(&n, 0, 9).unwrap()),
        [10, 11, -12]
    );
    assert_eq!(words(&cv), ["", "z"]);
    let err = cv.delete(&s, Bounds::Index(2)).unwrap_err();
    assert_eq!(
        err.message,
        "column \"s\": index 2 out of range for length 2"
    );

    // Offsets that do not cut `bytes` are refused before anything is written.
    assert_eq!(
        cv.insert(&s, 0, b"ab", &[2, 1]).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    // Fixed-size columns leave no fragments: compact has nothing to do.
    cv.compact(&n).unwrap();
    cv.compact(&s).unwrap();
    assert_eq!(words(&cv), ["", "z"]);
}

#[test]
fn exact_f64_reads_of_64_bit_integers() {
    let dir = tempfile::tempdir().unwrap();
    let cv = vault(&dir, 16, 64);
    let i = cv.create("i", "i64").unwrap();
    cv.append(&i, &le_i64(&[-(1 << 53), 1 << 53, 1 << 54]), &[])
        .unwrap();
    assert_eq!(
        cv.read_exact_f64(&i, Bounds::Slice(None, Some(2))).unwrap(),
        [-9007199254740992.0, 9007199254740992.0]
    );
    let err = cv
        .read_exact_f64(&i, Bounds::Slice(None, None))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("column \"i\""), "{}", err.message);
    assert!(
        err.message
            .contains("value 18014398509481984 is beyond 2^53"),
        "{}",
        err.message
    );
    let f = cv.create("f", "f64").unwrap();
    assert_eq!(
        cv.read_exact_f64(&f, Bounds::Slice(None, None))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
}

/// An append the cache took stays taken when the flush it triggers finds the file busy: the
/// caller (who may retry busy calls) sees success, the next explicit flush sees the error, and
/// nothing is written twice or lost.
#[test]
fn a_busy_threshold_flush_keeps_the_append_cached() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let quick = OpenOptions {
        busy_timeout: Some(std::time::Duration::from_millis(10)),
        ..OpenOptions::default()
    };
    let cv = Arc::new(ColumnVault::open(&path, &quick, ChunkOptions::default()).unwrap());
    let col = cv.create("c", "i64").unwrap();
    cv.enable_cache(CacheOptions {
        flush_bytes: 16,
        flush_interval: None,
    })
    .unwrap();
    let locker = crate::conn::open(&path, &OpenOptions::default()).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    cv.append(&col, &le_i64(&[1]), &[]).unwrap();
    cv.append(&col, &le_i64(&[2]), &[]).unwrap(); // passes flush_bytes: the flush is busy
    assert_eq!(cv.len(&col).unwrap(), 2);
    assert_eq!(cv.flush_cache().unwrap_err().kind, ErrorKind::Busy);
    // Not cached: a call that is not an append fails busy as a whole.
    assert_eq!(
        cv.set(&col, 0, &le_i64(&[5]), &[]).unwrap_err().kind,
        ErrorKind::Busy
    );
    locker.execute_batch("COMMIT").unwrap();
    cv.flush_cache().unwrap();
    let other = ColumnVault::open(&path, &OpenOptions::default(), ChunkOptions::default()).unwrap();
    let c = other.column("c").unwrap();
    assert_eq!(from_le_i64(&other.read_bytes(&c, 0, 9).unwrap()), [1, 2]);
}
