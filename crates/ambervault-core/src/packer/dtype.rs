//! The dtype grammar shared by DataPacker and columns (docs/api.md, "DataPacker"):
//! `i64 | f64 | i32 | f32 | i16 | i8 | u8 | u16 | u32 | u64 | bool`, `bytes[:N]`,
//! `str[:N][:enc]`, `msgpack[:N]`, `cbor[:N]`, `vec:<elem>[:d1[:d2...]]`.
//!
//! The aliases the Python package accepts (`string`, `messagepack`, `vector`) parse too, so
//! columns written by it open here; they compare equal to their short forms.

use crate::error::{Error, Result};
use std::fmt;

/// A fixed-width little-endian number (the scalar dtypes and the elements of vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scalar {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
}

impl Scalar {
    pub fn parse(s: &str) -> Option<Scalar> {
        Some(match s {
            "i8" => Scalar::I8,
            "i16" => Scalar::I16,
            "i32" => Scalar::I32,
            "i64" => Scalar::I64,
            "u8" => Scalar::U8,
            "u16" => Scalar::U16,
            "u32" => Scalar::U32,
            "u64" => Scalar::U64,
            "f32" => Scalar::F32,
            "f64" => Scalar::F64,
            "bool" => Scalar::Bool,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Scalar::I8 => "i8",
            Scalar::I16 => "i16",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Bool => "bool",
        }
    }

    pub fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 | Scalar::Bool => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::I64 | Scalar::U64 | Scalar::F64 => 8,
        }
    }

    /// The vector type byte (docs/format.md, "Vectors"; KohakuVault's element type codes).
    /// Bool has none.
    pub fn vector_code(self) -> Option<u8> {
        Some(match self {
            Scalar::F32 => 0x01,
            Scalar::F64 => 0x02,
            Scalar::I32 => 0x03,
            Scalar::I64 => 0x04,
            Scalar::U8 => 0x05,
            Scalar::U16 => 0x06,
            Scalar::U32 => 0x07,
            Scalar::U64 => 0x08,
            Scalar::I8 => 0x09,
            Scalar::I16 => 0x0A,
            Scalar::Bool => return None,
        })
    }

    pub fn from_vector_code(code: u8) -> Option<Scalar> {
        Some(match code {
            0x01 => Scalar::F32,
            0x02 => Scalar::F64,
            0x03 => Scalar::I32,
            0x04 => Scalar::I64,
            0x05 => Scalar::U8,
            0x06 => Scalar::U16,
            0x07 => Scalar::U32,
            0x08 => Scalar::U64,
            0x09 => Scalar::I8,
            0x0A => Scalar::I16,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, Scalar::F32 | Scalar::F64)
    }
}

/// Text encodings of `str` columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Utf16Le,
    Utf16Be,
    Ascii,
    Latin1,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        Some(match s {
            "utf8" | "utf-8" => Encoding::Utf8,
            "utf16le" | "utf-16le" => Encoding::Utf16Le,
            "utf16be" | "utf-16be" => Encoding::Utf16Be,
            "ascii" => Encoding::Ascii,
            "latin1" | "latin-1" => Encoding::Latin1,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf8",
            Encoding::Utf16Le => "utf16le",
            Encoding::Utf16Be => "utf16be",
            Encoding::Ascii => "ascii",
            Encoding::Latin1 => "latin1",
        }
    }
}

/// A parsed dtype. `Option<usize>` sizes are `Some(N)` for fixed-size forms.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DType {
    Scalar(Scalar),
    Bytes(Option<usize>),
    Str {
        size: Option<usize>,
        encoding: Encoding,
    },
    MsgPack(Option<usize>),
    Cbor(Option<usize>),
    Vector {
        elem: Scalar,
        shape: Option<Vec<usize>>,
    },
}

/// Largest fixed element we accept: bigger elements belong in variable-size columns, and the
/// limit keeps `elem_size` arithmetic far from overflow.
pub const MAX_FIXED_SIZE: usize = 1 << 30;

fn bad(dtype: &str, why: impl fmt::Display) -> Error {
    Error::invalid(format!("bad dtype \"{dtype}\": {why}"))
}

fn parse_size(dtype: &str, s: &str) -> Result<usize> {
    // Digits only: "+5", " 5" or "5.0" are typos, not sizes.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(dtype, format!("\"{s}\" is not a size")));
    }
    let n: usize = s
        .parse()
        .map_err(|_| bad(dtype, format!("size {s} is too large")))?;
    if n == 0 {
        return Err(bad(dtype, "a size must be at least 1"));
    }
    if n > MAX_FIXED_SIZE {
        return Err(bad(
            dtype,
            format!("size {n} is above the limit of {MAX_FIXED_SIZE} bytes"),
        ));
    }
    Ok(n)
}

impl DType {
    pub fn parse(dtype: &str) -> Result<DType> {
        let parts: Vec<&str> = dtype.split(':').collect();
        let rest = &parts[1..];
        let one_size = |rest: &[&str]| -> Result<Option<usize>> {
            match rest {
                [] => Ok(None),
                [n] => Ok(Some(parse_size(dtype, n)?)),
                _ => Err(bad(dtype, "expected at most one size")),
            }
        };
        match parts[0] {
            "bytes" => Ok(DType::Bytes(one_size(rest)?)),
            "msgpack" | "messagepack" => Ok(DType::MsgPack(one_size(rest)?)),
            "cbor" => Ok(DType::Cbor(one_size(rest)?)),
            "str" | "string" => {
                let (size, enc) = match rest {
                    [] => (None, None),
                    [a] if a.bytes().all(|b| b.is_ascii_digit()) => {
                        (Some(parse_size(dtype, a)?), None)
                    }
                    [a] => (None, Some(*a)),
                    [n, e] => (Some(parse_size(dtype, n)?), Some(*e)),
                    _ => return Err(bad(dtype, "expected str[:N][:encoding]")),
                };
                let encoding = match enc {
                    None => Encoding::Utf8,
                    Some(e) => Encoding::parse(e).ok_or_else(|| {
                        bad(
                            dtype,
                            format!(
                                "unknown encoding \"{e}\" (utf8, utf16le, utf16be, ascii, latin1)"
                            ),
                        )
                    })?,
                };
                Ok(DType::Str { size, encoding })
            }
            "vec" | "vector" => {
                let Some((elem, dims)) = rest.split_first() else {
                    return Err(bad(dtype, "a vector needs an element type (vec:f32)"));
                };
                let elem = Scalar::parse(elem)
                    .filter(|s| *s != Scalar::Bool)
                    .ok_or_else(|| {
                        bad(
                            dtype,
                            format!("unknown vector element type \"{elem}\" (f32, f64, i8..i64, u8..u64)"),
                        )
                    })?;
                let shape = if dims.is_empty() {
                    None
                } else {
                    let shape = dims
                        .iter()
                        .map(|d| parse_size(dtype, d))
                        .collect::<Result<Vec<_>>>()?;
                    if shape.len() > 255 {
                        return Err(bad(dtype, "a vector has at most 255 dimensions"));
                    }
                    let count = shape
                        .iter()
                        .try_fold(1usize, |a, d| a.checked_mul(*d))
                        .and_then(|c| c.checked_mul(elem.size()))
                        .filter(|b| *b < MAX_FIXED_SIZE);
                    if count.is_none() {
                        return Err(bad(dtype, "the vector shape is too large"));
                    }
                    Some(shape)
                };
                Ok(DType::Vector { elem, shape })
            }
            other => {
                let s = Scalar::parse(other).ok_or_else(|| bad(dtype, "unknown type"))?;
                if !rest.is_empty() {
                    return Err(bad(dtype, format!("{other} takes no size")));
                }
                Ok(DType::Scalar(s))
            }
        }
    }

    /// Bytes per element, 0 for variable-size dtypes.
    pub fn elem_size(&self) -> usize {
        match self {
            DType::Scalar(s) => s.size(),
            DType::Bytes(n) | DType::MsgPack(n) | DType::Cbor(n) => n.unwrap_or(0),
            DType::Str { size, .. } => size.unwrap_or(0),
            DType::Vector { elem, shape } => match shape {
                Some(shape) => 1 + shape.iter().product::<usize>() * elem.size(),
                None => 0,
            },
        }
    }

    pub fn is_var_size(&self) -> bool {
        self.elem_size() == 0
    }

    /// The scalar type when this dtype is a plain number (the typed-array fast paths).
    pub fn scalar(&self) -> Option<Scalar> {
        match self {
            DType::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    /// The canonical spelling (`str:32:utf8`, `vec:f32:3:4`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sized = |f: &mut fmt::Formatter<'_>, base: &str, n: &Option<usize>| match n {
            Some(n) => write!(f, "{base}:{n}"),
            None => write!(f, "{base}"),
        };
        match self {
            DType::Scalar(s) => write!(f, "{}", s.name()),
            DType::Bytes(n) => sized(f, "bytes", n),
            DType::MsgPack(n) => sized(f, "msgpack", n),
            DType::Cbor(n) => sized(f, "cbor", n),
            DType::Str { size, encoding } => {
                sized(f, "str", size)?;
                write!(f, ":{}", encoding.name())
            }
            DType::Vector { elem, shape } => {
                write!(f, "vec:{}", elem.name())?;
                for d in shape.iter().flatten() {
                    write!(f, ":{d}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn parses_the_whole_grammar() {
        let cases = [
            ("i64", 8),
            ("bool", 1),
            ("u16", 2),
            ("bytes", 0),
            ("bytes:32", 32),
            ("str", 0),
            ("str:utf16be", 0),
            ("str:10", 10),
            ("str:10:latin1", 10),
            ("msgpack", 0),
            ("msgpack:64", 64),
            ("cbor:16", 16),
            ("vec:f32", 0),
            ("vec:f32:3", 13),
            ("vec:i16:2:3", 13),
        ];
        for (s, size) in cases {
            let d = DType::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(d.elem_size(), size, "{s}");
            assert_eq!(DType::parse(&d.to_string()).unwrap(), d, "{s} round trip");
        }
        assert_eq!(
            DType::parse("string:utf8").unwrap(),
            DType::parse("str").unwrap()
        );
        assert_eq!(DType::parse("str:utf8").unwrap().to_string(), "str:utf8");
    }

    #[test]
    fn rejects_bad_strings_with_the_dtype_in_the_message() {
        for s in [
            "",
            "q9",
            "i64:4",
            "bytes:0",
            "bytes:-1",
            "bytes:x",
            "str:10:klingon",
            "str:1:2:3",
            "vec",
            "vec:bool",
            "vec:f32:0",
            "vec:f32:a",
            "f64 ",
            "bytes:+4",
        ] {
            let e = DType::parse(s).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{s}");
            assert!(
                e.message.contains(&format!("\"{s}\"")),
                "{s}: {}",
                e.message
            );
        }
    }
}
