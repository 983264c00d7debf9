//! Store-level tests on real SQLite files.

use super::*;
use crate::ErrorKind;
use std::time::Duration;

fn open(dir: &tempfile::TempDir) -> KvStore {
    KvStore::open(dir.path().join("kv.db"), KvOptions::default()).unwrap()
}

fn keys(kv: &mut KvStore, range: &KeyRange, page: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    loop {
        let after = out.last().cloned();
        let mut got = Vec::new();
        kv.scan(range, after.as_deref(), page, false, |k, _| {
            got.push(k.to_vec())
        })
        .unwrap();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

#[test]
fn put_get_delete_and_the_magic_rule() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    kv.put(b"a", b"hello").unwrap();
    kv.put(b"m", &[0x89, 0x4B, 1, 2]).unwrap();
    kv.put_encoded(b"s", Encoding::Utf8, "hé".as_bytes())
        .unwrap();
    assert_eq!(kv.get(b"a").unwrap().unwrap().payload, b"hello");
    let m = kv.get(b"m").unwrap().unwrap();
    assert_eq!(
        (m.encoding, m.payload),
        (Encoding::Raw, vec![0x89, 0x4B, 1, 2])
    );
    let stored: Vec<u8> = kv
        .conn
        .query_row("SELECT value FROM kv WHERE key = x'6d'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored.len(), 14, "magic-led raw bytes carry a raw header");
    assert_eq!(kv.get(b"s").unwrap().unwrap().encoding, Encoding::Utf8);
    assert_eq!(kv.len().unwrap(), 3);
    assert!(kv.delete(b"a").unwrap());
    assert!(!kv.delete(b"a").unwrap());
    assert_eq!(kv.get(b"a").unwrap(), None);
}

#[test]
fn cache_is_coherent_and_flushes_in_one_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    kv.put(b"old", b"1").unwrap();
    kv.enable_cache(CacheOptions::default()).unwrap();
    kv.put(b"new", b"2").unwrap();
    assert!(kv.delete(b"old").unwrap());
    assert!(!kv.has(b"old").unwrap());
    assert_eq!(kv.get(b"new").unwrap().unwrap().payload, b"2");
    // Another connection does not see the pending writes yet.
    let other = open(&dir);
    assert!(other.has(b"old").unwrap());
    assert!(!other.has(b"new").unwrap());
    assert_eq!(kv.cache_pending().1, 2);
    assert_eq!(kv.len().unwrap(), 1, "size flushes and counts exactly");
    assert!(!other.has(b"old").unwrap());
    assert!(other.has(b"new").unwrap());
}

#[test]
fn a_failed_flush_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let mut kv = KvStore::open(
        &path,
        KvOptions {
            busy_timeout: Some(Duration::from_millis(50)),
            ..Default::default()
        },
    )
    .unwrap();
    kv.enable_cache(CacheOptions::default()).unwrap();
    for i in 0..100u32 {
        kv.put(format!("k{i}").as_bytes(), &i.to_le_bytes())
            .unwrap();
    }
    let locker = rusqlite::Connection::open(&path).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let e = kv.flush_cache().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Busy, "{e}");
    assert_eq!(kv.cache_pending().1, 100);
    locker.execute_batch("COMMIT").unwrap();
    assert_eq!(kv.flush_cache().unwrap(), 100);
    assert_eq!(kv.len().unwrap(), 100);
}

#[test]
fn capacity_and_threshold_trigger_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    kv.enable_cache(CacheOptions {
        cap_bytes: 10_000,
        flush_threshold: 4_000,
    })
    .unwrap();
    let other = open(&dir);
    kv.put(b"a", &[1; 3000]).unwrap();
    assert!(!other.has(b"a").unwrap());
    kv.put(b"b", &[1; 3000]).unwrap(); // crosses the threshold
    assert!(other.has(b"b").unwrap());
    kv.put(b"huge", &[1; 20_000]).unwrap(); // bigger than the cache: written through
    assert!(other.has(b"huge").unwrap());
}

#[test]
fn scans_page_by_keyset_and_prefix_bounds_handle_ff() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    let all: Vec<Vec<u8>> = vec![
        vec![0x61],
        vec![0x61, 0x00],
        vec![0x61, 0xFF],
        vec![0x61, 0xFF, 0x01],
        vec![0x61, 0xFF, 0xFF],
        vec![0x62],
        vec![0xFF],
        vec![0xFF, 0xFF, 0x00],
    ];
    let entries: Vec<(&[u8], Encoding, &[u8])> = all
        .iter()
        .map(|k| (k.as_slice(), Encoding::Raw, &b"v"[..]))
        .collect();
    kv.put_many(entries).unwrap();
    let r = |prefix: &[u8]| KeyRange {
        prefix: Some(prefix.to_vec()),
        ..Default::default()
    };
    assert_eq!(keys(&mut kv, &r(&[0x61, 0xFF]), 1), all[2..5].to_vec());
    assert_eq!(keys(&mut kv, &r(&[0xFF]), 2), all[6..8].to_vec());
    assert_eq!(keys(&mut kv, &KeyRange::default(), 3), all);
    let rev = KeyRange {
        reverse: true,
        lt: Some(vec![0x62]),
        ..Default::default()
    };
    let mut want = all[..5].to_vec();
    want.reverse();
    assert_eq!(keys(&mut kv, &rev, 2), want);
}

#[test]
fn put_many_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    kv.put(b"keep", b"1").unwrap();
    let path = dir.path().join("kv.db");
    // A trigger makes the 3rd row of the batch fail: nothing of the batch may remain.
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "CREATE TRIGGER no_bad BEFORE INSERT ON kv WHEN NEW.key = x'626164'
         BEGIN SELECT RAISE(ABORT, 'bad key'); END;",
    )
    .unwrap();
    let batch: Vec<(&[u8], Encoding, &[u8])> = vec![
        (b"x", Encoding::Raw, b"1"),
        (b"y", Encoding::Raw, b"2"),
        (b"bad", Encoding::Raw, b"3"),
    ];
    assert!(kv.put_many(batch).is_err());
    assert_eq!(kv.len().unwrap(), 1);
}

#[test]
fn files_stream_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    let src = dir.path().join("src.bin");
    let mut data: Vec<u8> = (0..(3 * STREAM_CHUNK + 123))
        .map(|i| (i * 7) as u8)
        .collect();
    data[0] = 0x89;
    data[1] = 0x4B;
    std::fs::write(&src, &data).unwrap();
    assert_eq!(kv.put_file(b"f", &src).unwrap(), data.len() as u64);
    assert_eq!(kv.get(b"f").unwrap().unwrap().payload, data);
    let mut out = Vec::new();
    let n = kv.sibling().unwrap().get_to_writer(b"f", &mut out).unwrap();
    assert_eq!(n, Some(data.len() as u64));
    assert_eq!(out, data);
    assert_eq!(
        kv.sibling()
            .unwrap()
            .get_to_writer(b"none", &mut out)
            .unwrap(),
        None
    );
    // A source shorter than announced stores nothing.
    let e = kv.put_reader(b"g", &mut &data[..10], 20).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(!kv.has(b"g").unwrap());
}

#[test]
fn readonly_and_bad_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let bad = KvStore::open(
        &path,
        KvOptions {
            table: "kv; drop".into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidArgument);
    open(&dir).put(b"a", b"1").unwrap();
    let mut ro = KvStore::open(
        &path,
        KvOptions {
            readonly: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ro.get(b"a").unwrap().unwrap().payload, b"1");
    let e = ro.put(b"b", b"2").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(
        e.message.contains("readonly") && e.message.contains("\"b\""),
        "{e}"
    );
}

#[test]
fn held_read_snapshot_sees_commits_from_other_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let mut a = KvStore::open(&path, KvOptions::default()).unwrap();
    let mut b = KvStore::open(&path, KvOptions::default()).unwrap();
    a.put(b"k", b"one").unwrap();
    assert_eq!(b.get(b"k").unwrap().unwrap().payload, b"one");
    assert!(b.holds_read(), "a point read keeps its snapshot");
    // A commit by another connection, an insert, a delete and a putMany: each is seen by the
    // very next read of the connection that holds the snapshot.
    a.put(b"k", b"two").unwrap();
    assert_eq!(b.get(b"k").unwrap().unwrap().payload, b"two");
    a.put(b"new", b"x").unwrap();
    assert!(b.has(b"new").unwrap());
    a.delete(b"new").unwrap();
    assert!(b.get(b"new").unwrap().is_none());
    a.put_many([(&b"m1"[..], Encoding::Raw, &b"1"[..])])
        .unwrap();
    let mut seen = Vec::new();
    b.get_many_with([&b"m1"[..], b"k"], |v| {
        seen.push(v.map(|(_, p)| p.to_vec()))
    })
    .unwrap();
    assert_eq!(seen, vec![Some(b"1".to_vec()), Some(b"two".to_vec())]);
    // A TRUNCATE checkpoint of the other connection resets the WAL; reads stay right.
    b.release_read().unwrap();
    a.checkpoint().unwrap();
    a.put(b"k", b"three").unwrap();
    assert_eq!(b.get(b"k").unwrap().unwrap().payload, b"three");
    // The holder's own writes, scans, counts and batches work while it holds a snapshot.
    b.put(b"k", b"four").unwrap();
    assert!(!b.holds_read(), "a write ends the snapshot");
    assert_eq!(b.get(b"k").unwrap().unwrap().payload, b"four");
    b.put_many([(&b"m2"[..], Encoding::Raw, &b"2"[..])])
        .unwrap();
    b.get(b"k").unwrap();
    assert_eq!(b.len().unwrap(), 3);
    b.get(b"k").unwrap();
    assert_eq!(keys(&mut b, &KeyRange::default(), 10).len(), 3);
    b.get(b"k").unwrap();
    b.checkpoint().unwrap();
    b.get(b"k").unwrap();
    b.enable_cache(CacheOptions::default()).unwrap();
    b.put(b"c", b"cached").unwrap();
    assert_eq!(b.get(b"c").unwrap().unwrap().payload, b"cached");
    b.get(b"k").unwrap();
    b.flush_cache().unwrap();
    assert_eq!(a.get(b"c").unwrap().unwrap().payload, b"cached");
    b.get(b"k").unwrap();
    b.close().map_err(|e| e.1).unwrap();
    a.release_read().unwrap();
    assert!(!a.holds_read());
}

#[test]
fn a_rollback_journal_file_reads_without_a_held_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=DELETE;
             CREATE TABLE kv (key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL);
             INSERT INTO kv VALUES (x'6b', x'7631');",
        )
        .unwrap();
    }
    let ro = KvStore::open(
        &path,
        KvOptions {
            readonly: true,
            ..KvOptions::default()
        },
    )
    .unwrap();
    assert_eq!(ro.get(b"k").unwrap().unwrap().payload, b"v1");
    assert!(!ro.holds_read());
    assert!(!dir.path().join("plain.db-shm").exists(), "no -shm created");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE kv SET value = x'7632'", []).unwrap();
    assert_eq!(ro.get(b"k").unwrap().unwrap().payload, b"v2");
}

#[test]
fn batches_span_whole_row_groups_and_a_tail() {
    // put_many and cache flushes write 64 rows per statement and the rest one by one: sizes
    // on both sides of a group, repeated keys inside one group, and values that need a header.
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    let key = |i: usize| format!("k{i:04}").into_bytes();
    let value = |i: usize, round: u8| {
        let mut v = vec![round; i % 50];
        if i.is_multiple_of(3) {
            v.splice(0..0, [0x89, 0x4B]); // raw bytes that get a raw header
        }
        v
    };
    for n in [63, 64, 65, 200] {
        let ks: Vec<_> = (0..n).map(key).collect();
        let vs: Vec<_> = (0..n).map(|i| value(i, n as u8)).collect();
        let mut entries: Vec<_> = (0..n)
            .map(|i| (&ks[i][..], Encoding::Raw, &vs[i][..]))
            .collect();
        // A key written twice in one group: the later value wins.
        let again = b"later".to_vec();
        entries.insert(5, (&ks[1][..], Encoding::Utf8, &again[..]));
        entries.push((&ks[1][..], Encoding::Utf8, &again[..]));
        assert_eq!(kv.put_many(entries).unwrap(), n + 2);
        for i in 0..n {
            let want = if i == 1 {
                (Encoding::Utf8, again.clone())
            } else {
                (Encoding::Raw, vs[i].clone())
            };
            let got = kv.get(&ks[i]).unwrap().unwrap();
            assert_eq!((got.encoding, got.payload), want, "batch {n}, key {i}");
        }
    }
    kv.enable_cache(CacheOptions::default()).unwrap();
    for i in 0..130usize {
        if i.is_multiple_of(4) {
            assert!(kv.delete(&key(i)).unwrap());
        } else {
            kv.put_encoded(&key(i), Encoding::MsgPack, &[i as u8])
                .unwrap();
        }
    }
    assert_eq!(kv.flush_cache().unwrap(), 130);
    kv.disable_cache().unwrap();
    for i in 0..130usize {
        let got = kv.get(&key(i)).unwrap();
        if i.is_multiple_of(4) {
            assert_eq!(got, None);
        } else {
            assert_eq!(
                got.map(|v| (v.encoding, v.payload)),
                Some((Encoding::MsgPack, vec![i as u8]))
            );
        }
    }
    assert_eq!(kv.len().unwrap(), 200 - 130 / 4 - 1);
}

#[test]
fn point_reads_take_rows_other_tools_wrote() {
    // The held point-read statement reads columns itself: TEXT comes back as its bytes, a
    // number is a typed error that names the key, and an error leaves the statement usable.
    let dir = tempfile::tempdir().unwrap();
    let mut kv = open(&dir);
    kv.put(b"ok", b"v").unwrap();
    let c = rusqlite::Connection::open(dir.path().join("kv.db")).unwrap();
    c.execute_batch("INSERT INTO kv VALUES (x'74', 'text'), (x'6e', 42)")
        .unwrap();
    let t = kv.get(b"t").unwrap().unwrap();
    assert_eq!((t.encoding, t.payload), (Encoding::Raw, b"text".to_vec()));
    let e = kv.get(b"n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("\"n\""), "{e}");
    assert_eq!(kv.get(b"ok").unwrap().unwrap().payload, b"v");
    assert_eq!(kv.get(b"absent").unwrap(), None);
}
