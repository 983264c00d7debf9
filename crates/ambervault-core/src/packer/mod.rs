//! DataPacker: the dtype grammar and the codecs that turn values into the bytes columns store
//! (docs/format.md, "Element encodings": little-endian numbers, zero-padded fixed sizes, vector
//! type bytes).
//!
//! ```
//! use ambervault_core::packer::{DataPacker, Value};
//! let p = DataPacker::new("str:8:utf8").unwrap();
//! let b = p.pack(&Value::Str("hi".into())).unwrap();
//! assert_eq!(b, b"hi\0\0\0\0\0\0");
//! assert_eq!(p.unpack(&b).unwrap(), Value::Str("hi".into()));
//! assert!(p.pack(&Value::Str("far too long".into())).is_err());
//! ```

pub(crate) mod doc;
pub(crate) mod dtype;
pub(crate) mod joined;
pub(crate) mod packed;
pub mod scalar;
pub(crate) mod text;
pub(crate) mod vector;

pub use dtype::{DType, Encoding, Scalar};
pub use joined::Joined;
pub use scalar::Num;
pub use vector::VectorValue;

use crate::error::{Error, Result};

/// A value to pack or an unpacked one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(Num),
    Bool(bool),
    Str(String),
    Bytes(Vec<u8>),
    /// A MessagePack / CBOR document (objects, arrays, numbers, strings, booleans, null).
    Doc(serde_json::Value),
    Vector(VectorValue),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Num(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Str(_) => "a string",
            Value::Bytes(_) => "bytes",
            Value::Doc(_) => "a document",
            Value::Vector(_) => "a vector",
        }
    }
}

/// Packs and unpacks values of one dtype.
#[derive(Clone)]
pub struct DataPacker {
    dtype: DType,
    spelled: String,
    schema: Option<std::sync::Arc<jsonschema::Validator>>,
}

impl std::fmt::Debug for DataPacker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DataPacker({})", self.spelled)
    }
}

impl DataPacker {
    pub fn new(dtype: &str) -> Result<DataPacker> {
        Ok(DataPacker {
            dtype: DType::parse(dtype)?,
            spelled: dtype.to_string(),
            schema: None,
        })
    }

    pub fn from_dtype(dtype: DType) -> DataPacker {
        DataPacker {
            spelled: dtype.to_string(),
            dtype,
            schema: None,
        }
    }

    /// A `msgpack` packer that rejects documents failing `schema` (a JSON Schema).
    pub fn with_json_schema(schema: &serde_json::Value) -> Result<DataPacker> {
        let v = jsonschema::validator_for(schema)
            .map_err(|e| Error::invalid(format!("invalid JSON Schema: {e}")))?;
        Ok(DataPacker {
            dtype: DType::MsgPack(None),
            spelled: "msgpack".into(),
            schema: Some(std::sync::Arc::new(v)),
        })
    }

    pub fn dtype(&self) -> &DType {
        &self.dtype
    }
    /// The dtype as given to `new`.
    pub fn dtype_str(&self) -> &str {
        &self.spelled
    }
    pub fn elem_size(&self) -> usize {
        self.dtype.elem_size()
    }
    pub fn is_var_size(&self) -> bool {
        self.dtype.is_var_size()
    }

    fn err(&self, why: impl std::fmt::Display) -> Error {
        Error::invalid(format!("dtype {}: {why}", self.spelled))
    }

    /// Encode one value, appending to `out`. On error `out` is left as it was.
    pub fn pack_into(&self, v: &Value, out: &mut Vec<u8>) -> Result<()> {
        let mark = out.len();
        let r = self.pack_raw(v, out);
        if r.is_err() {
            out.truncate(mark);
        }
        r
    }

    pub fn pack(&self, v: &Value) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.elem_size().max(16));
        self.pack_into(v, &mut out)?;
        Ok(out)
    }

    fn pack_raw(&self, v: &Value, out: &mut Vec<u8>) -> Result<()> {
        let mismatch = || self.err(format!("cannot pack {}", v.kind()));
        match &self.dtype {
            DType::Scalar(s) => {
                let n = match v {
                    Value::Num(n) => *n,
                    Value::Bool(b) => Num::Int(*b as i128),
                    Value::Doc(serde_json::Value::Number(n)) => doc::json_num(n),
                    Value::Doc(serde_json::Value::Bool(b)) => Num::Int(*b as i128),
                    _ => return Err(mismatch()),
                };
                scalar::write(*s, n, out).map_err(|e| e.context(format!("dtype {}", self.spelled)))
            }
            DType::Bytes(size) => {
                let b: &[u8] = match v {
                    Value::Bytes(b) => b,
                    _ => return Err(mismatch()),
                };
                self.padded(out, b, *size)
            }
            DType::Str { size, encoding } => {
                let s = match v {
                    Value::Str(s) => s,
                    Value::Doc(serde_json::Value::String(s)) => s,
                    _ => return Err(mismatch()),
                };
                let enc = text::encode(s, *encoding).map_err(|w| self.err(w))?;
                self.padded(out, &enc, *size)
            }
            DType::MsgPack(size) | DType::Cbor(size) => {
                let d = doc::from_value(v).ok_or_else(mismatch)?;
                if let Some(schema) = &self.schema {
                    if let Some(e) = schema.iter_errors(&d).next() {
                        let path = e.instance_path().to_string();
                        let path = if path.is_empty() {
                            "/".to_string()
                        } else {
                            path
                        };
                        return Err(self.err(format!("value fails the JSON Schema at {path}: {e}")));
                    }
                }
                let enc = if matches!(self.dtype, DType::MsgPack(_)) {
                    doc::to_msgpack(&d)
                } else {
                    doc::to_cbor(&d)
                }
                .map_err(|w| self.err(w))?;
                self.padded(out, &enc, *size)
            }
            DType::Vector { elem, shape } => vector::pack(*elem, shape.as_deref(), v, out)
                .map_err(|e| e.context(format!("dtype {}", self.spelled))),
        }
    }

    fn padded(&self, out: &mut Vec<u8>, b: &[u8], size: Option<usize>) -> Result<()> {
        out.extend_from_slice(b);
        if let Some(n) = size {
            if b.len() > n {
                return Err(self.err(format!("{} bytes do not fit in {n}", b.len())));
            }
            out.resize(out.len() + n - b.len(), 0);
        }
        Ok(())
    }

    /// Decode one element: exactly `elem_size` bytes for fixed dtypes, the whole slice otherwise.
    pub fn unpack(&self, b: &[u8]) -> Result<Value> {
        let b = self.one(b)?;
        let corrupt = |w: String| Error::corrupt(format!("dtype {}: {w}", self.spelled));
        Ok(match &self.dtype {
            DType::Scalar(Scalar::Bool) => Value::Bool(b[0] != 0),
            DType::Scalar(s) => Value::Num(scalar::read(*s, b)),
            DType::Bytes(size) => Value::Bytes(trim(b, size.is_some()).to_vec()),
            DType::Str { size, encoding } => Value::Str(
                text::decode(trim_text(b, size.is_some(), *encoding), *encoding)
                    .map_err(corrupt)?,
            ),
            DType::MsgPack(_) => Value::Doc(doc::from_msgpack(b).map_err(corrupt)?),
            DType::Cbor(_) => Value::Doc(doc::from_cbor(b).map_err(corrupt)?),
            DType::Vector { elem, shape } => {
                Value::Vector(vector::unpack(*elem, shape.as_deref(), b).map_err(corrupt)?)
            }
        })
    }

    /// Pack many values back to back; also returns the end offset of each (for var-size dtypes).
    pub fn pack_many(&self, values: &[Value]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut out = Vec::with_capacity(values.len() * self.elem_size().max(8));
        let mut ends = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            self.pack_into(v, &mut out)
                .map_err(|e| e.context(format!("value {i}")))?;
            ends.push(out.len());
        }
        Ok((out, ends))
    }

    /// Unpack `count` fixed-size elements starting at `offset`.
    pub fn unpack_count(&self, b: &[u8], offset: usize, count: usize) -> Result<Vec<Value>> {
        let es = self.elem_size();
        if es == 0 {
            return Err(self.err("a variable-size dtype needs offsets, not a count"));
        }
        let need = count.checked_mul(es).and_then(|n| n.checked_add(offset));
        if need.is_none_or(|n| n > b.len()) {
            return Err(self.err(format!(
                "{count} elements of {es} bytes from offset {offset} run past the {} bytes given",
                b.len()
            )));
        }
        (0..count)
            .map(|i| self.unpack(&b[offset + i * es..offset + (i + 1) * es]))
            .collect()
    }

    /// Unpack the elements delimited by `offsets` (each element spans `offsets[i]..offsets[i+1]`,
    /// so n elements need n+1 offsets).
    pub fn unpack_offsets(&self, b: &[u8], offsets: &[usize]) -> Result<Vec<Value>> {
        offsets
            .windows(2)
            .enumerate()
            .map(|(i, w)| self.unpack(self.element(b, i, w)?))
            .collect()
    }

    /// The bytes of one `bytes` element, padding dropped: what [`unpack`](Self::unpack) gives
    /// as `Value::Bytes`, without a copy. Other dtypes are an `InvalidArgument`.
    pub fn unpack_bytes<'a>(&self, b: &'a [u8]) -> Result<&'a [u8]> {
        let b = self.one(b)?;
        match self.dtype {
            DType::Bytes(size) => Ok(trim(b, size.is_some())),
            _ => Err(self.err("not a bytes dtype")),
        }
    }

    /// One element's bytes: all of `b` for variable-size dtypes, else the first `elem_size`
    /// (an error when `b` is shorter).
    fn one<'a>(&self, b: &'a [u8]) -> Result<&'a [u8]> {
        let es = self.elem_size();
        if es != 0 && b.len() < es {
            return Err(self.err(format!(
                "{} bytes are fewer than the {es} of one element",
                b.len()
            )));
        }
        Ok(if es != 0 { &b[..es] } else { b })
    }

    /// Element `i` of `b`, delimited by the offset pair `w`; an error when it falls outside `b`.
    pub(crate) fn element<'a>(&self, b: &'a [u8], i: usize, w: &[usize]) -> Result<&'a [u8]> {
        if w[0] > w[1] || w[1] > b.len() {
            return Err(self.err(format!(
                "offsets {}..{} of element {i} are outside the {} bytes given",
                w[0],
                w[1],
                b.len()
            )));
        }
        Ok(&b[w[0]..w[1]])
    }
}

/// Fixed-size bytes are zero padded; the padding is dropped on read (docs/format.md,
/// "Element encodings").
fn trim(b: &[u8], fixed: bool) -> &[u8] {
    if !fixed {
        return b;
    }
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |p| p + 1);
    &b[..end]
}

/// Like `trim`, but UTF-16 padding is removed in whole code units.
fn trim_text(b: &[u8], fixed: bool, enc: Encoding) -> &[u8] {
    if !fixed {
        return b;
    }
    match enc {
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let mut end = b.len() & !1;
            while end >= 2 && b[end - 1] == 0 && b[end - 2] == 0 {
                end -= 2;
            }
            &b[..end]
        }
        _ => trim(b, true),
    }
}

#[cfg(test)]
mod tests;
