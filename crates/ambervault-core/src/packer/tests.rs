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
