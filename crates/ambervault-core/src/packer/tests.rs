use super::*;
use crate::ErrorKind;
use serde_json::json;

fn p(d: &str) -> DataPacker {
    DataPacker::new(d).unwrap()
}
fn int(i: i128) -> Value {
    Value::Num(Num::Int(i))
}

#[test]
fn numbers_round_trip_and_refuse_what_does_not_fit() {
    assert_eq!(p("u8").pack(&int(255)).unwrap(), vec![255]);
    for (d, v) in [
        ("u8", int(300)),
        ("u8", int(-1)),
        ("i8", int(128)),
        ("i32", Value::Num(Num::Float(1.5))),
        ("u64", int(-1)),
        ("i64", int(1 << 63)),
        ("bool", int(2)),
        ("f32", Value::Num(Num::Float(1e300))),
        ("f64", int((1 << 53) + 1)),
        ("i64", Value::Str("1".into())),
    ] {
        let e = p(d).pack(&v).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{d} {v:?}");
        assert!(e.message.contains(d), "{}", e.message);
    }
    let u = p("u64");
    let b = u.pack(&int(u64::MAX as i128)).unwrap();
    assert_eq!(u.unpack(&b).unwrap(), int(u64::MAX as i128));
    let f = p("f64");
    assert_eq!(
        f.unpack(&f.pack(&Value::Num(Num::Float(-0.25))).unwrap())
            .unwrap(),
        Value::Num(Num::Float(-0.25))
    );
    assert_eq!(p("bool").unpack(&[1]).unwrap(), Value::Bool(true));
}

#[test]
fn strings_in_five_encodings() {
    for enc in ["utf8", "utf16le", "utf16be", "latin1"] {
        let pk = p(&format!("str:12:{enc}"));
        let b = pk.pack(&Value::Str("héllo".into())).unwrap();
        assert_eq!(b.len(), 12);
        assert_eq!(pk.unpack(&b).unwrap(), Value::Str("héllo".into()), "{enc}");
    }
    assert_eq!(
        p("str:utf16be").pack(&Value::Str("A".into())).unwrap(),
        vec![0, 0x41]
    );
    assert_eq!(
        p("str:ascii")
            .pack(&Value::Str("é".into()))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        p("str:latin1")
            .pack(&Value::Str("€".into()))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    let e = p("str:3").pack(&Value::Str("abcd".into())).unwrap_err();
    assert!(e.message.contains("str:3"), "{}", e.message);
    assert_eq!(
        p("str").unpack(&[0xff]).unwrap_err().kind,
        ErrorKind::Corrupt
    );
}

#[test]
fn documents_and_bytes() {
    let doc = json!({"a": 1, "b": [1.5, "x", null, true]});
    for d in ["msgpack", "msgpack:64", "cbor", "cbor:64"] {
        let pk = p(d);
        let b = pk.pack(&Value::Doc(doc.clone())).unwrap();
        assert_eq!(pk.unpack(&b).unwrap(), Value::Doc(doc.clone()), "{d}");
    }
    // msgpack of {"a": 1} is what Python's msgpack writes: fixmap, fixstr, positive fixint.
    assert_eq!(
        p("msgpack").pack(&Value::Doc(json!({"a": 1}))).unwrap(),
        vec![0x81, 0xa1, b'a', 0x01]
    );
    assert_eq!(
        p("msgpack:2").pack(&Value::Doc(doc)).unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    let b = p("bytes:4");
    assert_eq!(b.pack(&Value::Bytes(vec![1, 2])).unwrap(), vec![1, 2, 0, 0]);
    assert_eq!(b.unpack(&[1, 2, 0, 0]).unwrap(), Value::Bytes(vec![1, 2]));
    assert!(b.pack(&Value::Bytes(vec![0; 5])).is_err());
}

#[test]
fn json_schema_errors_name_the_path() {
    let s = DataPacker::with_json_schema(&json!({
        "type": "object",
        "properties": {"lr": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["lr"]
    }))
    .unwrap();
    s.pack(&Value::Doc(json!({"lr": 0.1, "tags": ["a"]})))
        .unwrap();
    let e = s
        .pack(&Value::Doc(json!({"lr": 0.1, "tags": ["a", 3]})))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("/tags/1"), "{}", e.message);
    assert!(DataPacker::with_json_schema(&json!({"type": 5})).is_err());
}

#[test]
fn vectors_fixed_and_free() {
    let pk = p("vec:f32:2:2");
    let v = Value::Doc(json!([[1.0, 2.0], [3.0, 4.0]]));
    let b = pk.pack(&v).unwrap();
    assert_eq!(b.len(), 17);
    assert_eq!(b[0], 0x01);
    let back = pk.unpack(&b).unwrap();
    let Value::Vector(vv) = back else { panic!() };
    assert_eq!(vv.shape, vec![2, 2]);
    assert!(pk.pack(&Value::Doc(json!([1.0, 2.0, 3.0]))).is_err());
    let free = p("vec:i64");
    let b = free.pack(&Value::Doc(json!([[1, 2, 3]]))).unwrap();
    assert_eq!(&b[..6], &[0x04, 2, 1, 0, 0, 0]);
    let Value::Vector(vv) = free.unpack(&b).unwrap() else {
        panic!()
    };
    assert_eq!(vv.shape, vec![1, 3]);
    assert_eq!(
        free.pack(&Value::Doc(json!([[1], [2, 3]])))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        p("vec:u8")
            .pack(&Value::Doc(json!([256])))
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
}

#[test]
fn many() {
    let pk = p("str");
    let (b, ends) = pk
        .pack_many(&[
            Value::Str("ab".into()),
            Value::Str("".into()),
            Value::Str("c".into()),
        ])
        .unwrap();
    let mut offs = vec![0];
    offs.extend(ends);
    assert_eq!(
        pk.unpack_offsets(&b, &offs).unwrap()[2],
        Value::Str("c".into())
    );
    let e = p("i32").pack_many(&[int(1), int(1 << 40)]).unwrap_err();
    assert!(e.message.contains("value 1"), "{}", e.message);
    let i = p("i32");
    let (b, _) = i.pack_many(&[int(1), int(-2)]).unwrap();
    assert_eq!(i.unpack_count(&b, 4, 1).unwrap(), vec![int(-2)]);
    assert!(i.unpack_count(&b, 4, 2).is_err());
}

fn docs() -> Vec<Value> {
    [
        json!({"a": 1, "b": [1, 2.5, "x"], "c": {"d": null}}),
        json!(null),
        json!("text"),
        json!(-42),
        json!(70000),
        json!(-3_000_000_000i64),
        json!(18_000_000_000_000_000_000u64),
        json!([true, false, 0.125]),
        json!("é".repeat(40)),
    ]
    .into_iter()
    .map(Value::Doc)
    .collect()
}

/// One MessagePack array header for `n` documents.
fn array_of(n: usize, body: &[u8]) -> Vec<u8> {
    let mut a = if n < 16 {
        vec![0x90 | n as u8]
    } else {
        let mut h = vec![0xdc];
        h.extend_from_slice(&(n as u16).to_be_bytes());
        h
    };
    a.extend_from_slice(body);
    a
}

#[test]
fn packed_documents_are_checked_and_stored_as_single_packing_stores_them() {
    for d in ["msgpack", "msgpack:96"] {
        let pk = p(d);
        let vals = docs();
        let (want, want_ends) = pk.pack_many(&vals).unwrap();
        // Back to back, cut at their ends, and as one array: the same elements.
        let (raw, raw_ends) = p("msgpack").pack_many(&vals).unwrap();
        assert_eq!(
            pk.accept_packed(&raw, &raw_ends).unwrap(),
            (want.clone(), want_ends.clone()),
            "{d}"
        );
        assert_eq!(
            pk.accept_packed_array(&array_of(vals.len(), &raw)).unwrap(),
            (want, want_ends),
            "{d}"
        );
    }
    // Other encoders' choices (map16 / str16 headers, float32, bin) come out in the canonical
    // form; a float stays a float, even an integral one.
    let loose = [
        0xde, 0x00, 0x02, // map16 of 2
        0xda, 0x00, 0x01, b'a', // str16 "a"
        0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0, // float64 5.0
        0xa1, b'b', // "b"
        0xdc, 0x00, 0x03, // array16 of 3
        0xca, 0x3f, 0xc0, 0, 0, // float32 1.5
        0xd1, 0xff, 0xf0, // int16 -16
        0xc4, 0x02, 7, 200, // bin8 [7, 200]
    ];
    let want = p("msgpack")
        .pack(&Value::Doc(json!({"a": 5.0, "b": [1.5, -16, [7, 200]]})))
        .unwrap();
    let (got, ends) = p("msgpack")
        .accept_packed_array(&array_of(1, &loose))
        .unwrap();
    assert_eq!((got, ends), (want.clone(), vec![want.len()]));
    // Padded for msgpack:N; a document longer than N is refused.
    let (got, _) = p("msgpack:40").accept_packed(&want, &[want.len()]).unwrap();
    assert_eq!(got.len(), 40);
    assert_eq!(
        p("msgpack:40").unpack(&got).unwrap(),
        Value::Doc(json!({"a": 5.0, "b": [1.5, -16, [7, 200]]}))
    );
    let e = p("msgpack:4")
        .accept_packed(&want, &[want.len()])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn bad_packed_documents_are_invalid_arguments() {
    let bad: [(&str, Vec<u8>); 9] = [
        ("truncated", array_of(1, &[0x92, 0x01])),
        ("trailing", [array_of(1, &[0x01]), vec![0x02]].concat()),
        ("extension", array_of(1, &[0xd4, 0x00, 0x00])),
        ("date", array_of(1, &[0xd6, 0xff, 0, 0, 0, 1])),
        ("reserved", array_of(1, &[0xc1])),
        ("utf8", array_of(1, &[0xa2, 0xc3, 0x28])),
        ("key", array_of(1, &[0x81, 0x01, 0x02])),
        ("not an array", vec![0x81, 0xa1, b'a', 0x01]),
        ("huge count", vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ];
    for (what, b) in bad {
        let e = p("msgpack").accept_packed_array(&b).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{what}: {e}");
    }
    let deep = [vec![0x91; 600], vec![0x01]].concat();
    assert!(p("msgpack")
        .accept_packed_array(&array_of(1, &deep))
        .is_err());
    // Ends that cut a document, or run past the bytes.
    let e = p("msgpack")
        .accept_packed(&[0x92, 0x01, 0x02, 0x03], &[2, 4])
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(p("msgpack").accept_packed(&[0x01], &[2]).is_err());
    // Only dtypes that take documents take packed documents; a schema still applies.
    assert!(p("str").accept_packed(&[0xc0], &[1]).is_err());
    assert!(p("bytes").accept_packed(&[0x01], &[1]).is_err());
    let s = DataPacker::with_json_schema(&json!({"type": "object", "required": ["a"]})).unwrap();
    let ok = p("msgpack").pack(&Value::Doc(json!({"a": 1}))).unwrap();
    assert!(s.accept_packed(&ok, &[ok.len()]).is_ok());
    let e = s.accept_packed(&[0x80], &[1]).unwrap_err();
    assert!(e.message.contains("JSON Schema"), "{e}");
}

#[test]
fn joined_strings_and_bytes_pack_like_single_values() {
    let words = ["", "abc", "héllo", "日本語", "😀x", "a\u{0}b"];
    let units: Vec<u16> = words.iter().flat_map(|w| w.encode_utf16()).collect();
    let lens: Vec<u32> = words
        .iter()
        .map(|w| w.encode_utf16().count() as u32)
        .collect();
    let values: Vec<Value> = words.iter().map(|w| Value::Str(w.to_string())).collect();
    for d in [
        "str",
        "str:utf8",
        "str:16",
        "str:utf16le",
        "str:12:utf16be",
        "str:latin1",
    ] {
        let pk = p(d);
        let single = pk.pack_many(&values);
        let joined = pk.pack_utf16_joined(&units, &lens);
        match (single, joined) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{d}"),
            (Err(a), Err(b)) => assert_eq!(
                (a.kind, b.kind),
                (ErrorKind::InvalidArgument, ErrorKind::InvalidArgument),
                "{d}"
            ),
            (a, b) => panic!("{d}: single {a:?} vs joined {b:?}"),
        }
    }
    // Too long for str:N; lengths past the units; a lone surrogate becomes U+FFFD.
    assert_eq!(
        p("str:4")
            .pack_utf16_joined(&units, &lens)
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    assert!(p("str").pack_utf16_joined(&units, &[999]).is_err());
    let (b, _) = p("str")
        .pack_utf16_joined(&[0x61, 0xd800, 0x62], &[3])
        .unwrap();
    assert_eq!(b, "a\u{fffd}b".as_bytes());

    let bufs: [&[u8]; 4] = [b"", b"\x00\x01", b"abc", &[0xff; 5]];
    let joined: Vec<u8> = bufs.concat();
    let ends: Vec<usize> = bufs
        .iter()
        .scan(0, |a, b| {
            *a += b.len();
            Some(*a)
        })
        .collect();
    let values: Vec<Value> = bufs.iter().map(|b| Value::Bytes(b.to_vec())).collect();
    for d in ["bytes", "bytes:5", "msgpack"] {
        assert_eq!(
            p(d).pack_many(&values).unwrap(),
            p(d).pack_joined_bytes(&joined, &ends).unwrap(),
            "{d}"
        );
    }
    assert_eq!(
        p("bytes:4")
            .pack_joined_bytes(&joined, &ends)
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    assert!(p("bytes").pack_joined_bytes(&joined, &[3, 2]).is_err());
}

#[test]
fn joined_unpacking_matches_single_values() {
    let words = ["", "abc", "héllo", "日本語", "😀x", "a\u{0}b", ""];
    for d in ["str", "str:utf8", "str:16", "bytes", "bytes:16"] {
        let pk = p(d);
        let values: Vec<Value> = words
            .iter()
            .map(|w| {
                if d.starts_with("str") {
                    Value::Str(w.to_string())
                } else {
                    Value::Bytes(w.as_bytes().to_vec())
                }
            })
            .collect();
        let (packed, ends) = pk.pack_many(&values).unwrap();
        let offsets: Vec<usize> = std::iter::once(0).chain(ends).collect();
        let singles = pk.unpack_offsets(&packed, &offsets).unwrap();
        let (joined, ends) = match pk.unpack_joined(&packed, &offsets).unwrap() {
            Joined::Text { text, ends } => (text.into_bytes(), ends),
            Joined::Bytes { bytes, ends } => (bytes, ends),
        };
        let mut at = 0;
        for (k, v) in singles.iter().enumerate() {
            let part = joined[at..ends[k]].to_vec();
            at = ends[k];
            match v {
                Value::Str(s) => assert_eq!(s.as_bytes(), part, "{d} {k}"),
                Value::Bytes(b) => assert_eq!(*b, part, "{d} {k}"),
                other => panic!("{d}: {other:?}"),
            }
        }
        assert_eq!(at, joined.len(), "{d}");
    }
    // No elements; offsets outside the bytes; other dtypes.
    assert_eq!(
        p("str").unpack_joined(b"", &[0]).unwrap(),
        Joined::Text {
            text: String::new(),
            ends: vec![]
        }
    );
    assert!(p("bytes").unpack_joined(b"ab", &[0, 3]).is_err());
    assert_eq!(
        p("str:latin1")
            .unpack_joined(b"ab", &[0, 2])
            .unwrap_err()
            .kind,
        ErrorKind::InvalidArgument
    );
    // Text that is not UTF-8 is corruption, also when only the cut makes it so: "é" split
    // between two elements joins back into valid UTF-8, but neither element is.
    let e = "é".as_bytes();
    for (bytes, offsets) in [(&[0x61, 0xff][..], &[0, 2][..]), (e, &[0, 1, 2][..])] {
        assert_eq!(
            p("str").unpack_joined(bytes, offsets).unwrap_err().kind,
            ErrorKind::Corrupt
        );
    }
}

#[test]
fn unpack_bytes_borrows_what_unpack_copies() {
    for (d, stored) in [("bytes", &b"a\0b"[..]), ("bytes:5", &b"ab\0\0\0"[..])] {
        let pk = p(d);
        let Value::Bytes(copied) = pk.unpack(stored).unwrap() else {
            panic!("{d}")
        };
        assert_eq!(pk.unpack_bytes(stored).unwrap(), &copied[..], "{d}");
    }
    assert!(p("bytes:5").unpack_bytes(b"ab").is_err());
    assert_eq!(
        p("str").unpack_bytes(b"ab").unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
}

/// MessagePack float 64 of `f`, as src/msgpack.ts writes a JS number that is not a safe integer.
fn f64_doc(f: f64) -> Vec<u8> {
    [vec![0xcb], f.to_be_bytes().to_vec()].concat()
}

#[test]
fn packed_numbers_keep_the_type_they_came_with() {
    // Floats stay float 64 (-0, NaN, ±Infinity, integral ones past 2^53 included), integers
    // stay integers in their smallest form: the JS encoder chose (src/msgpack.ts).
    let safe = 9_007_199_254_740_991u64;
    let int64 = [vec![0xcf], safe.to_be_bytes().to_vec()].concat();
    for f in [
        -0.0,
        1.5,
        f64::NAN,
        f64::NEG_INFINITY,
        2f64.powi(53),
        1e20,
        3.0,
    ] {
        let doc = f64_doc(f);
        let (got, _) = p("msgpack").accept_packed(&doc, &[doc.len()]).unwrap();
        assert_eq!(got, doc, "{f}");
    }
    let (got, _) = p("msgpack").accept_packed(&int64, &[9]).unwrap();
    assert_eq!(got, int64);
    let small = [0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];
    assert_eq!(p("msgpack").accept_packed(&small, &[9]).unwrap().0, [0xfe]);

    // cbor: the same document in CBOR (integers as integers, floats as floats, -0 kept).
    let cbor = p("cbor");
    let (got, _) = cbor.accept_packed(&int64, &[9]).unwrap();
    assert_eq!(got, [vec![0x1b], safe.to_be_bytes().to_vec()].concat());
    let doc = f64_doc(-0.0);
    let (got, _) = cbor.accept_packed(&doc, &[9]).unwrap();
    assert_eq!(got, [0xf9, 0x80, 0x00]);
    let back = cbor.unpack(&got).unwrap();
    let Value::Doc(serde_json::Value::Number(n)) = back else {
        panic!("{back:?}")
    };
    assert!(n.as_f64().unwrap().is_sign_negative());
    let doc = f64_doc(1e20);
    let (got, _) = cbor.accept_packed(&doc, &[9]).unwrap();
    assert_eq!(cbor.unpack(&got).unwrap(), Value::Doc(json!(1e20)));
    // serde_json documents have no NaN: refused, never stored as null.
    let doc = f64_doc(f64::NAN);
    let e = cbor.accept_packed(&doc, &[9]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");

    // A vector given as an array: -0 stays -0.
    let arr = [vec![0x92], f64_doc(-0.0), vec![0x01]].concat();
    let (got, _) = p("vec:f64:2").accept_packed(&arr, &[arr.len()]).unwrap();
    assert_eq!(&got[1..9], &(-0.0f64).to_le_bytes());
    assert_eq!(&got[9..], &1.0f64.to_le_bytes());
}

#[test]
fn negative_zero_packs_as_itself() {
    for (d, want) in [
        ("f64", (-0.0f64).to_le_bytes().to_vec()),
        ("f32", (-0.0f32).to_le_bytes().to_vec()),
    ] {
        let b = p(d).pack(&Value::Num(Num::Float(-0.0))).unwrap();
        assert_eq!(b, want, "{d}");
        let mut many = Vec::new();
        scalar::write_f64s(p(d).dtype().scalar().unwrap(), &[-0.0], &mut many).unwrap();
        assert_eq!(many, want, "{d}");
    }
    // Integer dtypes take -0 as 0.
    assert_eq!(
        p("i32").pack(&Value::Num(Num::Float(-0.0))).unwrap(),
        [0; 4]
    );
}

#[test]
fn stored_64_bit_integers_convert_to_f64_only_within_2_53() {
    use super::scalar::exact_f64s;
    let edge = 1u64 << 53;
    assert_eq!(
        exact_f64s(&[0, edge, (-(edge as i64)) as u64], true).unwrap(),
        [0.0, 9007199254740992.0, -9007199254740992.0]
    );
    let e = exact_f64s(&[1, (edge + 1).wrapping_neg()], true).unwrap_err();
    assert!(
        e.message.contains("value -9007199254740993 is beyond 2^53"),
        "{}",
        e.message
    );
    assert!(exact_f64s(&[u64::MAX], false).is_err());
    // As i64 the same bits are -1, well within.
    assert_eq!(exact_f64s(&[u64::MAX], true).unwrap(), [-1.0]);
}
