//! Numbers in and out of little-endian bytes, with range checks: 300 into `u8` or 1.5 into
//! `i32` is an error, never a wraparound or a truncation.

use super::dtype::Scalar;
use crate::error::{Error, Result};

/// A number as it arrives from a caller: integral (from an integer or a BigInt) or floating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn out_of_range(s: Scalar, v: Num) -> Error {
    let shown = match v {
        Num::Int(i) => i.to_string(),
        Num::Float(f) => f.to_string(),
    };
    Error::invalid(format!("{shown} does not fit dtype {}", s.name()))
}

/// The integer value of `v` for an integer dtype: floats must be whole and safe integers
/// (|f| <= 2^53): past that a float may already be a rounded value, so it needs a BigInt.
fn integral(s: Scalar, v: Num) -> Result<i128> {
    match v {
        Num::Int(i) => Ok(i),
        Num::Float(f)
            if f.is_finite() && f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 =>
        {
            Ok(f as i128)
        }
        Num::Float(_) => Err(out_of_range(s, v)),
    }
}

/// Append the little-endian encoding of `v` as `s`.
pub fn write(s: Scalar, v: Num, out: &mut Vec<u8>) -> Result<()> {
    macro_rules! int {
        ($t:ty) => {{
            let i = integral(s, v)?;
            let x = <$t>::try_from(i).map_err(|_| out_of_range(s, v))?;
            out.extend_from_slice(&x.to_le_bytes());
        }};
    }
    match s {
        Scalar::I8 => int!(i8),
        Scalar::I16 => int!(i16),
        Scalar::I32 => int!(i32),
        Scalar::I64 => int!(i64),
        Scalar::U8 => int!(u8),
        Scalar::U16 => int!(u16),
        Scalar::U32 => int!(u32),
        Scalar::U64 => int!(u64),
        Scalar::Bool => match integral(s, v)? {
            0 => out.push(0),
            1 => out.push(1),
            _ => return Err(out_of_range(s, v)),
        },
        Scalar::F64 => {
            if let Num::Int(i) = v {
                // Integers past 2^53 would silently round.
                if i.unsigned_abs() > (1u128 << 53) {
                    return Err(out_of_range(s, v));
                }
            }
            out.extend_from_slice(&v.as_f64().to_le_bytes())
        }
        Scalar::F32 => {
            let f = v.as_f64();
            if f.is_finite() && f.abs() > f32::MAX as f64 {
                return Err(out_of_range(s, v));
            }
            out.extend_from_slice(&(f as f32).to_le_bytes())
        }
    }
    Ok(())
}

/// Encode many numbers given as f64 (what a JS number is) as `s`, with the same range checks
/// as `write`, without building a value per element. On error `out` may hold a partial batch.
pub fn write_f64s(s: Scalar, values: &[f64], out: &mut Vec<u8>) -> Result<()> {
    out.reserve(values.len() * s.size());
    if s == Scalar::F64 {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        return Ok(());
    }
    for (i, &f) in values.iter().enumerate() {
        write(s, Num::Float(f), out).map_err(|e| e.context(format!("value {i}")))?;
    }
    Ok(())
}

/// The largest magnitude up to which every integer is exactly an f64 (a JS number).
pub const SAFE_INTEGER: i128 = 1 << 53;

/// `v` as an f64 with no rounding: an integer past 2^53 is an error (the caller reads it as a
/// 64-bit integer instead). Every reader that hands numbers to a float-only language uses this.
pub fn exact_f64(v: Num) -> Result<f64> {
    match v {
        Num::Float(f) => Ok(f),
        Num::Int(i) if i.abs() <= SAFE_INTEGER => Ok(i as f64),
        Num::Int(i) => Err(Error::invalid(format!(
            "value {i} is beyond 2^53 and would lose precision as a number; read it with {{ bigint: true }}"
        ))),
    }
}

/// Pack one number (given as an f64) as `s` into `out`, which is exactly `s.size()` bytes: the
/// single-value form of [`write_f64s`], with its checks and no allocation.
pub fn write_f64_into(s: Scalar, v: f64, out: &mut [u8]) -> Result<()> {
    if out.len() != s.size() {
        return Err(Error::invalid(format!(
            "dtype {} packs into {} bytes, not {}",
            s.name(),
            s.size(),
            out.len()
        )));
    }
    if s == Scalar::F64 {
        out.copy_from_slice(&v.to_le_bytes());
        return Ok(());
    }
    let mut b = Vec::with_capacity(8);
    write(s, Num::Float(v), &mut b)?;
    out.copy_from_slice(&b);
    Ok(())
}

/// Stored 64-bit integers (i64 bit patterns when `signed`, else u64) as exact f64s, or
/// `InvalidArgument` naming the first one beyond 2^53 (see [`exact_f64`]).
pub fn exact_f64s(raw: &[u64], signed: bool) -> Result<Vec<f64>> {
    raw.iter()
        .map(|&bits| {
            exact_f64(Num::Int(if signed {
                i128::from(bits as i64)
            } else {
                i128::from(bits)
            }))
        })
        .collect()
}

/// Read one `s` from the start of `b` (which holds at least `s.size()` bytes).
pub fn read(s: Scalar, b: &[u8]) -> Num {
    macro_rules! le {
        ($t:ty) => {
            <$t>::from_le_bytes(b[..std::mem::size_of::<$t>()].try_into().unwrap())
        };
    }
    match s {
        Scalar::I8 => Num::Int(le!(i8) as i128),
        Scalar::I16 => Num::Int(le!(i16) as i128),
        Scalar::I32 => Num::Int(le!(i32) as i128),
        Scalar::I64 => Num::Int(le!(i64) as i128),
        Scalar::U8 => Num::Int(le!(u8) as i128),
        Scalar::U16 => Num::Int(le!(u16) as i128),
        Scalar::U32 => Num::Int(le!(u32) as i128),
        Scalar::U64 => Num::Int(le!(u64) as i128),
        Scalar::Bool => Num::Int((b[0] != 0) as i128),
        Scalar::F32 => Num::Float(le!(f32) as f64),
        Scalar::F64 => Num::Float(le!(f64)),
    }
}
