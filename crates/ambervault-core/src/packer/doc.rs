//! Documents for `msgpack` / `cbor` dtypes: serde_json values through rmp-serde and ciborium.
//! Integers are written as integers and floats as floats (serde_json keeps which a number is),
//! which is what the Python package writes for `int` and `float`, so both sides read back the
//! same types. Which JS numbers are integers is decided by the JS encoder (src/msgpack.ts).

use super::scalar::Num;
use super::Value;

pub fn json_num(n: &serde_json::Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i as i128)
    } else if let Some(u) = n.as_u64() {
        Num::Int(u as i128)
    } else {
        Num::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// The document a value stands for (`None` for vectors, which are not documents).
pub fn from_value(v: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        Value::Doc(d) => d.clone(),
        Value::Bool(b) => J::Bool(*b),
        Value::Str(s) => J::String(s.clone()),
        Value::Num(Num::Int(i)) => match (i64::try_from(*i), u64::try_from(*i)) {
            (Ok(x), _) => J::from(x),
            (_, Ok(x)) => J::from(x),
            _ => return None,
        },
        Value::Num(Num::Float(f)) => J::Number(serde_json::Number::from_f64(*f)?),
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::Vector(_) => return None,
    })
}

pub fn to_msgpack(d: &serde_json::Value) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec(d).map_err(|e| e.to_string())
}

pub fn to_cbor(d: &serde_json::Value) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(d, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decode the first document in `b` (trailing zero padding of fixed sizes is ignored).
pub fn from_msgpack(b: &[u8]) -> Result<serde_json::Value, String> {
    let mut de = rmp_serde::Deserializer::from_read_ref(b);
    serde::Deserialize::deserialize(&mut de)
        .map_err(|e: rmp_serde::decode::Error| format!("bad MessagePack: {e}"))
}

pub fn from_cbor(b: &[u8]) -> Result<serde_json::Value, String> {
    ciborium::from_reader(b).map_err(|e| format!("bad CBOR: {e}"))
}
