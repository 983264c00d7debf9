//! DataPacker bindings: batches of JS values of one kind (chosen by the TS layer) packed into one
//! buffer plus end offsets, and back. Conversion only; every rule lives in the core packer.

use crate::errors::IntoNapi;
use crate::handover::CopiedBuffer;
use ambervault_core::packer::{scalar, DType, DataPacker, Num, Scalar, Value, VectorValue};
use ambervault_core::Error;
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Packed elements: `bytes` and the exclusive end of each element in it.
#[napi(object)]
pub struct Packed {
    pub bytes: Buffer,
    pub ends: Uint32Array,
}

/// Which JS representation a dtype's values use (the TS layer dispatches on it).
pub fn value_kind(d: &DType) -> &'static str {
    match d {
        DType::Scalar(Scalar::Bool) => "bool",
        DType::Scalar(Scalar::I64 | Scalar::U64) => "int64",
        DType::Scalar(_) => "number",
        DType::Bytes(_) => "bytes",
        DType::Str { .. } => "str",
        // Documents are encoded in JS (src/msgpack.ts) and checked by the core.
        DType::MsgPack(_) => "msgpack",
        DType::Cbor(_) => "doc",
        DType::Vector { .. } => "vector",
    }
}

pub fn to_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v)
        .map_err(|_| {
            Error::invalid(format!(
                "{what}: {v} bytes is more than one batch can hold (4 GiB)"
            ))
        })
        .napi()
}

fn packed(p: &DataPacker, values: &[Value]) -> Result<Packed> {
    to_packed(p, p.pack_many(values).napi()?)
}

fn to_packed(p: &DataPacker, (bytes, ends): (Vec<u8>, Vec<usize>)) -> Result<Packed> {
    let ends = ends
        .into_iter()
        .map(|e| to_u32(e, p.dtype_str()))
        .collect::<Result<Vec<u32>>>()?;
    Ok(Packed {
        bytes: bytes.into(),
        ends: Uint32Array::new(ends),
    })
}

fn bigint_to_i128(b: &BigInt) -> Result<i128> {
    let (neg, v, lossless) = b.get_u128();
    if !lossless || v > i128::MAX as u128 {
        return Err(Error::invalid("BigInt does not fit 64 bits")).napi();
    }
    Ok(if neg { -(v as i128) } else { v as i128 })
}

pub fn vector_elem(name: &str) -> Result<Scalar> {
    Scalar::parse(name)
        .filter(|s| s.vector_code().is_some())
        .ok_or_else(|| Error::invalid(format!("unknown vector element type {name}")))
        .napi()
}

/// Values to pack, one representation per call.
pub enum Batch {
    Numbers(Vec<f64>),
    BigInts(Vec<BigInt>),
    Bools(Vec<bool>),
}

pub fn batch_values(b: Batch) -> Result<Vec<Value>> {
    Ok(match b {
        // As they are (-0 included): integer dtypes take whole floats up to 2^53 exactly.
        Batch::Numbers(v) => v.into_iter().map(|f| Value::Num(Num::Float(f))).collect(),
        Batch::BigInts(v) => v
            .iter()
            .map(|b| Ok(Value::Num(Num::Int(bigint_to_i128(b)?))))
            .collect::<Result<_>>()?,
        Batch::Bools(v) => v.into_iter().map(Value::Bool).collect(),
    })
}

/// Vectors given as typed arrays: the element type name and raw bytes of each (1-D).
pub fn vector_values(elems: Vec<String>, raws: Vec<Buffer>) -> Result<Vec<Value>> {
    elems
        .iter()
        .zip(raws.iter())
        .map(|(e, r)| {
            let elem = vector_elem(e)?;
            Ok(Value::Vector(VectorValue {
                elem,
                shape: vec![r.len() / elem.size()],
                data: r.to_vec(),
            }))
        })
        .collect()
}

fn offsets_of(offsets: &[u32]) -> Result<Vec<usize>> {
    if offsets.is_empty() {
        return Err(Error::invalid(
            "offsets need at least one entry (n elements take n + 1)",
        ))
        .napi();
    }
    Ok(offsets.iter().map(|o| *o as usize).collect())
}

/// An unpacked value as JS sees it.
pub type JsOut =
    Either5<f64, BigInt, bool, String, Either3<CopiedBuffer, serde_json::Value, TypedOut>>;

/// Numeric arrays out, typed by element.
pub type TypedOut = Either10<
    Float64Array,
    Float32Array,
    Int32Array,
    Int16Array,
    Int8Array,
    Uint8Array,
    Uint16Array,
    Uint32Array,
    BigInt64Array,
    BigUint64Array,
>;

/// `$make!(element type, TypedOut variant, typed array)` for scalar `$s`: the one list of which
/// JS typed array each numeric dtype comes back as (bool as bytes).
macro_rules! by_scalar {
    ($s:expr, $make:ident) => {
        match $s {
            Scalar::F64 => $make!(f64, A, Float64Array),
            Scalar::F32 => $make!(f32, B, Float32Array),
            Scalar::I32 => $make!(i32, C, Int32Array),
            Scalar::I16 => $make!(i16, D, Int16Array),
            Scalar::I8 => $make!(i8, E, Int8Array),
            Scalar::U8 | Scalar::Bool => $make!(u8, F, Uint8Array),
            Scalar::U16 => $make!(u16, G, Uint16Array),
            Scalar::U32 => $make!(u32, H, Uint32Array),
            Scalar::I64 => $make!(i64, I, BigInt64Array),
            Scalar::U64 => $make!(u64, J, BigUint64Array),
        }
    };
}
pub(crate) use by_scalar;

pub fn typed_from_le(s: Scalar, b: &[u8]) -> TypedOut {
    macro_rules! conv {
        ($t:ty, $variant:ident, $arr:ident) => {
            TypedOut::$variant($arr::new(
                b.chunks_exact(std::mem::size_of::<$t>())
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ))
        };
    }
    by_scalar!(s, conv)
}

fn nested(shape: &[usize], flat: &[f64]) -> serde_json::Value {
    if shape.len() <= 1 {
        return serde_json::Value::Array(flat.iter().map(|f| serde_json::json!(f)).collect());
    }
    let step = flat.len() / shape[0].max(1);
    serde_json::Value::Array(
        (0..shape[0])
            .map(|i| nested(&shape[1..], &flat[i * step..(i + 1) * step]))
            .collect(),
    )
}

pub fn value_to_js(v: Value, bigint: bool) -> Result<JsOut> {
    Ok(match v {
        Value::Num(Num::Float(f)) => JsOut::A(f),
        Value::Num(Num::Int(i)) if bigint => JsOut::B(if i < 0 {
            BigInt::from(i as i64)
        } else {
            BigInt::from(i as u64)
        }),
        Value::Num(n @ Num::Int(_)) => JsOut::A(scalar::exact_f64(n).napi()?),
        Value::Bool(b) => JsOut::C(b),
        Value::Str(s) => JsOut::D(s),
        Value::Bytes(b) => JsOut::E(Either3::A(CopiedBuffer(b))),
        Value::Doc(d) => JsOut::E(Either3::B(d)),
        Value::Vector(vv) if vv.shape.len() == 1 => {
            JsOut::E(Either3::C(typed_from_le(vv.elem, &vv.data)))
        }
        Value::Vector(vv) => {
            let flat: Vec<f64> = vv
                .data
                .chunks_exact(vv.elem.size())
                .map(|c| ambervault_core::packer::scalar::read(vv.elem, c).as_f64())
                .collect();
            JsOut::E(Either3::B(nested(&vv.shape, &flat)))
        }
    })
}

#[napi(js_name = "NativePacker")]
pub struct NativePacker {
    pub(crate) inner: DataPacker,
}

/// A numeric dtype as the single-number calls take it: plain functions over an External (see
/// `ColumnRef` in columns.rs for why not methods).
pub struct NumberPacker(Scalar);

/// One number into `out` (a Buffer of exactly the element's size): `DataPacker.pack(x)`
/// without building a batch, with the same range checks.
#[napi]
pub fn pack_number_into(
    p: &External<NumberPacker>,
    value: f64,
    mut out: BufferSlice,
) -> Result<()> {
    scalar::write_f64_into(p.0, value, &mut out).napi()
}

/// The number at `offset` of `bytes` (`DataPacker.unpack`); an integer past 2^53 is an error.
#[napi]
pub fn unpack_number(p: &External<NumberPacker>, bytes: &[u8], offset: u32) -> Result<f64> {
    let s = p.0;
    let at = offset as usize;
    let b = bytes
        .get(at..at + s.size())
        .ok_or_else(|| {
            Error::invalid(format!(
                "dtype {}: {} bytes at offset {at} run past the {} given",
                s.name(),
                s.size(),
                bytes.len()
            ))
        })
        .napi()?;
    scalar::exact_f64(scalar::read(s, b)).napi()
}

#[napi]
impl NativePacker {
    #[napi(constructor)]
    pub fn new(dtype: String) -> Result<Self> {
        Ok(NativePacker {
            inner: DataPacker::new(&dtype).napi()?,
        })
    }

    #[napi(factory)]
    pub fn with_json_schema(schema: serde_json::Value) -> Result<Self> {
        Ok(NativePacker {
            inner: DataPacker::with_json_schema(&schema).napi()?,
        })
    }

    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.inner.dtype_str().to_string()
    }
    #[napi(getter)]
    pub fn elem_size(&self) -> u32 {
        self.inner.elem_size() as u32
    }
    #[napi(getter)]
    pub fn is_var_size(&self) -> bool {
        self.inner.is_var_size()
    }
    /// "number" | "int64" | "bool" | "bytes" | "str" | "msgpack" | "doc" | "vector"
    #[napi(getter)]
    pub fn kind(&self) -> String {
        value_kind(self.inner.dtype()).to_string()
    }

    #[napi]
    pub fn pack_numbers(&self, values: Float64Array) -> Result<Packed> {
        packed(&self.inner, &batch_values(Batch::Numbers(values.to_vec()))?)
    }
    #[napi]
    pub fn pack_bigints(&self, values: Vec<BigInt>) -> Result<Packed> {
        packed(&self.inner, &batch_values(Batch::BigInts(values))?)
    }
    #[napi]
    pub fn pack_bools(&self, values: Vec<bool>) -> Result<Packed> {
        packed(&self.inner, &batch_values(Batch::Bools(values))?)
    }
    /// Strings joined as JS holds them (UTF-16), with each one's length in UTF-16 units: one
    /// string conversion for the whole batch.
    #[napi]
    pub fn pack_joined_strings(&self, joined: Utf16String, lens: &[u32]) -> Result<Packed> {
        to_packed(
            &self.inner,
            self.inner.pack_utf16_joined(&joined, lens).napi()?,
        )
    }
    /// Byte strings in one buffer cut at the exclusive `ends`.
    #[napi]
    pub fn pack_joined_buffers(&self, bytes: &[u8], ends: &[u32]) -> Result<Packed> {
        let ends: Vec<usize> = ends.iter().map(|e| *e as usize).collect();
        to_packed(
            &self.inner,
            self.inner.pack_joined_bytes(bytes, &ends).napi()?,
        )
    }
    /// Documents packed in JS as one MessagePack array (msgpack, cbor and vector dtypes);
    /// checked by the core.
    #[napi]
    pub fn pack_packed_array(&self, array: &[u8]) -> Result<Packed> {
        to_packed(&self.inner, self.inner.accept_packed_array(array).napi()?)
    }
    /// Typed-array vectors: element type names (`f32`, ...) and the raw bytes of each.
    #[napi]
    pub fn pack_vectors(&self, elems: Vec<String>, raws: Vec<Buffer>) -> Result<Packed> {
        packed(&self.inner, &vector_values(elems, raws)?)
    }

    /// This packer for `packNumberInto` / `unpackNumber` (numeric dtypes only).
    #[napi(ts_return_type = "ExternalObject<NumberPacker>")]
    pub fn numbers(&self) -> Result<External<NumberPacker>> {
        match self.inner.dtype() {
            DType::Scalar(s) if *s != Scalar::Bool => Ok(External::new(NumberPacker(*s))),
            _ => Err(Error::invalid(format!(
                "dtype {} is not numeric",
                self.inner.dtype_str()
            )))
            .napi(),
        }
    }

    /// Unpack the elements between consecutive `offsets` (n elements, n + 1 offsets).
    #[napi(ts_return_type = "Array<any>")]
    pub fn unpack_many(&self, bytes: &[u8], offsets: &[u32], bigint: bool) -> Result<Vec<JsOut>> {
        let offs = offsets_of(offsets)?;
        self.inner
            .unpack_offsets(bytes, &offs)
            .napi()?
            .into_iter()
            .map(|v| value_to_js(v, bigint))
            .collect()
    }
}
